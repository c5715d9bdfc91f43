"""OAuth 2.0 with amoCRM: where an account's API lives, the code exchange and the refresh (single-use tokens).

The token endpoint is `POST https://{subdomain}.amocrm.ru/oauth2/access_token` with a JSON body
(docs/amocrm-notes.md, section 1 [K2][K3]). Every refresh returns a new refresh token and voids the old
one, so the new pair must be stored before it is used. CRM_DEDUP_AMOCRM_BASE_URL, when set, replaces the
account's host for every OAuth and API call (tests, the stand-in, a proxy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from amocrm.errors import AmoBadResponse, AmoUnavailable, NeedsReinstall
from amocrm.tokens import TokenSet

# The `referer` amoCRM sends to the redirect URI is the account's host. It decides where the client
# secret is sent next, so only amoCRM's own domains pass: anything else could be an attacker's host.
_ACCOUNT_HOST = re.compile(r"(?P<sub>[a-z0-9][a-z0-9-]{0,62})\.(?:amocrm\.ru|amocrm\.com|kommo\.com)")
_MAX_ANSWER_BYTES = 64_000
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


@dataclass(frozen=True)
class OAuthApp:
    """The integration as amoCRM knows it: id, secret and the redirect URI registered with them."""

    client_id: str
    client_secret: str
    redirect_uri: str


def account_host(referer: str) -> str:
    """`acme.amocrm.ru` (or with a scheme / path) -> `acme.amocrm.ru`; anything not amoCRM's -> ValueError."""
    host = referer.strip().lower()
    host = re.sub(r"^https?://", "", host).split("/", 1)[0]
    if len(host) > 100 or not _ACCOUNT_HOST.fullmatch(host):
        raise ValueError(f"referer {referer[:100]!r} is not an amoCRM account host (SUBDOMAIN.amocrm.ru)")
    return host


def api_base(host: str, override: str | None) -> str:
    """The base URL of an account's API: the override when configured, else https://{host}."""
    return override.rstrip("/") if override else f"https://{account_host(host)}"


def _grant(http: httpx.Client, base: str, body: dict[str, str]) -> TokenSet:
    try:
        answer = http.post(f"{base}/oauth2/access_token", json=body, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise AmoUnavailable(f"amoCRM token endpoint unreachable: {type(exc).__name__}") from exc
    if len(answer.content) > _MAX_ANSWER_BYTES:
        raise AmoBadResponse("the token endpoint's answer is too large", status=answer.status_code)
    if answer.status_code >= 500 or answer.status_code == 429:
        raise AmoUnavailable(f"amoCRM token endpoint answered {answer.status_code}", status=answer.status_code)
    if answer.status_code != 200:
        detail = ""
        try:
            parsed = answer.json()
            detail = str(parsed.get("hint") or parsed.get("detail") or "")[:200] if isinstance(parsed, dict) else ""
        except ValueError:
            pass
        raise NeedsReinstall(f"amoCRM refused the {body['grant_type']} grant ({answer.status_code}) {detail}".strip(),
                             status=answer.status_code)
    try:
        parsed = answer.json()
    except ValueError as exc:
        raise AmoBadResponse("the token endpoint did not answer JSON", status=200) from exc
    if not isinstance(parsed, dict):
        raise AmoBadResponse("the token endpoint did not answer a JSON object", status=200)
    return TokenSet.from_grant(parsed)


def exchange_code(http: httpx.Client, base: str, app: OAuthApp, code: str) -> TokenSet:
    """The install: the one-time code from the redirect -> the account's first token pair."""
    return _grant(http, base, {"client_id": app.client_id, "client_secret": app.client_secret,
                               "grant_type": "authorization_code", "code": code, "redirect_uri": app.redirect_uri})


def refresh_tokens(http: httpx.Client, base: str, app: OAuthApp, refresh_token: str) -> TokenSet:
    """A new pair for the refresh token (which is void from now on). Refused: NeedsReinstall."""
    return _grant(http, base, {"client_id": app.client_id, "client_secret": app.client_secret,
                               "grant_type": "refresh_token", "refresh_token": refresh_token,
                               "redirect_uri": app.redirect_uri})
