"""Reviewer decisions in force -> labeled pairs (1 duplicate, 0 not a duplicate) for training and evaluation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from resolver.records import Decision, Entity
from resolver.store.interface import Persistence

LABEL_OF = {"duplicate": 1, "not_duplicate": 0}


@dataclass(frozen=True)
class LabeledPair:
    """A pair a reviewer judged; `label` 1 is a duplicate, 0 is not. `left_id` < `right_id`."""

    left_id: str
    right_id: str
    label: int


def labels_from_decisions(decisions: Iterable[Decision]) -> list[LabeledPair]:
    """Labeled pairs from decisions already reduced to one per pair (the latest, as the store gives them).

    `undo` carries no label: the store drops undone pairs, and one passed here is skipped too.
    Sorted by pair, so splits and folds built from them are reproducible.
    """
    out = {(d.left_id, d.right_id): LABEL_OF[d.decision] for d in decisions if d.decision in LABEL_OF}
    return [LabeledPair(a, b, label) for (a, b), label in sorted(out.items())]


def labeled_pairs(store: Persistence, account_id: str, entity: Entity, *,
                  live_ids: Mapping[str, object] | None = None) -> list[LabeledPair]:
    """The account's labels for one entity: the latest decision on each pair, undone pairs left out.

    With `live_ids` (record id -> anything, e.g. the scan input's rows) pairs with a record no
    longer live (deleted, merged away) are dropped: nothing can be scored for them.
    """
    pairs = labels_from_decisions(store.decisions_in_force(account_id, entity).values())
    if live_ids is None:
        return pairs
    return [p for p in pairs if p.left_id in live_ids and p.right_id in live_ids]
