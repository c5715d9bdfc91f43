"""Access and refresh tokens at rest: encrypted with Fernet under a key derived from CRM_DEDUP_SECRET_KEY.

A stolen store file then holds nothing that opens an amoCRM account; the key lives only in the service's
environment. HKDF (RFC 5869) turns any long secret into Fernet's 32-byte key, and binds it to this use,
so the same secret used elsewhere yields a different key.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from amocrm.errors import NeedsReinstall

_INFO = b"crm-dedup amocrm tokens v1"
MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class TokenSet:
    """What `/oauth2/access_token` answers, with the moment the access token expires (unix seconds)."""

    access_token: str
    refresh_token: str
    expires_at: float

    @classmethod
    def from_grant(cls, answer: dict[str, object], *, now: float | None = None) -> TokenSet:
        """From the token endpoint's JSON; refuses an answer without the two tokens or a sane lifetime."""
        access, refresh, expires = answer.get("access_token"), answer.get("refresh_token"), answer.get("expires_in")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise NeedsReinstall("the token endpoint answered without access_token / refresh_token")
        if isinstance(expires, bool) or not isinstance(expires, int | float) or not 0 < expires <= 10 * 365 * 86_400:
            raise NeedsReinstall(f"the token endpoint answered an unusable expires_in: {expires!r}")
        return cls(access, refresh, (time.time() if now is None else now) + float(expires))

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        return self.expires_at - (time.time() if now is None else now) <= seconds


class TokenCipher:
    """Encrypts a TokenSet to text for the store and back; a wrong key or tampered text is NeedsReinstall."""

    def __init__(self, secret_key: str) -> None:
        if len(secret_key) < MIN_SECRET_CHARS:
            raise ValueError(f"CRM_DEDUP_SECRET_KEY must be at least {MIN_SECRET_CHARS} characters")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, tokens: TokenSet) -> str:
        return self._fernet.encrypt(json.dumps(asdict(tokens)).encode()).decode()

    def decrypt(self, text: str) -> TokenSet:
        try:
            data = json.loads(self._fernet.decrypt(text.encode()))
            return TokenSet(str(data["access_token"]), str(data["refresh_token"]), float(data["expires_at"]))
        except (InvalidToken, ValueError, KeyError, TypeError) as exc:
            # the secret key changed (or the row was altered): the tokens are lost, a re-install recovers
            raise NeedsReinstall("stored tokens cannot be decrypted with CRM_DEDUP_SECRET_KEY") from exc
