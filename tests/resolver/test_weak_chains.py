"""No group held by a chain of weak links (resolver/groups.py `build_groups` with `strong`)."""

import itertools

from resolver.feedback import split_group
from resolver.groups import Edge, build_groups
from resolver.records import Pair

STRONG = 0.9


def members(components):
    return {c.members for c in components}


def test_a_weak_chain_a_b_c_without_evidence_between_a_and_c_is_split():
    edges = [Edge("a", "b", 0.7), Edge("b", "c", 0.7)]
    assert members(build_groups(edges, threshold=0.5, strong=STRONG)) == {("a", "b")}
    # without the rule (plain constrained grouping) the chain holds all three
    assert members(build_groups(edges, threshold=0.5)) == {("a", "b", "c")}


def test_a_weak_chain_with_direct_evidence_between_all_members_holds():
    edges = [Edge("a", "b", 0.7), Edge("b", "c", 0.7), Edge("a", "c", 0.6)]
    assert members(build_groups(edges, threshold=0.5, strong=STRONG)) == {("a", "b", "c")}


def test_strong_links_chain_freely():
    edges = [Edge("a", "b", 0.95), Edge("b", "c", 0.97)]
    assert members(build_groups(edges, threshold=0.5, strong=STRONG)) == {("a", "b", "c")}


def test_one_record_weakly_linked_to_a_strong_core_joins_it():
    # x-a weak, a-b-c strong: x reaches b and c through one weak link only
    edges = [Edge("a", "b", 0.99), Edge("b", "c", 0.99), Edge("a", "c", 0.99), Edge("a", "x", 0.7)]
    assert members(build_groups(edges, threshold=0.5, strong=STRONG)) == {("a", "b", "c", "x")}


def test_two_weak_hops_into_a_strong_core_need_direct_evidence():
    # y-x weak and x-a weak: y would reach the core through two weak links
    edges = [Edge("a", "b", 0.99), Edge("a", "x", 0.7), Edge("x", "y", 0.65)]
    assert members(build_groups(edges, threshold=0.5, strong=STRONG)) == {("a", "b", "x")}


def test_a_long_weak_chain_never_becomes_one_group():
    ids = [f"r{i:03d}" for i in range(300)]
    edges = [Edge(a, b, 0.7) for a, b in itertools.pairwise(ids)]
    got = build_groups(edges, threshold=0.5, strong=STRONG)
    assert max(len(c.members) for c in got) == 2


def test_regrouping_after_a_decision_splits_weak_chains_as_the_scan_does():
    pairs = [Pair("contact", "a", "b", 1.0, 0.7), Pair("contact", "b", "c", 1.0, 0.7)]
    got = split_group(entity="contact", pairs=pairs, details={m: {"record_id": m} for m in "abc"},
                      cannot_link=set(), must_link=set(), membership={}, auto_merge_threshold=STRONG)
    assert [g.record_ids for g in got] == [("a", "b")]
