"""Reviewers' decisions take effect at once: stored durably, and every stored group they separate split.

A pair whose decision in force (the latest one received; `undo` withdraws it) is `not_duplicate`
never appears again: here the groups of the last scan are split in the same transaction that
stores the decision, `Checker` leaves separated records out of `check` and `duplicates_of`, and
`scan` reads the decisions itself, so rescans, retrained models and record updates cannot bring
the pair back. A `duplicate` (a link of probability 1.0) or an `undo` regroups the two records'
groups in the same transaction, from the last scan's pairs (separated ones are kept, flagged).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from resolver.errors import InputError, NotFound
from resolver.feedback import apply_decisions
from resolver.records import Decision, DecisionKind, Entity
from resolver.store.interface import Persistence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredDecision:
    """A decision as the log holds it: its number in the account's log (`seq`, from 1) and the decision."""

    seq: int
    decision: Decision


def record_decisions(store: Persistence, account_id: str, decisions: Sequence[Decision]) -> list[StoredDecision]:
    """Append decisions to the account's log and regroup what they change, in one transaction.

    Committed (durable) when this returns. Returns the decisions as stored, in log order.
    """
    rows = apply_decisions(store, account_id, decisions)
    if rows:
        logger.info("account %s: %d decision(s) stored, up to #%d", account_id, len(rows), rows[-1]["seq"])
    return [stored_decision(row) for row in rows]


def stored_decision(row: dict[str, Any]) -> StoredDecision:
    """A `Store.decision_page` row as a StoredDecision."""
    return StoredDecision(int(row["seq"]), Decision(
        entity=row["entity"], left_id=row["left_id"], right_id=row["right_id"], decision=row["decision"],
        reviewer=row["reviewer"], decided_at=row["decided_at"], group_id=row["group_id"]))


def member_decisions(store: Persistence, account_id: str, *, entity: Entity, group_id: str, record_id: str,
                     decision: DecisionKind, reviewer: str | None = None, decided_at: datetime | None = None,
                     field_prefix: str = "", item: int | None = None) -> list[Decision]:
    """"`record_id` is (not) a duplicate of the rest of its group" as one pair decision per other member.

    Members are those of the group in the store's last scan. Raises NotFound when the account has no
    such group of `entity` (another account's group included), InputError (naming
    `<field_prefix>record_id`, batch item `item`) when the record is not a member.

    Example: group {1, 2, 3}, record 3 not a duplicate -> not_duplicate on (1, 3) and (2, 3).
    """
    group = store.group(account_id, group_id)
    if group is None or group["entity"] != entity:
        raise NotFound(f"no {entity} group {group_id} in this account")
    members = [m["record_id"] for m in group["members"]]
    if record_id not in members:
        raise InputError.one(f"record {record_id} is not a member of group {group_id}",
                             field=f"{field_prefix}record_id", item=item)
    return [Decision.of(entity, record_id, other, decision, reviewer=reviewer, decided_at=decided_at,
                        group_id=group_id) for other in sorted(members) if other != record_id]
