"""Reviewers' decisions take effect at once: stored groups split, checks filtered, rescans and retrains honour them."""

from dataclasses import replace

import pytest

from resolver.candidates import Checker
from resolver.entities import spec_for
from resolver.errors import InputError, NotFound
from resolver.feedback import split_separated_groups
from resolver.groups import mint_group_id
from resolver.ingest import read_amocrm
from resolver.linkage import train_settings
from resolver.records import Decision
from resolver.scan import ingest, scan
from resolver.suppression import member_decisions, record_decisions
from tests.resolver.test_scan import PEOPLE, groups, person
from training.synthetic import generate_contacts

# PEOPLE (tests/resolver/test_scan.py) scans into {101, 102, 103} (Иван Петров twice and the call record
# made for his phone, which links both) and {401, 402} (Сергей Орлов); the rest stay alone.
PETROV = mint_group_id("contact", ("101", "102", "103"))
ORLOV = mint_group_id("contact", ("401", "402"))


def no(a, b, **kw):
    return Decision.of("contact", a, b, "not_duplicate", **kw)


def yes(a, b, **kw):
    return Decision.of("contact", a, b, "duplicate", **kw)


def undo(a, b, **kw):
    return Decision.of("contact", a, b, "undo", **kw)


@pytest.fixture
def scanned(store, default_models):
    """Account acme with PEOPLE stored and scanned with the shipped contact model."""
    ingest(store, account_id="acme", entity="contact", records=PEOPLE)
    scan(store, account_id="acme", model=default_models["contact"])
    assert groups(store) == {PETROV: frozenset({"101", "102", "103"}), ORLOV: frozenset({"401", "402"})}
    return store


def stored_pairs(store, account="acme"):
    """The pairs groups are built from: the scan's pairs less those flagged separated."""
    rows = store._execute("SELECT left_id, right_id FROM pairs WHERE account_id = ? AND entity = 'contact' "
                         "AND NOT separated", [account]).fetchall()
    return set(rows)


@pytest.mark.parametrize(
    ("decisions", "expected"),
    [
        # a member rejected from its group goes alone; the rest keep together, under the group's id
        ([no("101", "103"), no("102", "103")], {PETROV: {"101", "102"}, ORLOV: {"401", "402"}}),
        # the pair 101-102 separated while 103 links both: 103 goes with one of them (101: the tie goes by
        # id, as in the scan), never with both; the larger part keeps the id, 102 goes alone
        ([no("102", "101")], {PETROV: {"101", "103"}, ORLOV: {"401", "402"}}),
        # a two-record group separated is no group any more
        ([no("401", "402")], {PETROV: {"101", "102", "103"}}),
        # separated and undone in one batch: the undo is the decision in force, nothing splits
        ([no("401", "402"), undo("401", "402")], {PETROV: {"101", "102", "103"}, ORLOV: {"401", "402"}}),
        # a confirmation changes no stored group; a decision on records in no group neither
        ([yes("101", "102"), no("301", "302")], {PETROV: {"101", "102", "103"}, ORLOV: {"401", "402"}}),
        # a split-off pair that is still linked stays a group of its own, with a new id
        ([no("101", "102"), no("101", "103")],
         {PETROV: {"102", "103"}, ORLOV: {"401", "402"}}),
    ],
    ids=["reject-member-103", "third-record-pair-101-102", "two-record-group-dissolves", "undone-in-the-batch",
         "confirmation-and-outsiders-change-nothing", "reject-member-101"],
)
def test_a_decision_splits_the_stored_groups_at_once(scanned, decisions, expected):
    record_decisions(scanned, "acme", decisions)

    assert groups(scanned) == {gid: frozenset(m) for gid, m in expected.items()}
    in_force = scanned.cannot_links("acme", "contact")
    assert stored_pairs(scanned) & in_force == set()


def test_split_parts_get_their_own_score_survivor_and_plan(scanned):
    # Петров Иван (101) and Иван Петров (102) kept together once the call record 103 is rejected
    record_decisions(scanned, "acme", member_decisions(scanned, "acme", entity="contact", group_id=PETROV,
                                                       record_id="103", decision="not_duplicate", reviewer="anna"))
    group = scanned.group("acme", PETROV)

    assert [m["record_id"] for m in group["members"]] == ["101", "102"]
    assert [(p["left_id"], p["right_id"]) for p in group["pairs"]] == [("101", "102")]
    assert group["group_score"] == pytest.approx(group["pairs"][0]["match_probability"])
    assert (group["size"], group["survivor_id"], group["merge_plan"]["merge_ids"]) == (2, "101", ["102"])


def test_the_log_keeps_every_decision_in_order(scanned):
    first = record_decisions(scanned, "acme", [no("102", "101", reviewer="anna")])
    second = record_decisions(scanned, "acme", [undo("101", "102", reviewer="Пётр"), yes("401", "402")])

    assert [s.seq for s in first + second] == [1, 2, 3]
    assert [(s.decision.left_id, s.decision.right_id, s.decision.decision, s.decision.reviewer)
            for s in first + second] == [("101", "102", "not_duplicate", "anna"), ("101", "102", "undo", "Пётр"),
                                         ("401", "402", "duplicate", None)]
    assert all(s.decision.decided_at is not None for s in first + second)
    assert [d.decision for d in scanned.decisions("acme")] == ["not_duplicate", "undo", "duplicate"]


@pytest.mark.parametrize(
    ("group_id", "record_id", "entity", "error"),
    [
        (PETROV, "401", "contact", InputError),  # a record of another group
        (PETROV, "999", "contact", InputError),
        ("ct-000000000000", "101", "contact", NotFound),
        (PETROV, "101", "company", NotFound),  # the group is a contact group
    ],
    ids=["member-of-another-group", "unknown-record", "unknown-group", "wrong-entity"],
)
def test_member_decisions_refuse_what_is_not_a_member(scanned, group_id, record_id, entity, error):
    with pytest.raises(error) as caught:
        member_decisions(scanned, "acme", entity=entity, group_id=group_id, record_id=record_id,
                         decision="not_duplicate", field_prefix="decisions.2.", item=2)
    if error is InputError:
        assert [(p.field, p.item) for p in caught.value.problems] == [("decisions.2.record_id", 2)]


def test_another_account_cannot_decide_on_a_group(scanned):
    with pytest.raises(NotFound):
        member_decisions(scanned, "globex", entity="contact", group_id=PETROV, record_id="101",
                         decision="not_duplicate")


def test_a_merged_group_is_history_and_stays_whole(scanned):
    scanned.record_merge("acme", ORLOV, survivor_id="401", absorbed_ids=["402"])
    record_decisions(scanned, "acme", [no("401", "402")])

    assert scanned.group("acme", ORLOV)["status"] == "merged"
    assert [m["record_id"] for m in scanned.group("acme", ORLOV)["members"]] == ["401", "402"]


def test_decisions_stored_while_a_scan_ran_split_its_groups_once_saved(scanned):
    # add_decisions stores without splitting, as a decision landing between a scan's read and its save
    scanned.add_decisions("acme", [no("101", "103"), no("102", "103")])
    assert groups(scanned)[PETROV] == {"101", "102", "103"}

    assert split_separated_groups(scanned, "acme", "contact") == 1
    assert groups(scanned)[PETROV] == {"101", "102"}


# --- rescans --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decisions", "expected"),
    [
        # 104 is a namesake of Иван Петров with another phone: the model leaves him out; a reviewer says he
        # is the same man, so he joins (a confirmed link counts as 1.0, below the review threshold too)
        ([yes("101", "104")], {frozenset({"101", "102", "103", "104"}), frozenset({"401", "402"})}),
        # ... and separated from 102 as well: the confirmed link is the strongest and joins first, so 102,
        # who may not share a group with 104, is the one left alone; a separation is never overruled
        ([yes("101", "104"), no("102", "104")], {frozenset({"101", "103", "104"}), frozenset({"401", "402"})}),
        # junk names with nothing in common, confirmed: a group of their own
        ([yes("301", "303")], {frozenset({"101", "102", "103"}), frozenset({"401", "402"}),
                               frozenset({"301", "303"})}),
        # separated, then undone: the rescan joins the pair again
        ([no("401", "402"), undo("402", "401")], {frozenset({"101", "102", "103"}), frozenset({"401", "402"})}),
        # a confirmation about a record no longer in the base groups nothing
        ([yes("401", "999")], {frozenset({"101", "102", "103"}), frozenset({"401", "402"})}),
    ],
    ids=["confirmed-below-threshold", "separation-beats-confirmation", "confirmed-junk-names", "undone-rejoins",
         "confirmed-with-unknown-record"],
)
def test_rescans_follow_the_decisions_in_force(scanned, default_models, decisions, expected):
    record_decisions(scanned, "acme", decisions)
    scan(scanned, account_id="acme", model=default_models["contact"])

    assert set(groups(scanned).values()) == expected


def resuggested(store, checker, rejected, account="acme"):
    """Rejected pairs shown anywhere: in one stored group, among stored pairs, in duplicates_of or check."""
    shown = set()
    member_of = store.group_membership(account, "contact")
    for a, b in rejected:
        if a in member_of and member_of.get(a) == member_of.get(b):
            shown.add(("group", a, b))
        if b in {m.record_id for m in checker.duplicates_of(account, "contact", a, threshold=0.01, limit=100)}:
            shown.add(("duplicates", a, b))
        if a in {m.record_id for m in checker.duplicates_of(account, "contact", b, threshold=0.01, limit=100)}:
            shown.add(("duplicates", b, a))
        probe = person(a, *_values(store, a))
        if b in {m.record_id for m in checker.check(account, probe, threshold=0.01, limit=100)}:
            shown.add(("check", a, b))
    shown |= {("pairs", a, b) for a, b in stored_pairs(store, account) & set(rejected)}
    return shown


def _values(store, record_id):
    row = store.record("acme", "contact", record_id)
    return row["name"], row["phones"] or (), row["emails"] or ()


def test_rejected_pairs_resuggested_after_rescan_and_retrain_0(store, default_models):
    # a base with real duplicates (generated) and PEOPLE; reviewers reject the Петров pair the call record
    # links (the third-record case), the Орлов pair, and every pair of ten generated groups
    model = default_models["contact"]
    base = PEOPLE + read_amocrm(generate_contacts(400, seed=3).entities, "contact")
    ingest(store, account_id="acme", entity="contact", records=base)
    scan(store, account_id="acme", model=model)
    generated = [sorted(m) for gid, m in groups(store).items() if gid not in (PETROV, ORLOV)][:10]
    rejected = [("101", "102"), ("401", "402")] + [(g[i], g[j]) for g in generated
                                                   for i in range(len(g)) for j in range(i + 1, len(g))]
    assert len(generated) == 10
    checker = Checker(store, {"contact": model})
    assert len(resuggested(store, checker, rejected)) >= len(rejected)  # all shown before the decisions

    record_decisions(store, "acme", [no(a, b, reviewer="anna") for a, b in rejected])
    assert resuggested(store, checker, rejected) == set()

    scan(store, account_id="acme", model=model)
    assert resuggested(store, checker, rejected) == set()

    # a record update and a retrain (Splink's parameters from this base, the confirmed pairs as positives)
    ingest(store, account_id="acme", entity="contact", records=[replace(PEOPLE[1], name="Иван Петрович Петров")])
    settings = train_settings(store.scan_input("acme", spec_for("contact")), spec_for("contact"),
                              positive_pairs=[("101", "103")])
    retrained = replace(model, version="retrained-on-acme", settings=settings)
    scan(store, account_id="acme", model=retrained)
    assert resuggested(store, Checker(store, {"contact": retrained}), rejected) == set()
    # the call record still links one of them: the rest of the base is grouped as before
    # not vacuous: the retrained model still groups the generated base
    assert len(groups(store)) >= 10


@pytest.mark.parametrize(
    ("probe_id", "expected"),
    [
        ("102", ["103"]),  # 102 was separated from 101: only the call record is left
        ("", ["101", "102", "103"]),  # a probe without an id has no decisions: all three
        ("555", ["101", "102", "103"]),  # an id no decision names
    ],
    ids=["probe-with-separated-id", "probe-without-id", "probe-with-other-id"],
)
def test_check_leaves_out_records_separated_from_the_probe(scanned, default_models, probe_id, expected):
    record_decisions(scanned, "acme", [no("101", "102")])
    checker = Checker(scanned, {"contact": default_models["contact"]})
    probe = person(probe_id, "Иван Петров", ["+7 916 123 45 67"])

    assert sorted(m.record_id for m in checker.check("acme", probe)) == sorted(
        set(expected) - {probe_id})
    assert sorted(m.record_id for m in checker.duplicates_of("acme", "contact", "101")) == ["103"]


@pytest.mark.parametrize(
    ("among", "expected"),
    [
        # the latest decision on a pair wins; an undo leaves none; another entity or account never counts
        (None, ({("101", "102"), ("401", "402")}, {("101", "104")})),
        (["101", "102", "104"], ({("101", "102")}, {("101", "104")})),
        (["401", "Ольга"], (set(), set())),  # 402 is not among them
        ([], (set(), set())),
    ],
    ids=["whole-log", "among-three", "one-end-only", "among-none"],
)
def test_links_in_force(store, among, expected):
    store.add_decisions("acme", [no("101", "102"), yes("101", "102"), no("102", "101"), no("103", "101"),
                                 undo("101", "103"), yes("104", "101"), no("401", "402")])
    store.add_decisions("acme", [Decision.of("company", "101", "104", "not_duplicate")])
    store.add_decisions("globex", [no("101", "104")])

    assert store.links_in_force("acme", "contact", among) == expected
