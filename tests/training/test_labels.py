"""Decisions in force -> labeled pairs: the latest decision wins, undo removes the label, dead records drop out."""

import pytest

from resolver.records import Decision
from training.labels import LabeledPair, labeled_pairs, labels_from_decisions

D = Decision.of


@pytest.mark.parametrize(("decisions", "expected"), [
    ([D("contact", "2", "1", "duplicate")], [LabeledPair("1", "2", 1)]),
    ([D("contact", "1", "2", "not_duplicate")], [LabeledPair("1", "2", 0)]),
    # an undo that reaches here (not via the store) carries no label
    ([D("contact", "1", "2", "undo")], []),
    # Cyrillic ids sort as strings; output is sorted by pair
    ([D("contact", "я-2", "а-1", "not_duplicate"), D("contact", "1", "3", "duplicate")],
     [LabeledPair("1", "3", 1), LabeledPair("а-1", "я-2", 0)]),
], ids=["duplicate-is-1", "not-duplicate-is-0", "undo-skipped", "cyrillic-ids-sorted"])
def test_labels_from_decisions(decisions, expected):
    assert labels_from_decisions(decisions) == expected


def test_latest_decision_wins_and_undo_withdraws(store):
    store.add_decisions("acme", [
        D("contact", "1", "2", "duplicate"),
        D("contact", "2", "1", "not_duplicate"),  # the same pair spelled the other way: the latest wins
        D("contact", "3", "4", "not_duplicate"),
        D("contact", "3", "4", "undo"),  # withdrawn: no label
        D("contact", "5", "6", "duplicate"),
    ])
    store.add_decisions("other", [D("contact", "7", "8", "duplicate")])  # another account's label never leaks
    assert labeled_pairs(store, "acme", "contact") == [LabeledPair("1", "2", 0), LabeledPair("5", "6", 1)]
    assert labeled_pairs(store, "acme", "company") == []


def test_pairs_with_a_record_no_longer_live_are_dropped(store):
    store.add_decisions("acme", [D("contact", "1", "2", "duplicate"), D("contact", "1", "9", "not_duplicate")])
    assert labeled_pairs(store, "acme", "contact", live_ids={"1": None, "2": None}) == [LabeledPair("1", "2", 1)]
