"""Constrained grouping of scored pairs, with group ids that stay stable across rescans.

Grouping is Kruskal's algorithm on pairs sorted by match probability, best first: each pair at
or above the threshold joins two groups unless a reviewer separated some member of one from some
member of the other (a cannot-link). So, unlike plain connected components, a strong third
record never pulls a rejected pair back together, and a group's score is its weakest joining
pair: every member is linked to the rest at least that strongly.

No group is held by a chain of weak links: pairs at or above the `strong` probability (the model's
auto-merge threshold) join freely and make strong cores; a weaker pair (a, b) joins two groups only
if every two members x, y it would bring together are a scored pair themselves, or reach each other
through that one weak link (x in a's strong core, y in b's). So A-B and B-C, both weak, with no
evidence between A and C, leave C out of {A, B}; one record weakly linked to a strong core joins it.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from resolver.merge_plan import plan_merge
from resolver.records import Entity, FieldContribution, Group

# Five or more records in one group is rare for real duplicates and common for false groups
LARGE_GROUP_SIZE = 5
# A pair a reviewer confirmed joins a group as a certain link, whatever the model scores it
CONFIRMED_PROBABILITY = 1.0


@dataclass(frozen=True)
class Edge:
    """A scored pair as grouping sees it."""

    left_id: str
    right_id: str
    match_probability: float


@dataclass(frozen=True)
class Component:
    """Members of one group (sorted), its score and the pairs that joined it (a spanning tree)."""

    members: tuple[str, ...]
    score: float
    tree: tuple[Edge, ...]


class _DisjointSets:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        if x not in parent:
            parent[x] = x
            self.members[x] = {x}
            return x
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> str:
        if len(self.members[a]) < len(self.members[b]):
            a, b = b, a
        self.parent[b] = a
        self.members[a] |= self.members.pop(b)
        return a


def build_groups(edges: Iterable[Edge], *, threshold: float,
                 cannot_link: Collection[tuple[str, str]] = (), strong: float | None = None) -> list[Component]:
    """Group records joined by pairs with probability >= threshold, honouring cannot-links.

    Args:
        edges: scored pairs; pairs below `threshold` are ignored.
        threshold: the review threshold of the model.
        cannot_link: pairs a reviewer marked "not a duplicate"; order inside a pair does not matter.
        strong: pairs below it join two groups only when every cross pair of members is itself a
            pair at or above `threshold`; None: every pair joins freely (plain constrained grouping).

    Returns:
        Groups of two or more records, largest score first.

    Example:
        >>> g = build_groups([Edge("1", "2", 0.99), Edge("2", "3", 0.98)], threshold=0.9,
        ...                  cannot_link=[("1", "3")])
        >>> [c.members for c in g]
        [('1', '2')]
    """
    forbidden: dict[str, set[str]] = {}
    for a, b in cannot_link:
        forbidden.setdefault(a, set()).add(b)
        forbidden.setdefault(b, set()).add(a)
    ds = _DisjointSets()
    tree: dict[str, list[Edge]] = {}
    ordered = sorted((e for e in edges if e.match_probability >= threshold),
                     key=lambda e: (-_tie(e.match_probability), e.left_id, e.right_id))
    linked: dict[str, set[str]] = {}
    if strong is not None:
        for e in ordered:
            linked.setdefault(e.left_id, set()).add(e.right_id)
            linked.setdefault(e.right_id, set()).add(e.left_id)
    cores: dict[str, frozenset[str]] | None = None  # record -> its strong core, once the weak pairs start
    for edge in ordered:
        ra, rb = ds.find(edge.left_id), ds.find(edge.right_id)
        if ra == rb:
            continue
        if forbidden and _separated(ds.members[ra], ds.members[rb], forbidden):
            continue
        if strong is not None and edge.match_probability < strong:
            if cores is None:  # pairs come strongest first: the groups so far are the strong cores
                cores = {m: frozenset(ms) for ms in ds.members.values() for m in ms}
            core_a = cores.get(edge.left_id, frozenset({edge.left_id}))
            core_b = cores.get(edge.right_id, frozenset({edge.right_id}))
            if not _one_weak_hop(ds.members[ra], ds.members[rb], core_a, core_b, linked):
                continue
        joined = tree.pop(ra, []) + tree.pop(rb, []) + [edge]
        tree[ds.union(ra, rb)] = joined
    out = [
        Component(members=tuple(sorted(ds.members[root])), score=min(e.match_probability for e in t), tree=tuple(t))
        for root, t in tree.items()
    ]
    out.sort(key=lambda c: (-_tie(c.score), c.members))
    return out


def _tie(p: float) -> float:
    # equal scores up to the last bits of a float sum (Splink's SQL and resolver/scoring.py add the same
    # weights in another order) order by ids, so an incremental scan builds the same trees as a full one
    return round(p, 9)


def _one_weak_hop(group_a: set[str], group_b: set[str], core_a: frozenset[str], core_b: frozenset[str],
                  linked: Mapping[str, set[str]]) -> bool:
    # every x of one group and y of the other: a scored pair, or x in core_a and y in core_b (one weak hop)
    for x in group_a:
        need = group_b - core_b if x in core_a else group_b
        if not need <= linked.get(x, set()):
            return False
    return True


def _separated(a: set[str], b: set[str], forbidden: Mapping[str, set[str]]) -> bool:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return any(not forbidden.get(x, set()).isdisjoint(large) for x in small)


def assign_group_ids(entity: Entity, components: Sequence[Component],
                     previous: Mapping[str, str]) -> list[str]:
    """A stable id per component: the same members keep their id across rescans.

    A group that gains or loses members keeps the id of the previous group it shares the most
    members with (its largest part); when an old group splits, the part with the most of its
    members keeps the id and the others get new ones. New ids hash the sorted member ids, so a
    fresh store gives the same ids for the same groups.
    """
    overlaps: list[tuple[int, str, int]] = []  # (shared members, old id, component index)
    for i, comp in enumerate(components):
        counts = Counter(previous[m] for m in comp.members if m in previous)
        overlaps.extend((n, old, i) for old, n in counts.items())
    overlaps.sort(key=lambda t: (-t[0], t[1], t[2]))
    ids: list[str | None] = [None] * len(components)
    taken: set[str] = set()
    for _, old, i in overlaps:
        if ids[i] is None and old not in taken:
            ids[i] = old
            taken.add(old)
    for i, comp in enumerate(components):
        if ids[i] is None:
            new = mint_group_id(entity, comp.members)
            while new in taken:  # only if a kept id happens to equal this hash: extend it
                new = mint_group_id(entity, (*comp.members, new))
            ids[i] = new
            taken.add(new)
    return [i for i in ids if i is not None]


def mint_group_id(entity: Entity, members: Iterable[str]) -> str:
    """A new group id derived from the entity and members, e.g. `ct-3f9a1b2c4d5e` (`co-` for companies)."""
    digest = hashlib.sha1("\x1f".join([entity, *sorted(members)]).encode()).hexdigest()[:12]
    return f"{_ID_PREFIX[entity]}-{digest}"


_ID_PREFIX: dict[str, str] = {"contact": "ct", "company": "co"}


# Fields whose value one person can share with many (a school's email, an office line): a group
# that only such a value holds together is the classic false group an analyst catches by hand.
SHARED_VALUE_FIELDS = frozenset({"phone", "email"})


def review_reasons(comp: Component, explanations: Mapping[tuple[str, str], Sequence[FieldContribution]], *,
                   auto_merge_threshold: float, large_group_size: int) -> list[str]:
    """Why a group should be looked at by a person before it is merged (empty: safe to auto-merge).

    `explanations` maps (left_id, right_id) to the pair's per-field contributions.
    """
    reasons = []
    if len(comp.members) >= large_group_size:
        reasons.append(f"large group: {len(comp.members)} records")
    if comp.score < auto_merge_threshold:
        reasons.append(f"weakest link {comp.score:.3f} is below the auto-merge threshold {auto_merge_threshold:g}")
    for edge in comp.tree:
        positive = {c.field for c in explanations.get((edge.left_id, edge.right_id), ()) if c.match_weight > 0}
        if len(positive) == 1 and positive <= SHARED_VALUE_FIELDS:
            (only,) = positive
            reasons.append(f"{edge.left_id} and {edge.right_id} are linked only by a shared {only}")
            break
    return reasons


def describe_groups(entity: Entity, components: Sequence[Component], ids: Sequence[str],
                    details: Mapping[str, dict[str, Any]],
                    explained: Mapping[tuple[str, str], Sequence[FieldContribution]], *,
                    auto_merge_threshold: float) -> list[Group]:
    """Groups as the store keeps them: members, score, review reasons, survivor and merge plan.

    `details` are `record_details` rows of the members (the merge plan needs them).
    """
    groups = []
    for group_id, comp in zip(ids, components, strict=True):
        plan = plan_merge([details[m] for m in comp.members])
        reasons = review_reasons(comp, explained, auto_merge_threshold=auto_merge_threshold,
                                 large_group_size=LARGE_GROUP_SIZE)
        groups.append(Group(entity=entity, group_id=group_id, record_ids=comp.members, group_score=comp.score,
                            needs_review=bool(reasons), review_reasons=tuple(reasons),
                            survivor_id=plan["survivor_id"], merge_plan=plan))
    return groups


def ordered_pair(pair: tuple[str, str]) -> tuple[str, str]:
    """The pair with the smaller id first, as pairs and decisions are stored."""
    a, b = pair
    return (a, b) if a < b else (b, a)
