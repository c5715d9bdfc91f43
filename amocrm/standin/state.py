"""The stand-in's shared pieces: API v4 constants, one account's data, what was seen, problem bodies."""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import Any

COLLECTIONS = ("contacts", "companies")
MAX_LIMIT = 250  # API v4: `limit` at most 250 per page
ACCESS_SECONDS = 86_400  # access token lifetime amoCRM documents (24 h)
CODE_SECONDS = 20 * 60  # authorization code lifetime (tutorials; UNVERIFIED)
DEFAULT_RATE = 7.0  # requests per second per account (docs/amocrm-notes.md, section 3)
WITH = {"contacts": {"leads", "customers", "catalog_elements", "companies"},
         "companies": {"leads", "customers", "contacts", "catalog_elements"}}
MAX_BODY = 2_000_000


@dataclass
class ApiRequest:
    """One request the stand-in answered: when, for which account, what, and the status it got."""

    at: float
    account_id: int | None
    method: str
    path: str
    query: str
    status: int
    body: Any = None


@dataclass
class Account:
    id: int
    subdomain: str
    name: str
    country: str
    records: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {c: {} for c in COLLECTIONS})
    deleted: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {c: {} for c in COLLECTIONS})
    tags: dict[str, int] = field(default_factory=dict)
    notes: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)  # destination -> webhook
    recent: deque[float] = field(default_factory=deque)  # arrival times within the last second
    client_uuid: str = field(default_factory=lambda: secrets.token_hex(8))


@dataclass
class Delivery:
    """One webhook POST the stand-in made: destination, form body, the receiver's status (None: no answer)."""

    destination: str
    body: str
    status: int | None
    seconds: float


def problem(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"title": {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}.get(
        status, "Error"), "type": "https://httpstatus.es/" + str(status), "status": status, "detail": detail, **extra}


def to_int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default
