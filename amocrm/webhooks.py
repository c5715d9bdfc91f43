"""amoCRM's account webhooks: a form-encoded nested body -> the account it names and the record events in it.

amoCRM posts `application/x-www-form-urlencoded` bodies such as `contacts[update][0][id]=123&account[id]=29`
(docs/amocrm-notes.md, section 4 [A6]), nested up to six levels, many entities per delivery, a delete
perhaps carrying only the id. Webhooks are not signed, so the body is hostile until proven otherwise:
it is parsed in one pass (linear in its size) under limits on size, keys, depth and entities, and only
ids are taken from it; the records themselves are re-read from the API.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Literal

from resolver.errors import InputError

Action = Literal["add", "update", "delete", "restore"]
ACTIONS: tuple[Action, ...] = ("add", "update", "delete", "restore")
_ENTITY: dict[str, Literal["contact", "company"]] = {"contacts": "contact", "companies": "company"}
MAX_BODY_BYTES = 2_000_000
MAX_PAIRS = 50_000
MAX_DEPTH = 8
MAX_KEY_CHARS = 300
MAX_EVENTS = 5_000
_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])*)")
_ID = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True)
class RecordEvent:
    """One record event: the entity (`contact` | `company`), the action, the record's amoCRM id."""

    entity: Literal["contact", "company"]
    action: Action
    record_id: str


@dataclass(frozen=True)
class Delivery:
    """What one webhook POST says: the account (id and / or subdomain as sent) and its record events."""

    account_id: str | None
    subdomain: str | None
    events: tuple[RecordEvent, ...]


def _bad(reason: str) -> InputError:
    return InputError.one(reason, field="body")


def parse_form(body: bytes) -> dict[str, Any]:
    """The nested structure of a form body: `a[b][0][c]=v` -> {"a": {"b": {"0": {"c": "v"}}}}.

    Raises InputError (a clear 4xx) for a body over the limits, a key that is not `name[part]…`, or a
    key used both as a value and as a container.
    """
    if len(body) > MAX_BODY_BYTES:
        raise _bad(f"webhook body larger than {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad("webhook body is not UTF-8") from exc
    root: dict[str, Any] = {}
    if not text:
        return root
    if text.count("&") >= MAX_PAIRS:
        raise _bad(f"webhook body has more than {MAX_PAIRS} fields")
    for pair in text.split("&"):
        if not pair:
            continue
        raw_key, _, raw_value = pair.partition("=")
        key = urllib.parse.unquote_plus(raw_key)
        if len(key) > MAX_KEY_CHARS:
            raise _bad(f"webhook field name longer than {MAX_KEY_CHARS} characters")
        match = _KEY.fullmatch(key)
        if match is None:
            raise _bad(f"webhook field name {key[:60]!r} is not of the form name[part]…")
        path = [match.group(1), *match.group(2)[1:-1].split("][")] if match.group(2) else [match.group(1)]
        if len(path) > MAX_DEPTH:
            raise _bad(f"webhook field {key[:60]!r} is nested deeper than {MAX_DEPTH} levels")
        node = root
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise _bad(f"webhook field {key[:60]!r} is both a value and a container")
            node = child
        if isinstance(node.get(path[-1]), dict):
            raise _bad(f"webhook field {key[:60]!r} is both a value and a container")
        node[path[-1]] = urllib.parse.unquote_plus(raw_value)
    return root


def parse_delivery(body: bytes) -> Delivery:
    """The account and the record events of one webhook body (only contacts and companies; other
    entities, and the fields beside each id, are ignored: the API is the source of the records)."""
    form = parse_form(body)
    account = form.get("account")
    account_id = subdomain = None
    if isinstance(account, dict):
        raw_id, raw_sub = account.get("id"), account.get("subdomain")
        account_id = raw_id if isinstance(raw_id, str) and _ID.fullmatch(raw_id) else None
        subdomain = raw_sub.lower() if isinstance(raw_sub, str) and len(raw_sub) <= 63 else None
    if account_id is None and subdomain is None:
        raise _bad("webhook body names no account (account[id] or account[subdomain])")
    events: list[RecordEvent] = []
    for collection, entity in _ENTITY.items():
        by_action = form.get(collection)
        if by_action is None:
            continue
        if not isinstance(by_action, dict):
            raise _bad(f"webhook field {collection} must hold actions")
        for action in ACTIONS:
            items = by_action.get(action)
            if items is None:
                continue
            if not isinstance(items, dict):
                raise _bad(f"webhook field {collection}[{action}] must hold entities")
            for index, item in items.items():
                raw = item.get("id") if isinstance(item, dict) else None
                if not isinstance(raw, str) or not _ID.fullmatch(raw):
                    raise _bad(f"webhook field {collection}[{action}][{index[:20]}][id] must be a numeric id")
                events.append(RecordEvent(entity, action, raw))
                if len(events) > MAX_EVENTS:
                    raise _bad(f"webhook body carries more than {MAX_EVENTS} events")
    return Delivery(account_id, subdomain, tuple(events))
