"""amoCRM's internal merge requests as the widget's merge adapter (widget/amo_merge.js) meets them.

Shaped after public third-party code (docs/amocrm-notes.md §5, UNOFFICIAL): `POST /ajax/merge/<entity>/info/`
with `id[]` answers `compare_values` per field and record; `POST /ajax/merge/<entity>/save`, form-encoded
with `X-Requested-With: XMLHttpRequest`, answers 202 (queued) and merges: the survivor takes the chosen
values, the other records are gone. A user without delete rights gets 403. Every save is kept in `saves`
(the parsed form) for the tests to read.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

PHONE_FIELD = 100001  # the account's PHONE and EMAIL field ids, as in the API v4 samples
EMAIL_FIELD = 100002


@dataclass
class AmoRecord:
    name: str
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    responsible: int = 504141
    leads: list[int] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)
    company: int | None = None

    def compare_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {"NAME": self.name, "MAIN_USER_ID": str(self.responsible),
                                  "LEADS": [str(x) for x in self.leads], "TAGS": [str(x) for x in self.tags]}
        if self.company is not None:
            values["COMPANY_UID"] = str(self.company)
        if self.phones:
            values[f"cfv_{PHONE_FIELD}"] = [{"DESCRIPTION": "WORK", "VALUE": p} for p in self.phones]
        if self.emails:
            values[f"cfv_{EMAIL_FIELD}"] = [{"DESCRIPTION": "WORK", "VALUE": e} for e in self.emails]
        return values


@dataclass
class AmoMerges:
    """The account's records as amoCRM holds them, and its merge endpoints."""

    records: dict[str, dict[str, AmoRecord]]  # entity path segment -> id -> record
    forbidden: bool = False  # the user has no right to delete records
    hold: bool = False  # requests wait in `held` until release(): a test decides when amoCRM answers
    saves: list[dict[str, list[str]]] = field(default_factory=list)
    held: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, route: Any) -> None:
        if self.hold:
            self.held.append(route)
            return
        self._handle(route)

    def release(self) -> int:
        """Answer the requests held so far; how many."""
        waiting, self.held = self.held, []
        for route in waiting:
            self._handle(route)
        return len(waiting)

    def _handle(self, route: Any) -> None:
        request = route.request
        path = urlsplit(request.url).path
        parts = path.strip("/").split("/")  # ajax, merge, <entity>, info|save
        if request.method != "POST" or len(parts) != 4 or parts[2] not in self.records:
            route.fulfill(status=404, body="not part of the stand-in")
            return
        if request.headers.get("x-requested-with") != "XMLHttpRequest" or not request.headers.get(
                "content-type", "").startswith("application/x-www-form-urlencoded"):
            route.fulfill(status=400, body="not an XHR form post")
            return
        form: dict[str, list[str]] = {}
        for key, value in parse_qsl(request.post_data or "", keep_blank_values=True):
            form.setdefault(key, []).append(value)
        status, body = self._answer(parts[2], parts[3], form)
        route.fulfill(status=status, body=body, content_type="application/json")

    def _answer(self, entity: str, action: str, form: dict[str, list[str]]) -> tuple[int, str]:
        if self.forbidden:
            return 403, json.dumps({"error": "Access denied"})
        with self._lock:
            records = self.records[entity]
            ids = form.get("id[]", [])
            if len(ids) < 2 or any(i not in records for i in ids):
                return 400, json.dumps({"error": "unknown or too few records"})
            if action == "info":
                values: dict[str, dict[str, Any]] = {}
                for record_id in ids:
                    for key, value in records[record_id].compare_values().items():
                        values.setdefault(key, {})[record_id] = value
                return 200, json.dumps({"response": {"compare_values": values}}, ensure_ascii=False)
            if action != "save":
                return 404, "{}"
            survivor = (form.get("result_element[ID]") or [""])[0]
            if survivor not in ids:
                return 400, json.dumps({"error": "result_element[ID] is not among id[]"})
            kept = records[survivor]
            kept.name = (form.get("result_element[NAME]") or [kept.name])[0]
            kept.phones = [json.loads(v)["VALUE"] for v in form.get(f"result_element[cfv][{PHONE_FIELD}][]", [])]
            kept.emails = [json.loads(v)["VALUE"] for v in form.get(f"result_element[cfv][{EMAIL_FIELD}][]", [])]
            kept.leads = [int(x) for x in form.get("result_element[LEADS][]", [])]
            kept.tags = [int(x) for x in form.get("result_element[TAGS][]", [])]
            for record_id in ids:
                if record_id != survivor:
                    del records[record_id]
            self.saves.append(form)
            return 202, "{}"
