"""The regroup reviewers' decisions cause: split the groups a separation breaks, rejoin what an undo allows.

Domain logic over store primitives (`resolver/store/interface.py`): every step of one call runs
inside one `store.transaction()`, so no reader ever sees a decision whose group is not yet split,
and a failure leaves the store as it was. `resolver/suppression.py` stores decisions through
`apply_decisions`; a scan calls `split_separated_groups` for decisions that arrived while it ran.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from resolver.groups import CONFIRMED_PROBABILITY, Edge, assign_group_ids, build_groups, describe_groups, ordered_pair
from resolver.records import Decision, Entity, Group, Pair
from resolver.store.interface import Persistence

logger = logging.getLogger(__name__)


def apply_decisions(store: Persistence, account_id: str, decisions: Sequence[Decision]) -> list[dict[str, Any]]:
    """Append decisions and regroup what they change, all in one transaction.

    Every open group a `not_duplicate` separates is split; an `undo` or a `duplicate` joins the
    groups of its two records again where the scored pairs (or the confirmation) link them.
    Durable when this returns. Returns the decisions as stored (`decision_page` rows).
    """
    if not decisions:
        return []
    with store.transaction():
        rows = store.append_decisions(account_id, decisions)
        for entity in sorted({d.entity for d in decisions}):
            # groups were consistent with the earlier decisions: only these records can need a split
            ids = sorted({i for d in decisions if d.entity == entity for i in (d.left_id, d.right_id)})
            _split_separated(store, account_id, entity, among=ids)
            joining = sorted({(d.left_id, d.right_id) for d in decisions
                              if d.entity == entity and d.decision != "not_duplicate"})
            _rejoin(store, account_id, entity, joining)
    return rows


def split_separated_groups(store: Persistence, account_id: str, entity: Entity) -> int:
    """Split every open group holding a pair a reviewer separated; returns how many were split."""
    with store.transaction():
        return _split_separated(store, account_id, entity)


def split_group(*, entity: Entity, pairs: Sequence[Pair],
                details: Mapping[str, dict[str, Any]], cannot_link: set[tuple[str, str]],
                must_link: set[tuple[str, str]], membership: Mapping[str, str],
                auto_merge_threshold: float) -> list[Group]:
    """The parts records of stored groups fall into once reviewers separated (or joined) some of them.

    `pairs` are the last scan's pairs among the records (`Store.group_pairs`, `Store.pairs_among`); the
    separated ones are left out and confirmed pairs (`must_link`) added, then grouped again as the
    scan groups (constrained, strongest first). Each part keeps the id most of its members had
    (`membership`: record_id -> group_id), others get new ids; records left alone leave the groups.
    Each part gets its own score, review reasons and merge plan. `details`: `record_details` rows.
    """
    separated = {ordered_pair(p) for p in cannot_link}
    edges = [Edge(p.left_id, p.right_id, p.match_probability) for p in pairs
             if (p.left_id, p.right_id) not in separated]
    edges += [Edge(a, b, CONFIRMED_PROBABILITY) for a, b in sorted(must_link) if (a, b) not in separated]
    # every stored pair already passed the scan's review threshold
    components = build_groups(edges, threshold=0.0, cannot_link=separated, strong=auto_merge_threshold)
    ids = assign_group_ids(entity, components, membership)
    explained = {(p.left_id, p.right_id): p.contributions for p in pairs}
    return describe_groups(entity, components, ids, details, explained, auto_merge_threshold=auto_merge_threshold)


def _split_separated(store: Persistence, account_id: str, entity: Entity, *,
                     among: Sequence[str] | None = None) -> int:
    """Step split_separated, inside the caller's transaction.

    Every open group of the last scan that holds a pair whose decision in force is
    `not_duplicate` (a pair of records in `among`, when given) is replaced by its parts, and
    separated pairs are flagged (kept for an undo, never shown). Merged groups stay as the widget
    reported them: that merge happened in the CRM.
    """
    separated_pairs, _ = store.links_in_force(account_id, entity, among)
    if not separated_pairs:
        return 0
    cannot = sorted(separated_pairs)
    store.set_pairs_separated(account_id, entity, cannot, separated=True)
    affected = store.open_groups_holding(account_id, entity, cannot)
    for found in affected:
        group_id = found["group_id"]
        members = store.group_member_ids(account_id, entity, group_id)
        separated_inside, confirmed_inside = store.links_in_force(account_id, entity, members)
        parts = split_group(
            entity=entity, pairs=store.group_pairs(account_id, entity, group_id),
            details=store.record_details(account_id, entity, members), cannot_link=separated_inside,
            must_link=confirmed_inside, membership=dict.fromkeys(members, group_id),
            auto_merge_threshold=float(found["auto_merge_threshold"]))
        store.replace_groups(account_id, entity, found["scan_id"], [group_id], parts)
        logger.info("group %s of %s/%s split by reviewers' decisions into %d group(s)", group_id, account_id,
                    entity, len(parts))
    return len(affected)


def _rejoin(store: Persistence, account_id: str, entity: Entity, pairs: Sequence[tuple[str, str]]) -> int:
    """Step rejoin, inside the caller's transaction: regroup around pairs no longer separated.

    For each pair (an `undo`, a `duplicate`) whose records are live, in no merged group and not
    already together, their open groups and the two records are grouped again from the last
    scan's pairs among them (an undone separation's pair is unflagged first) and the decisions in
    force. The largest part keeps the id most of its members had. Returns how many pairs regrouped.
    """
    if not pairs:
        return 0
    separated, _ = store.links_in_force(account_id, entity, sorted({i for p in pairs for i in p}))
    undone = [p for p in pairs if p not in separated]
    store.set_pairs_separated(account_id, entity, undone, separated=False)
    last = store.last_scan(account_id, entity)
    if last is None:
        return 0
    regrouped = 0
    for a, b in undone:
        rows = store.groups_of_records(account_id, entity, [a, b])
        membership = {r["record_id"]: r["group_id"] for r in rows}
        if any(r["status"] != "open" for r in rows) or (a in membership and membership.get(a) == membership.get(b)):
            continue
        members = sorted({a, b} | {r["record_id"] for r in rows if r["live"]})
        live = store.live_record_ids(account_id, entity, members)
        if a not in live or b not in live:
            continue
        members = [m for m in members if m in live]
        cannot, must = store.links_in_force(account_id, entity, members)
        parts = split_group(
            entity=entity, pairs=store.pairs_among(account_id, entity, members),
            details=store.record_details(account_id, entity, members), cannot_link=cannot, must_link=must,
            membership=membership, auto_merge_threshold=float(last["auto_merge_threshold"]))
        store.replace_groups(account_id, entity, last["scan_id"], sorted(set(membership.values())), parts)
        regrouped += 1
        logger.info("records %s and %s of %s/%s regrouped at once: %d group(s)", a, b, account_id, entity,
                    len(parts))
    return regrouped
