"""The amoCRM stand-in (a real HTTP server on a free port) and an in-memory token source for the client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from amocrm.client import AmoClient
from amocrm.oauth import OAuthApp, exchange_code, refresh_tokens
from amocrm.ratelimit import TokenBucket
from amocrm.standin import AmoStandin
from amocrm.tokens import TokenSet

ACCOUNT = 29000000
CLIENT_ID = "test-client"
CLIENT_SECRET = "test-client-secret-0123456789abcdef"
REDIRECT = "http://127.0.0.1:9/amocrm/oauth/callback"


@pytest.fixture
def standin() -> Iterator[AmoStandin]:
    """A stand-in with one account of 600 generated contacts and 120 companies, 7 requests/s."""
    with AmoStandin(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, redirect_uri=REDIRECT) as s:
        s.seed(ACCOUNT, subdomain="acme", contacts=600, companies=120)
        yield s


class MemoryTokens:
    """A TokenSource keeping the pair in memory, refreshing through the real token endpoint."""

    def __init__(self, standin: AmoStandin, account: int = ACCOUNT) -> None:
        self.app = OAuthApp(CLIENT_ID, CLIENT_SECRET, REDIRECT)
        self.base = standin.url
        self.http = httpx.Client()
        self.tokens: TokenSet = exchange_code(self.http, self.base, self.app, standin.issue_code(account))
        self.refreshes = 0
        self._lock = threading.Lock()

    def access_token(self) -> str:
        return self.tokens.access_token

    def refresh(self, stale: str) -> str:
        with self._lock:
            if self.tokens.access_token == stale:
                self.refreshes += 1
                self.tokens = refresh_tokens(self.http, self.base, self.app, self.tokens.refresh_token)
            return self.tokens.access_token


def make_client(standin: AmoStandin, tokens: MemoryTokens, **kwargs: object) -> AmoClient:
    options: dict[str, object] = {"backoff_seconds": 0.02, "backoff_cap_seconds": 0.5} | kwargs
    return AmoClient(standin.url, tokens, TokenBucket(), **options)  # type: ignore[arg-type]
