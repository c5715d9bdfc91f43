"""The stand-in's HTTP side: the request handler and one function per API v4 route it answers."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from amocrm.standin.state import COLLECTIONS, MAX_BODY, MAX_LIMIT, WITH, Account, ApiRequest, problem, to_int

if TYPE_CHECKING:
    from amocrm.standin.server import AmoStandin

logger = logging.getLogger("amocrm.standin")


def handler(standin: AmoStandin) -> type[BaseHTTPRequestHandler]:
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
            length = to_int(self.headers.get("Content-Length") or "0", 0)
            if length <= 0:
                return None
            raw = self.rfile.read(min(length, MAX_BODY))
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
            arrived = time.monotonic()  # the rate counts arrivals, as a server's limiter would
            parts = urllib.parse.urlsplit(self.path)
            path, query = parts.path, urllib.parse.parse_qs(parts.query)
            body = self._body()
            account: Account | None = None
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
                        over = account is not None and standin._over_rate(account, arrived)
                    if account is None:
                        status, payload = 401, problem(401, why)
                    elif forced is not None:
                        status, payload = forced, problem(forced, "fault injected by the stand-in")
                    elif over:
                        status, payload = 429, problem(429, "Too many requests")
                    else:
                        status, payload = _api(standin, account, method, path[len("/api/v4/"):], query, body)
                else:
                    status, payload = 404, problem(404, "no such path")
            except Exception as exc:  # a stand-in bug must show up as a 500 in the test, not a hang
                logger.exception("standin failed on %s %s", method, self.path)
                status, payload = 500, problem(500, f"stand-in error: {exc}")
            with standin._lock:
                standin.requests.append(ApiRequest(arrived, account.id if account else None, method, path,
                                                   parts.query, status, body))
            self._send(status, payload)

    return Handler


def _api(standin: AmoStandin, account: Account, method: str, path: str, query: dict[str, list[str]],
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
            return 404, problem(404, "no such path")
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
            return 404, problem(404, "no such path")
        record_id = int(segments[1])
        stored = account.records[collection].get(record_id)
        if len(segments) == 2 and method == "GET":
            if stored is None:
                return 204, None
            return 200, _shown(stored, collection, _with(query, collection))
        if len(segments) == 2 and method == "PATCH":
            if stored is None:
                return 404, problem(404, "no such record")
            return _patch_one(standin, account, collection, stored, body if isinstance(body, dict) else {})
        if segments[2:] == ["notes"] and method == "POST":
            return _add_notes(account, collection, record_id, body)
        if segments[2:] == ["notes"] and method == "GET":
            found = [n for n in account.notes if n["entity_id"] == record_id and n["entity_type"] == collection]
            return (200, {"_embedded": {"notes": found}}) if found else (204, None)
        if segments[2:] == ["link"] and method == "POST":
            return _link(account, collection, record_id, body)
    return 404, problem(404, "no such path")


def _with(query: dict[str, list[str]], collection: str) -> set[str]:
    asked = {w.strip() for v in query.get("with", []) for w in v.split(",")}
    return asked & WITH[collection]


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


def _list(standin: AmoStandin, account: Account, collection: str, query: dict[str, list[str]]) -> tuple[int, Any]:
    page = max(1, to_int((query.get("page") or ["1"])[0], 1))
    limit = to_int((query.get("limit") or ["50"])[0], 50)
    if limit > MAX_LIMIT or limit < 1:
        return 400, problem(400, f"limit must be 1..{MAX_LIMIT}", validation_errors=[{"path": "limit"}])
    items = list(account.records[collection].values())
    ids = {to_int(v, -1) for k, vs in query.items() if k in ("filter[id][]", "filter[id]") for v in vs}
    if ids:
        items = [e for e in items if e["id"] in ids]
    since = query.get("filter[updated_at][from]")
    if since:
        items = [e for e in items if int(e.get("updated_at") or 0) >= to_int(since[0], 0)]
    until = query.get("filter[updated_at][to]")
    if until:
        items = [e for e in items if int(e.get("updated_at") or 0) <= to_int(until[0], 0)]
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


def _edit_tags(account: Account, stored: dict[str, Any], body: dict[str, Any]) -> None:
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


def _patch_one(standin: AmoStandin, account: Account, collection: str, stored: dict[str, Any],
               body: dict[str, Any]) -> tuple[int, Any]:
    _edit_tags(account, stored, body)
    for key in ("name", "first_name", "last_name", "responsible_user_id", "custom_fields_values"):
        if key in body:
            stored[key] = body[key]
    stored["updated_at"] = standin._now(stored)
    standin._fire(account, collection, "update", [stored])
    return 200, {"id": stored["id"], "updated_at": stored["updated_at"],
                 "_links": {"self": {"href": f"{standin.url}/api/v4/{collection}/{stored['id']}"}}}


def _patch_many(standin: AmoStandin, account: Account, collection: str, body: Any) -> tuple[int, Any]:
    if not isinstance(body, list) or not body:
        return 400, problem(400, "expected a non-empty JSON array")
    done: list[Any] = []
    for item in body:
        stored = account.records[collection].get(to_int(str(item.get("id")), -1)) if isinstance(item, dict) else None
        if stored is None:
            return 400, problem(400, "unknown id", validation_errors=[{"request_id": str(len(done))}])
        done.append(_patch_one(standin, account, collection, stored, item)[1])
    return 200, {"_links": {}, "_embedded": {collection: done}}


def _create(standin: AmoStandin, account: Account, collection: str, body: Any) -> tuple[int, Any]:
    if not isinstance(body, list) or not body or not all(isinstance(e, dict) for e in body):
        return 400, problem(400, "expected a non-empty JSON array of entities")
    created = []
    for i, entity in enumerate(body):
        entity = {k: v for k, v in entity.items() if k not in ("id", "account_id")}
        stored = standin._insert(account, collection, entity)
        created.append({"id": stored["id"], "request_id": str(entity.get("request_id", i)),
                        "_links": {"self": {"href": f"{standin.url}/api/v4/{collection}/{stored['id']}"}}})
        standin._fire(account, collection, "add", [stored])
    return 200, {"_links": {}, "_embedded": {collection: created}}


def _link(account: Account, collection: str, record_id: int, body: Any) -> tuple[int, Any]:
    stored = account.records[collection].get(record_id)
    if stored is None or not isinstance(body, list):
        return 400, problem(400, "unknown record or not a JSON array")
    links = []
    for item in body:
        if not isinstance(item, dict) or item.get("to_entity_type") not in ("leads", "companies", "contacts",
                                                                            "customers", "catalog_elements"):
            return 400, problem(400, "to_entity_type is not one the API links")
        link = {"entity_id": record_id, "entity_type": collection, "to_entity_id": item.get("to_entity_id"),
                "to_entity_type": item["to_entity_type"], "metadata": item.get("metadata")}
        links.append(link)
        account.links.append(link)
        embedded = stored["_embedded"].setdefault(item["to_entity_type"], [])
        if all(e.get("id") != item.get("to_entity_id") for e in embedded):
            embedded.append({"id": item.get("to_entity_id")})
    return 200, {"_total_items": len(links), "_embedded": {"links": links}}


def _add_notes(account: Account, collection: str, record_id: int | None, body: Any) -> tuple[int, Any]:
    if not isinstance(body, list) or not body:
        return 400, problem(400, "expected a non-empty JSON array of notes")
    created: list[dict[str, Any]] = []
    for item in body:
        entity_id = record_id if record_id is not None else item.get("entity_id") if isinstance(item, dict) else None
        if not isinstance(item, dict) or entity_id not in account.records[collection]:
            return 400, problem(400, "entity_id is not a record of this account")
        note = {"id": len(account.notes) + 1, "entity_id": entity_id, "entity_type": collection,
                "note_type": item.get("note_type"), "params": item.get("params"), "created_at": int(time.time())}
        account.notes.append(note)
        created.append({"id": note["id"], "entity_id": entity_id, "request_id": str(len(created))})
    return 200, {"_embedded": {"notes": created}}


def _webhooks(account: Account, method: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
    if method == "GET":
        wanted = (query.get("filter[destination]") or [""])[0] or None
        found = [w for d, w in account.webhooks.items() if wanted is None or d == wanted]
        return (200, {"_total_items": len(found), "_embedded": {"webhooks": found}}) if found else (204, None)
    if not isinstance(body, dict) or not isinstance(body.get("destination"), str):
        return 400, problem(400, "destination is required")
    destination = body["destination"]
    if method == "DELETE":
        account.webhooks.pop(destination, None)
        return 204, None
    if method != "POST":
        return 404, problem(404, "no such path")
    settings = body.get("settings")
    if not isinstance(settings, list) or not settings:
        return 400, problem(400, "settings must be a non-empty list of event codes")
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
    return 404, problem(404, "no such control path")
