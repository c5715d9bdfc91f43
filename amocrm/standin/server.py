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

import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Iterable, Sequence
from http.server import ThreadingHTTPServer
from typing import Any

from amocrm.standin.routes import handler
from amocrm.standin.state import (
    ACCESS_SECONDS,
    CODE_SECONDS,
    DEFAULT_RATE,
    Account,
    ApiRequest,
    Delivery,
    problem,
)

logger = logging.getLogger("amocrm.standin")


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
        self._accounts: dict[int, Account] = {}
        self._codes: dict[str, tuple[int, float]] = {}
        self._access: dict[str, tuple[int, float]] = {}  # token -> (account, expires at)
        self._refresh: dict[str, int] = {}  # live refresh tokens -> account
        self._faults: deque[int] = deque()
        self._lock = threading.RLock()
        self._next_id = 90_000_000
        self._server = ThreadingHTTPServer((host, port), handler(self))
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
            account = Account(account_id, subdomain, name or subdomain, country)
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

    def create(self, account_id: int, collection: str, entity: dict[str, Any], *, fire: bool = True
               ) -> dict[str, Any]:
        """Add a record as an integration would (a call, a chat, a site form): webhooks `add` fire (unless
        `fire` is False: a webhook amoCRM lost)."""
        with self._lock:
            account = self._accounts[account_id]
            stored = self._insert(account, collection, entity)
        if fire:
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

    def expire_tokens(self, account_id: int | None = None) -> None:
        """Access tokens (of one account, or all) expire now, as 24 h passing would; refresh tokens stay good."""
        with self._lock:
            self._access = {t: (a, 0.0 if account_id in (None, a) else e) for t, (a, e) in self._access.items()}

    def revoke_refresh_tokens(self, account_id: int | None = None) -> None:
        with self._lock:
            self._refresh = {t: a for t, a in self._refresh.items() if account_id not in (None, a)}

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

    def _fit(self, account: Account, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
        entity["account_id"] = account.id
        embedded = entity.setdefault("_embedded", {})
        embedded.setdefault("tags", [])
        if collection == "contacts":
            embedded.setdefault("companies", [])
        for tag in embedded["tags"]:
            tag.setdefault("id", account.tags.setdefault(tag["name"], len(account.tags) + 1))
        entity["_links"] = {"self": {"href": f"{self.url}/api/v4/{collection}/{entity['id']}"}}
        return entity

    def _insert(self, account: Account, collection: str, entity: dict[str, Any]) -> dict[str, Any]:
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

    def _fire(self, account: Account, collection: str, action: str, entities: Sequence[dict[str, Any]]) -> None:
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

    def _over_rate(self, account: Account, now: float) -> bool:
        if not self.rate_limit:
            return False
        recent = account.recent
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        recent.append(now)
        return len(recent) > self.rate_limit

    def _token_account(self, authorization: str | None) -> tuple[Account | None, str]:
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
            return 401, problem(401, "Client authentication failed")
        if body.get("redirect_uri") != self.redirect_uri:
            return 400, problem(400, "redirect_uri does not match the integration's")
        grant = body.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                found = self._codes.pop(str(body.get("code")), None)
                if found is None or found[1] < time.time():
                    return 400, problem(400, "Authorization code has been revoked", hint="code is invalid")
                account_id = found[0]
            elif grant == "refresh_token":
                account_id_or_none = self._refresh.pop(str(body.get("refresh_token")), None)  # single use
                if account_id_or_none is None:
                    return 401, problem(401, "Token has been revoked")
                account_id = account_id_or_none
            else:
                return 400, problem(400, f"unsupported grant_type {grant!r}")
            access, refresh = "acc" + secrets.token_hex(24), "ref" + secrets.token_hex(24)
            self._access[access] = (account_id, time.time() + self.expires_in)
            self._refresh[refresh] = account_id
        return 200, {"token_type": "Bearer", "expires_in": self.expires_in, "access_token": access,
                     "refresh_token": refresh, "server_time": int(time.time())}
