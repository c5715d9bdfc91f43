"""A local amoCRM for tests, benches and `make demo-amocrm`: a real HTTP server speaking API v4's documented shapes.

It is not a mock of our code: it plays amoCRM's side of the wire (docs/amocrm-notes.md, sections 1-4):
OAuth code and refresh grants (refresh tokens single-use), `GET /api/v4/account`, paged contacts and
companies (`page`, `limit` <= 250, `with`, `filter[id][]`, `filter[updated_at][from|to]`, `order`,
`_links.next`, 204 past the last page), one record by id, tag edits through PATCH, notes, create and link,
`/api/v4/webhooks`, 401 on an expired or unknown token, 429 over a per-account rate limit, and form-encoded
webhooks fired at subscribed destinations when records change through the control methods (as an
integration creating a contact would). Every API request is recorded, so tests can check the rate was
never exceeded, which tags were written and which notes were added.

Faults on demand: `fail_next(n, status)` (a 429 storm or 5xx), `expire_tokens()`, `revoke_refresh_tokens()`,
`uninstall()` (calls the disable hook and revokes every token).

Run alone: `python -m amocrm.standin --port 8765 --contacts 2000 --companies 500` (the control API under
`/_standin/` lets the demo add and change records).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import logging
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)

COLLECTIONS = ("contacts", "companies")
MAX_LIMIT = 250  # API v4: `limit` at most 250 per page
ACCESS_SECONDS = 86_400  # access token lifetime amoCRM documents (24 h)
CODE_SECONDS = 20 * 60  # authorization code lifetime (tutorials; UNVERIFIED)
DEFAULT_RATE = 7.0  # requests per second per account (docs/amocrm-notes.md, section 3)
_WITH = {"contacts": {"leads", "customers", "catalog_elements", "companies"},
         "companies": {"leads", "customers", "contacts", "catalog_elements"}}
_MAX_BODY = 2_000_000


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
class _Account:
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


class AmoStandin:
    """The stand-in's state and server. `start()` binds a free port (or `port`); `url` is its base URL."""

    def __init__(self, *, client_id: str = "standin-client", client_secret: str = "standin-secret-0123456789",
                 redirect_uri: str = "http://127.0.0.1/amocrm/oauth/callback", rate_limit: float = DEFAULT_RATE,
                 expires_in: int = ACCESS_SECONDS, disable_hook: str | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.rate_limit = rate_limit  # 0: no limit
        self.expires_in = expires_in
        self.disable_hook = disable_hook
        self.requests: list[ApiRequest] = []
        self.deliveries: list[Delivery] = []
        self._accounts: dict[int, _Account] = {}
        self._codes: dict[str, tuple[int, float]] = {}
        self._access: dict[str, tuple[int, float]] = {}  # token -> (account, expires at)
        self._refresh: dict[str, int] = {}  # live refresh tokens -> account
        self._faults: deque[int] = deque()
        self._lock = threading.RLock()
        self._next_id = 90_000_000
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._hooks: deque[tuple[str, str]] = deque()
        self._hook_cond = threading.Condition()
        self._hook_thread: threading.Thread | None = None
        self._stopping = False

    # -- life -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> AmoStandin:
        self._thread = threading.Thread(target=self._server.serve_forever, name="amo-standin", daemon=True)
        self._thread.start()
        self._hook_thread = threading.Thread(target=self._deliver_hooks, name="amo-standin-hooks", daemon=True)
        self._hook_thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._hook_cond:
            self._stopping = True
            self._hook_cond.notify_all()

    def __enter__(self) -> AmoStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- accounts and records -------------------------------------------------------------------------

    def add_account(self, account_id: int, *, subdomain: str, name: str = "", country: str = "RU",
                    contacts: Iterable[dict[str, Any]] = (), companies: Iterable[dict[str, Any]] = ()) -> None:
        """An amoCRM account holding the given API v4 entities (their `id`s kept)."""
        with self._lock:
            account = _Account(account_id, subdomain, name or subdomain, country)
            self._accounts[account_id] = account
            for collection, items in (("contacts", contacts), ("companies", companies)):
                for item in items:
                    entity = self._fit(account, collection, dict(item))
                    account.records[collection][entity["id"]] = entity
                    self._next_id = max(self._next_id, entity["id"] + 1)

    def seed(self, account_id: int, *, subdomain: str, contacts: int, companies: int, seed: int = 1,
             country: str = "RU") -> None:
        """An account with generated amoCRM-shaped contacts and companies, duplicates included."""
        from training.synthetic import generate_companies, generate_contacts

        self.add_account(account_id, subdomain=subdomain, country=country,
                         contacts=generate_contacts(contacts, seed=seed).entities if contacts else [],
                         companies=generate_companies(companies, seed=seed).entities if companies else [])

    def issue_code(self, account_id: int) -> str:
        """The code amoCRM hands the redirect URI when a user clicks "Разрешить" in that account."""
        code = "def" + secrets.token_hex(24)
        with self._lock:
            self._codes[code] = (account_id, time.time() + CODE_SECONDS)
        return code

    def records(self, account_id: int, collection: str) -> dict[int, dict[str, Any]]:
        with self._lock:
            return {k: json.loads(json.dumps(v)) for k, v in self._accounts[account_id].records[collection].items()}

    def record(self, account_id: int, collection: str, record_id: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._accounts[account_id].records[collection].get(record_id)
            return json.loads(json.dumps(found)) if found else None

    def tags_of(self, account_id: int, collection: str, record_id: int) -> set[str]:
        found = self.record(account_id, collection, record_id)
        return {t["name"] for t in found["_embedded"]["tags"]} if found else set()

    def notes(self, account_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._accounts[account_id].notes)

    def webhooks(self, account_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._accounts[account_id].webhooks.values())

    def create(self, account_id: int, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
        """Add a record as an integration would (a call, a chat, a site form): webhooks `add` fire."""
        with self._lock:
            account = self._accounts[account_id]
            stored = self._insert(account, collection, entity)
        self._fire(account, collection, "add", [stored])
        return stored

    def change(self, account_id: int, collection: str, record_id: int, **fields: Any) -> dict[str, Any]:
        """Change fields of a record (a person editing the card): webhooks `update` fire."""
        with self._lock:
            account = self._accounts[account_id]
            stored = account.records[collection][record_id]
            stored.update(fields)
            stored["updated_at"] = self._now(stored)
        self._fire(account, collection, "update", [stored])
        return stored

    def delete(self, account_id: int, collection: str, record_id: int) -> None:
        """Move a record to the trash: gone from lists and reads; webhooks `delete` fire with its id."""
        with self._lock:
            account = self._accounts[account_id]
            stored = account.records[collection].pop(record_id)
            account.deleted[collection][record_id] = stored
        self._fire(account, collection, "delete", [{"id": record_id}])

    def restore(self, account_id: int, collection: str, record_id: int) -> None:
        with self._lock:
            account = self._accounts[account_id]
            stored = account.deleted[collection].pop(record_id)
            stored["updated_at"] = self._now(stored)
            account.records[collection][record_id] = stored
        self._fire(account, collection, "restore", [stored])

    # -- faults ---------------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 429) -> None:
        """Answer the next `count` API requests (any account) with `status` (429 storm, 500, 502, 503)."""
        with self._lock:
            self._faults.extend([status] * count)

    def expire_tokens(self) -> None:
        """Every access token expires now (as 24 h passing would); refresh tokens stay good."""
        with self._lock:
            self._access = {t: (a, 0.0) for t, (a, _) in self._access.items()}

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            self._refresh.clear()

    def uninstall(self, account_id: int) -> int | None:
        """A user switches the integration off: tokens revoked, the disable hook called (its status)."""
        with self._lock:
            self._access = {t: v for t, v in self._access.items() if v[0] != account_id}
            self._refresh = {t: a for t, a in self._refresh.items() if a != account_id}
            account = self._accounts[account_id]
        if not self.disable_hook:
            return None
        # signature as public code describes it (UNOFFICIAL): hex HMAC-SHA256(client_secret, "client_id|account_id")
        signature = hmac.new(self.client_secret.encode(), f"{self.client_id}|{account_id}".encode(),
                             hashlib.sha256).hexdigest()
        query = urllib.parse.urlencode({"account_id": account_id, "client_uuid": account.client_uuid,
                                        "signature": signature})
        try:
            with urllib.request.urlopen(f"{self.disable_hook}?{query}", timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    # -- what was seen --------------------------------------------------------------------------------

    def api_requests(self, account_id: int | None = None) -> list[ApiRequest]:
        with self._lock:
            return [r for r in self.requests if account_id is None or r.account_id == account_id]

    def max_rate(self, account_id: int, window: float = 1.0) -> int:
        """The most API requests of the account that arrived within any `window` seconds (429s included)."""
        times = sorted(r.at for r in self.api_requests(account_id) if r.path.startswith("/api/"))
        most, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            most = max(most, end - start + 1)
        return most

    # -- internals ------------------------------------------------------------------------------------

    def _now(self, stored: dict[str, Any]) -> int:
        # amoCRM's `updated_at` is unix seconds; two edits in one second still move it forward here,
        # so `filter[updated_at][from]` and the service's "older never wins" see every change
        return max(int(time.time()), int(stored.get("updated_at") or 0) + 1)

    def _fit(self, account: _Account, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
        entity["account_id"] = account.id
        embedded = entity.setdefault("_embedded", {})
        embedded.setdefault("tags", [])
        if collection == "contacts":
            embedded.setdefault("companies", [])
        for tag in embedded["tags"]:
            tag.setdefault("id", account.tags.setdefault(tag["name"], len(account.tags) + 1))
        entity["_links"] = {"self": {"href": f"{self.url}/api/v4/{collection}/{entity['id']}"}}
        return entity

    def _insert(self, account: _Account, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
        entity = json.loads(json.dumps(entity))
        entity["id"] = self._next_id
        self._next_id += 1
        now = int(time.time())
        entity.setdefault("created_at", now)
        entity["updated_at"] = now
        entity.setdefault("name", " ".join(x for x in (entity.get("first_name"), entity.get("last_name")) if x))
        stored = self._fit(account, collection, entity)
        account.records[collection][stored["id"]] = stored
        return stored

    def _fire(self, account: _Account, collection: str, action: str, entities: Sequence[dict[str, Any]]) -> None:
        """Queue amoCRM's form-encoded webhook for every destination subscribed to `<action>_<entity>`."""
        event = f"{action}_{'contact' if collection == 'contacts' else 'company'}"
        with self._lock:
            destinations = [w["destination"] for w in account.webhooks.values()
                            if event in w["settings"] and not w["disabled"]]
        if not destinations:
            return
        pairs: list[tuple[str, str]] = []
        for i, entity in enumerate(entities):
            prefix = f"{collection}[{action}][{i}]"
            pairs.append((f"{prefix}[id]", str(entity["id"])))
            if action != "delete":
                for key in ("name", "responsible_user_id", "date_create", "last_modified", "created_user_id",
                            "modified_user_id"):
                    if key in entity:
                        pairs.append((f"{prefix}[{key}]", str(entity[key])))
                pairs.append((f"{prefix}[last_modified]", str(entity.get("updated_at", ""))))
                pairs.append((f"{prefix}[type]", "contact" if collection == "contacts" else "company"))
                for j, cf in enumerate(entity.get("custom_fields_values") or []):
                    pairs.append((f"{prefix}[custom_fields][{j}][id]", str(cf.get("field_id"))))
                    pairs.append((f"{prefix}[custom_fields][{j}][name]", str(cf.get("field_name"))))
                    for k, v in enumerate(cf.get("values") or []):
                        pairs.append((f"{prefix}[custom_fields][{j}][values][{k}][value]", str(v.get("value"))))
        pairs += [("account[subdomain]", account.subdomain), ("account[id]", str(account.id)),
                  ("account[_links][self]", f"https://{account.subdomain}.amocrm.ru")]
        body = urllib.parse.urlencode(pairs)
        with self._hook_cond:
            self._hooks.extend((d, body) for d in destinations)
            self._hook_cond.notify()

    def _deliver_hooks(self) -> None:
        while True:
            with self._hook_cond:
                while not self._hooks and not self._stopping:
                    self._hook_cond.wait()
                if self._stopping:
                    return
                destination, body = self._hooks.popleft()
            t0 = time.perf_counter()
            status: int | None
            try:
                request = urllib.request.Request(destination, data=body.encode(), method="POST", headers={
                    "Content-Type": "application/x-www-form-urlencoded"})
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status = int(answer.status)
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = None
            with self._lock:
                self.deliveries.append(Delivery(destination, body, status, time.perf_counter() - t0))

    def _over_rate(self, account: _Account, now: float) -> bool:
        if not self.rate_limit:
            return False
        recent = account.recent
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        recent.append(now)
        return len(recent) > self.rate_limit

    def _token_account(self, authorization: str | None) -> tuple[_Account | None, str]:
        if not authorization or not authorization.startswith("Bearer "):
            return None, "no Bearer token"
        found = self._access.get(authorization[7:].strip())
        if found is None:
            return None, "unknown token"
        account_id, expires = found
        if expires <= time.time():
            return None, "token expired"
        return self._accounts.get(account_id), ""

    def _grant(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST /oauth2/access_token: the authorization_code and refresh_token grants."""
        if body.get("client_id") != self.client_id or body.get("client_secret") != self.client_secret:
            return 401, _problem(401, "Client authentication failed")
        if body.get("redirect_uri") != self.redirect_uri:
            return 400, _problem(400, "redirect_uri does not match the integration's")
        grant = body.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                found = self._codes.pop(str(body.get("code")), None)
                if found is None or found[1] < time.time():
                    return 400, _problem(400, "Authorization code has been revoked", hint="code is invalid")
                account_id = found[0]
            elif grant == "refresh_token":
                account_id_or_none = self._refresh.pop(str(body.get("refresh_token")), None)  # single use
                if account_id_or_none is None:
                    return 401, _problem(401, "Token has been revoked")
                account_id = account_id_or_none
            else:
                return 400, _problem(400, f"unsupported grant_type {grant!r}")
            access, refresh = "acc" + secrets.token_hex(24), "ref" + secrets.token_hex(24)
            self._access[access] = (account_id, time.time() + self.expires_in)
            self._refresh[refresh] = account_id
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": access,
                     "refresh_token": refresh, "server_time": int(time.time())}


def _problem(status: int, detail: str, **extra: Any) -> dict[str, Any]:
    return {"title": {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}.get(
        status, "Error"), "type": "https://httpstatus.es/" + str(status), "status": status, "detail": detail, **extra}


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _handler(standin: AmoStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # access lines go to debug, not stderr
            logger.debug("standin " + format, *args)

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_PATCH(self) -> None:
            self._serve("PATCH")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

        def _body(self) -> Any:
            length = _int(self.headers.get("Content-Length") or "0", 0)
            if length <= 0:
                return None
            raw = self.rfile.read(min(length, _MAX_BODY))
            if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
                return dict(urllib.parse.parse_qsl(raw.decode()))
            try:
                return json.loads(raw)
            except ValueError:
                return None

        def _send(self, status: int, payload: Any = None, *, content_type: str = "application/hal+json") -> None:
            data = b"" if payload is None or status == 204 else json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            if data:
                self.send_header("Content-Type", content_type)
            if status == 429:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            parts = urllib.parse.urlsplit(self.path)
            path, query = parts.path, urllib.parse.parse_qs(parts.query)
            body = self._body()
            account: _Account | None = None
            status, payload = 500, None
            try:
                if path == "/oauth2/access_token" and method == "POST":
                    status, payload = standin._grant(body if isinstance(body, dict) else {})
                elif path.startswith("/_standin/"):
                    status, payload = _control(standin, method, path, body)
                elif path.startswith("/api/v4/"):
                    with standin._lock:
                        account, why = standin._token_account(self.headers.get("Authorization"))
                        forced = standin._faults.popleft() if standin._faults else None
                        over = account is not None and standin._over_rate(account, time.monotonic())
                    if account is None:
                        status, payload = 401, _problem(401, why)
                    elif forced is not None:
                        status, payload = forced, _problem(forced, "fault injected by the stand-in")
                    elif over:
                        status, payload = 429, _problem(429, "Too many requests")
                    else:
                        status, payload = _api(standin, account, method, path[len("/api/v4/"):], query, body)
                else:
                    status, payload = 404, _problem(404, "no such path")
            except Exception as exc:  # a stand-in bug must show up as a 500 in the test, not a hang
                logger.exception("standin failed on %s %s", method, self.path)
                status, payload = 500, _problem(500, f"stand-in error: {exc}")
            with standin._lock:
                standin.requests.append(ApiRequest(time.monotonic(), account.id if account else None, method, path,
                                                   parts.query, status, body))
            self._send(status, payload)

    return Handler


def _api(standin: AmoStandin, account: _Account, method: str, path: str, query: dict[str, list[str]],
         body: Any) -> tuple[int, Any]:
    segments = path.strip("/").split("/")
    with standin._lock:
        if segments == ["account"] and method == "GET":
            return 200, {"id": account.id, "name": account.name, "subdomain": account.subdomain,
                         "current_user_id": 504141, "country": account.country, "currency": "RUB",
                         "currency_symbol": "₽", "customers_mode": "disabled", "is_unsorted_on": True,
                         "is_technical_account": False, "contact_name_display_order": 1,
                         "_links": {"self": {"href": f"{standin.url}/api/v4/account"}}}
        if segments == ["webhooks"]:
            return _webhooks(account, method, query, body)
        if not segments or segments[0] not in COLLECTIONS:
            return 404, _problem(404, "no such path")
        collection = segments[0]
        if len(segments) == 1 and method == "GET":
            return _list(standin, account, collection, query)
        if len(segments) == 1 and method == "POST":
            return _create(standin, account, collection, body)
        if len(segments) == 1 and method == "PATCH":
            return _patch_many(standin, account, collection, body)
        if segments[1:] == ["notes"] and method == "POST":
            return _add_notes(account, collection, None, body)
        if not segments[1].isdigit():
            return 404, _problem(404, "no such path")
        record_id = int(segments[1])
        stored = account.records[collection].get(record_id)
        if len(segments) == 2 and method == "GET":
            if stored is None:
                return 204, None
            return 200, _shown(stored, collection, _with(query, collection))
        if len(segments) == 2 and method == "PATCH":
            if stored is None:
                return 404, _problem(404, "no such record")
            return _patch_one(standin, account, collection, stored, body if isinstance(body, dict) else {})
        if segments[2:] == ["notes"] and method == "POST":
            return _add_notes(account, collection, record_id, body)
        if segments[2:] == ["notes"] and method == "GET":
            found = [n for n in account.notes if n["entity_id"] == record_id and n["entity_type"] == collection]
            return (200, {"_embedded": {"notes": found}}) if found else (204, None)
        if segments[2:] == ["link"] and method == "POST":
            return _link(account, collection, record_id, body)
    return 404, _problem(404, "no such path")


def _with(query: dict[str, list[str]], collection: str) -> set[str]:
    asked = {w.strip() for v in query.get("with", []) for w in v.split(",")}
    return asked & _WITH[collection]


def _shown(entity: dict[str, Any], collection: str, with_: set[str]) -> dict[str, Any]:
    """A record as the API shows it: `_embedded` keeps tags (and a contact's companies); the rest only when asked."""
    shown: dict[str, Any] = json.loads(json.dumps(entity))
    embedded = shown.setdefault("_embedded", {})
    for key in list(embedded):
        if key == "tags" or (collection == "contacts" and key == "companies"):
            continue
        if key not in with_:
            del embedded[key]
    return shown


def _list(standin: AmoStandin, account: _Account, collection: str, query: dict[str, list[str]]) -> tuple[int, Any]:
    page = max(1, _int((query.get("page") or ["1"])[0], 1))
    limit = _int((query.get("limit") or ["50"])[0], 50)
    if limit > MAX_LIMIT or limit < 1:
        return 400, _problem(400, f"limit must be 1..{MAX_LIMIT}", validation_errors=[{"path": "limit"}])
    items = list(account.records[collection].values())
    ids = {_int(v, -1) for k, vs in query.items() if k in ("filter[id][]", "filter[id]") for v in vs}
    if ids:
        items = [e for e in items if e["id"] in ids]
    since = query.get("filter[updated_at][from]")
    if since:
        items = [e for e in items if int(e.get("updated_at") or 0) >= _int(since[0], 0)]
    until = query.get("filter[updated_at][to]")
    if until:
        items = [e for e in items if int(e.get("updated_at") or 0) <= _int(until[0], 0)]
    order = next(((k[6:-1], v[0]) for k, v in query.items() if k.startswith("order[")), ("id", "asc"))
    if order[0] in ("id", "updated_at", "created_at"):
        items.sort(key=lambda e: (int(e.get(order[0]) or 0), e["id"]), reverse=order[1] == "desc")
    chunk = items[(page - 1) * limit: page * limit]
    if not chunk:
        return 204, None
    with_ = _with(query, collection)

    def href(p: int) -> str:
        pairs = [(k, v) for k, vs in query.items() if k != "page" for v in vs] + [("page", str(p))]
        return f"{standin.url}/api/v4/{collection}?{urllib.parse.urlencode(pairs)}"

    links: dict[str, Any] = {"self": {"href": href(page)}}
    if page * limit < len(items):
        links["next"] = {"href": href(page + 1)}
    if page > 1:
        links["prev"] = {"href": href(page - 1)}
    return 200, {"_page": page, "_links": links,
                 "_embedded": {collection: [_shown(e, collection, with_) for e in chunk]}}


def _edit_tags(account: _Account, stored: dict[str, Any], body: dict[str, Any]) -> None:
    """`_embedded.tags` replaces the whole set and wins; else `tags_to_add` / `tags_to_delete` edit it."""
    def tag(spec: dict[str, Any]) -> dict[str, Any] | None:
        if "name" in spec:
            name = str(spec["name"])
            return {"id": account.tags.setdefault(name, len(account.tags) + 1), "name": name, "color": None}
        by_id = {v: k for k, v in account.tags.items()}
        if spec.get("id") in by_id:
            return {"id": spec["id"], "name": by_id[spec["id"]], "color": None}
        return None

    tags = stored["_embedded"]["tags"]
    embedded = body.get("_embedded")
    if isinstance(embedded, dict) and isinstance(embedded.get("tags"), list):
        stored["_embedded"]["tags"] = [t for t in (tag(s) for s in embedded["tags"] if isinstance(s, dict)) if t]
        return
    for spec in body.get("tags_to_add") or []:
        new = tag(spec) if isinstance(spec, dict) else None
        if new and all(t["id"] != new["id"] for t in tags):
            tags.append(new)
    for spec in body.get("tags_to_delete") or []:
        gone = tag(spec) if isinstance(spec, dict) else None
        if gone:
            stored["_embedded"]["tags"] = tags = [t for t in tags if t["id"] != gone["id"]]


def _patch_one(standin: AmoStandin, account: _Account, collection: str, stored: dict[str, Any],
               body: dict[str, Any]) -> tuple[int, Any]:
    _edit_tags(account, stored, body)
    for key in ("name", "first_name", "last_name", "responsible_user_id", "custom_fields_values"):
        if key in body:
            stored[key] = body[key]
    stored["updated_at"] = standin._now(stored)
    standin._fire(account, collection, "update", [stored])
    return 200, {"id": stored["id"], "updated_at": stored["updated_at"],
                 "_links": {"self": {"href": f"{standin.url}/api/v4/{collection}/{stored['id']}"}}}


def _patch_many(standin: AmoStandin, account: _Account, collection: str, body: Any) -> tuple[int, Any]:
    if not isinstance(body, list) or not body:
        return 400, _problem(400, "expected a non-empty JSON array")
    done: list[Any] = []
    for item in body:
        stored = account.records[collection].get(_int(str(item.get("id")), -1)) if isinstance(item, dict) else None
        if stored is None:
            return 400, _problem(400, "unknown id", validation_errors=[{"request_id": str(len(done))}])
        done.append(_patch_one(standin, account, collection, stored, item)[1])
    return 200, {"_links": {}, "_embedded": {collection: done}}


def _create(standin: AmoStandin, account: _Account, collection: str, body: Any) -> tuple[int, Any]:
    if not isinstance(body, list) or not body or not all(isinstance(e, dict) for e in body):
        return 400, _problem(400, "expected a non-empty JSON array of entities")
    created = []
    for i, entity in enumerate(body):
        entity = {k: v for k, v in entity.items() if k not in ("id", "account_id")}
        stored = standin._insert(account, collection, entity)
        created.append({"id": stored["id"], "request_id": str(entity.get("request_id", i)),
                        "_links": {"self": {"href": f"{standin.url}/api/v4/{collection}/{stored['id']}"}}})
        standin._fire(account, collection, "add", [stored])
    return 200, {"_links": {}, "_embedded": {collection: created}}


def _link(account: _Account, collection: str, record_id: int, body: Any) -> tuple[int, Any]:
    stored = account.records[collection].get(record_id)
    if stored is None or not isinstance(body, list):
        return 400, _problem(400, "unknown record or not a JSON array")
    links = []
    for item in body:
        if not isinstance(item, dict) or item.get("to_entity_type") not in ("leads", "companies", "contacts",
                                                                            "customers", "catalog_elements"):
            return 400, _problem(400, "to_entity_type is not one the API links")
        link = {"entity_id": record_id, "entity_type": collection, "to_entity_id": item.get("to_entity_id"),
                "to_entity_type": item["to_entity_type"], "metadata": item.get("metadata")}
        links.append(link)
        account.links.append(link)
        embedded = stored["_embedded"].setdefault(item["to_entity_type"], [])
        if all(e.get("id") != item.get("to_entity_id") for e in embedded):
            embedded.append({"id": item.get("to_entity_id")})
    return 200, {"_total_items": len(links), "_embedded": {"links": links}}


def _add_notes(account: _Account, collection: str, record_id: int | None, body: Any) -> tuple[int, Any]:
    if not isinstance(body, list) or not body:
        return 400, _problem(400, "expected a non-empty JSON array of notes")
    created: list[dict[str, Any]] = []
    for item in body:
        entity_id = record_id if record_id is not None else item.get("entity_id") if isinstance(item, dict) else None
        if not isinstance(item, dict) or entity_id not in account.records[collection]:
            return 400, _problem(400, "entity_id is not a record of this account")
        note = {"id": len(account.notes) + 1, "entity_id": entity_id, "entity_type": collection,
                "note_type": item.get("note_type"), "params": item.get("params"), "created_at": int(time.time())}
        account.notes.append(note)
        created.append({"id": note["id"], "entity_id": entity_id, "request_id": str(len(created))})
    return 200, {"_embedded": {"notes": created}}


def _webhooks(account: _Account, method: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if method == "GET":
        wanted = (query.get("filter[destination]") or [""])[0] or None
        found = [w for d, w in account.webhooks.items() if wanted is None or d == wanted]
        return (200, {"_total_items": len(found), "_embedded": {"webhooks": found}}) if found else (204, None)
    if not isinstance(body, dict) or not isinstance(body.get("destination"), str):
        return 400, _problem(400, "destination is required")
    destination = body["destination"]
    if method == "DELETE":
        account.webhooks.pop(destination, None)
        return 204, None
    if method != "POST":
        return 404, _problem(404, "no such path")
    settings = body.get("settings")
    if not isinstance(settings, list) or not settings:
        return 400, _problem(400, "settings must be a non-empty list of event codes")
    now = int(time.time())
    hook = {"id": len(account.webhooks) + 1, "destination": destination, "settings": [str(s) for s in settings],
            "sort": body.get("sort", 1), "disabled": False, "created_at": now, "updated_at": now,
            "account_id": account.id, "created_by": 504141}
    account.webhooks[destination] = hook
    return 200, hook


def _control(standin: AmoStandin, method: str, path: str, body: Any) -> tuple[int, Any]:
    """The stand-in's own API (no amoCRM counterpart) for the demo: create/change/delete records, faults, codes."""
    segments = path.strip("/").split("/")[1:]
    body = body if isinstance(body, dict) else {}
    if segments == ["code"] and method == "POST":
        return 200, {"code": standin.issue_code(int(body["account_id"]))}
    if segments == ["faults"] and method == "POST":
        standin.fail_next(int(body.get("count", 1)), int(body.get("status", 429)))
        return 200, {}
    if segments == ["expire"] and method == "POST":
        standin.expire_tokens()
        return 200, {}
    if len(segments) == 2 and segments[1] in COLLECTIONS and method == "POST":
        return 200, standin.create(int(segments[0]), segments[1], body)
    if len(segments) == 3 and segments[1] in COLLECTIONS and method == "PATCH":
        return 200, standin.change(int(segments[0]), segments[1], int(segments[2]), **body)
    if len(segments) == 3 and segments[1] in COLLECTIONS and method == "DELETE":
        standin.delete(int(segments[0]), segments[1], int(segments[2]))
        return 204, None
    if len(segments) == 3 and segments[1] in COLLECTIONS and method == "GET":
        found = standin.record(int(segments[0]), segments[1], int(segments[2]))
        return (200, {**found, "notes": [n for n in standin.notes(int(segments[0]))
                                         if n["entity_id"] == found["id"]]}) if found else (404, None)
    return 404, _problem(404, "no such control path")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m amocrm.standin --port 8765 --contacts 2000 --companies 500`: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m amocrm.standin", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=500)
    parser.add_argument("--account-id", type=int, default=29000000)
    parser.add_argument("--subdomain", default="example")
    parser.add_argument("--country", default="RU")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="requests/s per account (0: no limit)")
    parser.add_argument("--client-id", default="standin-client")
    parser.add_argument("--client-secret", default="standin-secret-0123456789")
    parser.add_argument("--redirect-uri", default="http://127.0.0.1:8000/amocrm/oauth/callback")
    parser.add_argument("--disable-hook", default=None, help="URL amoCRM calls when the integration is switched off")
    parser.add_argument("--expires-in", type=int, default=ACCESS_SECONDS)
    args = parser.parse_args(argv)
    standin = AmoStandin(client_id=args.client_id, client_secret=args.client_secret, redirect_uri=args.redirect_uri,
                         rate_limit=args.rate, expires_in=args.expires_in, disable_hook=args.disable_hook,
                         host=args.host, port=args.port)
    standin.seed(args.account_id, subdomain=args.subdomain, contacts=args.contacts, companies=args.companies,
                 country=args.country)
    standin.start()
    sys.stderr.write(f"amoCRM stand-in on {standin.url}: account {args.account_id} ({args.subdomain}), "
                     f"{args.contacts} contacts, {args.companies} companies, {args.rate:g} requests/s\n"
                     f"install link: POST {standin.url}/_standin/code {{\"account_id\": {args.account_id}}}\n")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
