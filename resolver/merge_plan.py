"""The merge plan of a group: which record survives and what merges into it.

The order is the one analysts use in amoCRM: a record with an open deal survives (its deal card
keeps working), then the most recently updated one (the freshest data), then the lowest id (the
oldest record, which integrations usually reference).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REVIEWER_CHOICE = "chosen by the reviewer"


def _id_order(record_id: str) -> tuple[int, int, str]:
    # amoCRM ids are integers: compare them as numbers, other ids as text after them
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def choose_survivor(members: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """(survivor record_id, why) by open deal -> most recently updated -> lowest id."""

    def key(m: Mapping[str, Any]) -> tuple[Any, ...]:
        updated = m.get("updated_at") or _EPOCH
        return (not m.get("open_lead_ids"), -updated.timestamp(), _id_order(m["record_id"]))

    ranked = sorted(members, key=key)
    best = ranked[0]
    runner = ranked[1] if len(ranked) > 1 else None
    if best.get("open_lead_ids") and (runner is None or not runner.get("open_lead_ids")):
        why = "has an open deal"
    elif runner is not None and (best.get("updated_at") or _EPOCH) > (runner.get("updated_at") or _EPOCH):
        why = "most recently updated"
    else:
        why = "lowest id"
    return best["record_id"], why


def plan_merge(members: Sequence[Mapping[str, Any]], *, survivor_id: str | None = None) -> dict[str, Any]:
    """The plan for one group; `members` are `Store.record_details` rows.

    `survivor_id` overrides the rule (a reviewer picked another member); the reason then says so.

    Returns survivor_id, survivor_reason, merge_ids (absorbed, in id order), responsible_user_id
    (the survivor's), lead_ids and company_ids (all members'), and `keep`: the name, phones and
    emails the merged record should carry (survivor's first, then the others' not yet present).
    """
    if survivor_id is None:
        survivor_id, why = choose_survivor(members)
    else:
        why = REVIEWER_CHOICE
    survivor = next(m for m in members if m["record_id"] == survivor_id)
    others = sorted((m for m in members if m["record_id"] != survivor_id), key=lambda m: _id_order(m["record_id"]))
    ordered = [survivor, *others]

    def union(field: str) -> list[str]:
        return list(dict.fromkeys(v for m in ordered for v in (m.get(field) or [])))

    name = survivor.get("name") or next((m.get("name") for m in others if m.get("name")), None)
    return {
        "survivor_id": survivor_id,
        "survivor_reason": why,
        "merge_ids": [m["record_id"] for m in others],
        "responsible_user_id": survivor.get("responsible_user_id"),
        "lead_ids": union("lead_ids"),
        "company_ids": union("company_ids"),
        "keep": {"name": name, "phones": union("phones"), "emails": union("emails")},
    }
