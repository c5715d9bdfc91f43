"""The amoCRM API v4 client of one connected account: rate-limited, retrying, bounded, refreshing once.

- Rate: every request waits for its account's token bucket (amocrm/ratelimit.py), below the documented 7/s.
- 429 and 5xx (and network errors): exponential backoff with jitter, `Retry-After` honoured up to the cap,
  at most `max_retries` retries, then AmoUnavailable. A 429 also holds off the account's other requests.
- 401: the tokens are refreshed once and the request repeated; a second 401 (or a refused refresh) is
  NeedsReinstall, never a loop.
- Paging follows `_links.next` (only its path and query: the host is always the account's base URL, so a
  forged link cannot send our token elsewhere); HTTP 204 is the end.
- Answers larger than `max_response_bytes` are refused; every call has a timeout.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from amocrm.errors import AmoBadResponse, AmoError, AmoUnavailable, NeedsReinstall
from amocrm.ratelimit import TokenBucket

logger = logging.getLogger(__name__)

Collection = Literal["contacts", "companies"]
PAGE_LIMIT = 250  # API v4's largest page
IDS_PER_REQUEST = 250  # `filter[id][]` values per list request (one page of them)
WRITE_BATCH = 50  # entities per write request (SDK README's advice)
TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_RESPONSE_BYTES = 25_000_000  # 250 records with every field and link are a few MB at most
# the events crm-dedup follows: its records' whole life (docs/amocrm-notes.md, section 4)
WEBHOOK_EVENTS = ("add_contact", "update_contact", "delete_contact", "restore_contact",
                  "add_company", "update_company", "delete_company", "restore_company")
# what the merge plan needs beside the record itself: its deals and (for a contact) its company
WITH: dict[Collection, tuple[str, ...]] = {"contacts": ("leads", "companies"), "companies": ("leads", "contacts")}


class TokenSource(Protocol):
    """Where the client gets its bearer token; implemented by the sync over the encrypted store."""

    def access_token(self) -> str:
        """The current access token (refreshed first when it is about to expire)."""

    def refresh(self, stale: str) -> str:
        """A fresh access token after `stale` got 401 (unless another thread refreshed already); NeedsReinstall
        when amoCRM refuses the refresh."""


@dataclass(frozen=True)
class Page:
    """One page of a list: its records, and the path+query of the next page (None: this was the last)."""

    items: list[dict[str, Any]]
    next: str | None


class AmoClient:
    """API v4 for one account at `base_url` (https://SUBDOMAIN.amocrm.ru, or CRM_DEDUP_AMOCRM_BASE_URL)."""

    def __init__(self, base_url: str, tokens: TokenSource, bucket: TokenBucket, *, http: httpx.Client | None = None,
                 max_retries: int = 10, backoff_seconds: float = 0.5, backoff_cap_seconds: float = 30.0,
                 max_response_bytes: int = MAX_RESPONSE_BYTES, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._tokens = tokens
        self._bucket = bucket
        self._own_http = http is None
        self._http = http or httpx.Client(timeout=TIMEOUT, follow_redirects=False)
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self.backoff_cap_seconds = backoff_cap_seconds
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.requests_made = 0
        self.retries = 0

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> AmoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the one request path -------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Sequence[tuple[str, str]] | None = None,
                body: Any = None) -> Any:
        """One API call with the rules above; the parsed JSON answer, or None for 204."""
        if not path.startswith("/api/v4/"):
            raise AmoBadResponse(f"refusing to call {path[:80]!r}: not an API v4 path")
        url = self.base_url + path
        token = self._tokens.access_token()
        refreshed = False
        attempt = 0
        while True:
            self._bucket.acquire()
            self.requests_made += 1
            try:
                status, headers, content = self._send(method, url, params, body, token)
            except httpx.TransportError as exc:
                status, headers, content = None, httpx.Headers(), b""
                problem = f"{type(exc).__name__}"
            else:
                problem = f"HTTP {status}"
            if status == 401:
                if refreshed:
                    raise NeedsReinstall(f"amoCRM refused a freshly refreshed token on {method} {path}", status=401)
                token = self._tokens.refresh(token)
                refreshed = True
                continue
            if status is None or status == 429 or status >= 500:
                if attempt >= self.max_retries:
                    raise AmoUnavailable(f"{method} {path}: still {problem} after {attempt} retries", status=status)
                delay = self._delay(attempt, headers.get("Retry-After"))
                if status == 429:
                    self._bucket.hold_off(delay)  # the account's other requests wait too
                logger.info("amoCRM %s %s: %s, retry %d in %.2f s", method, path, problem, attempt + 1, delay)
                attempt += 1
                self.retries += 1
                self._sleep(delay)
                continue
            if status == 204:
                return None
            if status >= 400:
                raise AmoError(f"{method} {path}: amoCRM answered {status}: {_detail(content)}", status=status)
            if not content:
                return None
            try:
                return json.loads(content)
            except ValueError as exc:
                raise AmoBadResponse(f"{method} {path}: the answer is not JSON", status=status) from exc

    def _send(self, method: str, url: str, params: Sequence[tuple[str, str]] | None, body: Any,
              token: str) -> tuple[int, httpx.Headers, bytes]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        with self._http.stream(method, url, params=list(params or []), headers=headers,
                               json=body if body is not None else None) as answer:
            chunks, size = [], 0
            for chunk in answer.iter_bytes():
                size += len(chunk)
                if size > self.max_response_bytes:
                    raise AmoBadResponse(f"{method} {url}: answer larger than {self.max_response_bytes} bytes",
                                         status=answer.status_code)
                chunks.append(chunk)
            return answer.status_code, answer.headers, b"".join(chunks)

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so retrying clients spread out."""
        base = min(self.backoff_cap_seconds, self.backoff_seconds * 2 ** attempt)
        delay = base / 2 + self._rng.random() * base / 2
        if retry_after is not None:
            with contextlib.suppress(ValueError):
                delay = max(delay, min(self.backoff_cap_seconds, float(retry_after)))
        return float(delay)

    # -- reads ----------------------------------------------------------------------------------------

    def account(self) -> dict[str, Any]:
        """`GET /api/v4/account`: id, name, subdomain, country, current_user_id, …"""
        found = self.request("GET", "/api/v4/account")
        if not isinstance(found, dict) or not isinstance(found.get("id"), int):
            raise AmoBadResponse("GET /api/v4/account answered without a numeric id")
        return found

    def page(self, collection: Collection, cursor: str | None = None, *,
             params: Sequence[tuple[str, str]] = ()) -> Page:
        """One page: the first (with `params`) when `cursor` is None, else the page `cursor` names.

        `cursor` is a previous page's `next` (path and query only). An empty page (204) is the end.
        """
        if cursor is None:
            path, query = f"/api/v4/{collection}", [("limit", str(PAGE_LIMIT)), *params]
        else:
            path, query = _own_path(cursor, collection)
        answer = self.request("GET", path, params=query)
        if answer is None:
            return Page([], None)
        if not isinstance(answer, dict):
            raise AmoBadResponse(f"GET {path}: a page must be a JSON object")
        items = (answer.get("_embedded") or {}).get(collection)
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise AmoBadResponse(f"GET {path}: _embedded.{collection} is not a list of objects")
        href = ((answer.get("_links") or {}).get("next") or {}).get("href")
        following = None
        if isinstance(href, str) and items:
            following = _relative(href)
            _own_path(following, collection)  # refuse a next link outside this list before storing it
        return Page(items, following)

    def pages(self, collection: Collection, cursor: str | None = None, *,
              params: Sequence[tuple[str, str]] = ()) -> Iterator[Page]:
        """Every page from `cursor` (None: the first) to the end."""
        while True:
            page = self.page(collection, cursor, params=params)
            if page.items:
                yield page
            if page.next is None:
                return
            cursor = page.next

    def by_ids(self, collection: Collection, ids: Sequence[int | str]) -> list[dict[str, Any]]:
        """The records with these ids that exist (deleted or unknown ids are simply absent)."""
        found: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(str(i) for i in ids))
        for start in range(0, len(unique), IDS_PER_REQUEST):
            params = [("with", ",".join(WITH[collection]))] + [("filter[id][]", i)
                                                                for i in unique[start:start + IDS_PER_REQUEST]]
            for page in self.pages(collection, params=params):
                found.extend(page.items)
        return found

    def updated_since(self, collection: Collection, since: int) -> Iterator[dict[str, Any]]:
        """Records changed at or after unix second `since`, oldest change first (the catch-up poll)."""
        params = [("with", ",".join(WITH[collection])), ("filter[updated_at][from]", str(since)),
                  ("order[updated_at]", "asc")]
        for page in self.pages(collection, params=params):
            yield from page.items

    # -- writes ---------------------------------------------------------------------------------------

    def edit_tags(self, collection: Collection, record_id: int | str, *, add: Sequence[str] = (),
                  remove: Sequence[str] = ()) -> None:
        """`tags_to_add` / `tags_to_delete` by name: the record's other tags stay as they are."""
        body: dict[str, Any] = {}
        if add:
            body["tags_to_add"] = [{"name": n} for n in add]
        if remove:
            body["tags_to_delete"] = [{"name": n} for n in remove]
        if body:
            self.request("PATCH", f"/api/v4/{collection}/{int(record_id)}", body=body)

    def add_note(self, collection: Collection, record_id: int | str, text: str) -> None:
        """A common note on the record's feed."""
        self.request("POST", f"/api/v4/{collection}/{int(record_id)}/notes",
                     body=[{"note_type": "common", "params": {"text": text}}])

    def create(self, collection: Collection, entities: Sequence[dict[str, Any]]) -> list[int]:
        """Create records (in batches of 50); their new ids in the order given."""
        ids: list[int] = []
        for start in range(0, len(entities), WRITE_BATCH):
            answer = self.request("POST", f"/api/v4/{collection}", body=list(entities[start:start + WRITE_BATCH]))
            created = ((answer or {}).get("_embedded") or {}).get(collection) if isinstance(answer, dict) else None
            if not isinstance(created, list) or len(created) != len(entities[start:start + WRITE_BATCH]):
                raise AmoBadResponse(f"POST /api/v4/{collection}: the answer does not list every created record")
            ids.extend(int(c["id"]) for c in created)
        return ids

    def link(self, collection: Collection, record_id: int | str, links: Sequence[dict[str, Any]]) -> None:
        """Link a record to others: `[{"to_entity_id": 1, "to_entity_type": "leads"}, …]`."""
        if links:
            self.request("POST", f"/api/v4/{collection}/{int(record_id)}/link", body=list(links))

    def subscribe(self, destination: str, events: Sequence[str] = WEBHOOK_EVENTS) -> dict[str, Any]:
        """`POST /api/v4/webhooks`: amoCRM posts those events to `destination` from now on."""
        answer = self.request("POST", "/api/v4/webhooks", body={"destination": destination, "settings": list(events),
                                                                  "sort": 10})
        if not isinstance(answer, dict):
            raise AmoBadResponse("POST /api/v4/webhooks answered no webhook")
        return answer

    def unsubscribe(self, destination: str) -> None:
        self.request("DELETE", "/api/v4/webhooks", body={"destination": destination})


def _relative(href: str) -> str:
    parts = urllib.parse.urlsplit(href)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _own_path(cursor: str, collection: Collection) -> tuple[str, list[tuple[str, str]]]:
    """A stored `next` split into path and query; only the list it came from is allowed."""
    parts = urllib.parse.urlsplit(cursor)
    if parts.scheme or parts.netloc or parts.path != f"/api/v4/{collection}" or len(cursor) > 10_000:
        raise AmoBadResponse(f"next-page link {cursor[:100]!r} is not a page of /api/v4/{collection}")
    return parts.path, urllib.parse.parse_qsl(parts.query, keep_blank_values=True)


def _detail(content: bytes) -> str:
    try:
        parsed = json.loads(content)
    except ValueError:
        return content[:200].decode(errors="replace")
    if isinstance(parsed, dict):
        return str(parsed.get("detail") or parsed.get("title") or "")[:200]
    return ""
