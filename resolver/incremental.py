"""Incremental scans: score only the pairs that touch new or changed records, regroup only what they affect.

After a full scan (resolver/scan.py) the store keeps its state: the newest write stamp it read, the
model, the base size, the term-frequency totals and every record's count-sensitive values
(`scan_records`: its phones, emails and name). A pair's score depends on its two records and on counts
over the base: how many names carry a phone or email (the `*_rare`/`*_few` classes), how often a name
occurs (term frequency) and, for the prior, the base size. So an incremental scan scores again

- every pair the blocking rules make with a changed record (written since the snapshot: `ingested_at`),
  against the whole base, from the blocking keys the store keeps (resolver/blocking.py);
- the pairs among the holders of a value a changed record holds or held, when that value's count moved
  its class or its (rounded) term frequency;
- with evidence rules (resolver/evidence.py: contacts), the pairs of namesakes at one company where a
  changed record holds or held the name or the company: the new-phone rule weighs them with the name's
  records and the company's distinct names over the base (`_EvidenceCounts`). Pairs are scored down to
  the spec's prediction floor, weighed as `guard_pairs` weighs them, then cut at the review threshold;

and keeps every other stored pair. The holders of a value are found by index (blocking keys, record
columns), and the pairs in one query (store.candidate_pairs) that leaves out, as the full scan's narrowed
rules do (resolver/pruning.py), the pairs that cannot reach the review threshold (the prediction floor
for one name at one company) by their cheap comparison states (`_Pruning`); the pairs among a rarer
name's holders are bounded with that name's frequency, not the rarest. So only the pairs that can
matter are read and scored: at 318,000 contacts with 1,000 changed, about 20,000 of 500,000 blocked.

Base size, term-frequency totals and large counts are rounded
(linkage.rounded_base, tf_value), so a few changes leave the other pairs exactly as a full scan scores
them. Groups are rebuilt only for the connected components (over the scored pairs) holding a record whose
pairs were scored again; group ids follow the same rule as a full scan's.

The result is identical to a full scan of the same base (tests/resolver/test_incremental_scan.py). A full
scan runs instead, and the result says why (`fallback`), when there is no state, the model changed, the
account has its own fields, more than `MAX_CHANGED_SHARE` of the records changed, the rounded base size
or a term-frequency total moved (drift; the new-phone rule's name shares use the same rounded base size,
evidence.name_base), the blocking rules are not the stored keys, or
the model weighs evidence or re-ranks with base-wide statistics this path does not compute yet (companies'
discount of values many names share, a reviewers' re-ranker).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from resolver.blocking import rule_columns, rules_are_keys
from resolver.entities import FEW_MAX, RARE_MAX, EntitySpec, spec_for
from resolver.evidence import RESCUE_COMPANY_COLUMN, EvidenceGuard, apply_guard
from resolver.explain import contributions_json, explain_pairs, parse_contributions
from resolver.feedback import split_separated_groups
from resolver.groups import CONFIRMED_PROBABILITY, Edge, assign_group_ids, build_groups, describe_groups
from resolver.linkage import Model, Progress, rounded_base, tf_columns, tf_value
from resolver.pruning import hopeless, scorer_for
from resolver.records import Entity, FieldContribution
from resolver.scoring import PairScorer, probability
from resolver.store.interface import Persistence

if TYPE_CHECKING:  # scan imports this module
    from resolver.scan import ScanResult

logger = logging.getLogger(__name__)

MAX_CHANGED_SHARE = 0.20  # more changed records than this: a full scan is as cheap and simpler


def model_key(model: Model) -> str:
    """What identifies a model's scores: its version, settings, thresholds and whether it re-ranks, and the
    values the stored state keeps per record (a state that lacks some cannot count them: a full scan first)."""
    blob = json.dumps([model.settings, model.review_threshold, model.auto_merge_threshold,
                       model.reranker is not None, [e.name for e in model.extras],
                       value_columns(spec_for(model.entity), model)], sort_keys=True, default=str)
    return f"{model.version}:{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def value_columns(spec: EntitySpec, model: Model) -> list[str]:
    """The columns whose values' counts over the base move a pair's score (see the module doc)."""
    cols = {*spec.frequency_columns, spec.name_column, *tf_columns(model.settings)}
    for shared in spec.shared_values.values():
        cols.update(shared)
    known = {c.name for c in spec.columns}
    return sorted(c for c in cols if c in known)


def vals_of(row: Mapping[str, Any], columns: Sequence[str]) -> list[str]:
    """A record's count-sensitive values as "<column>:<value>" (as `scan_vals_table` makes them)."""
    out: list[str] = []
    for col in columns:
        value = row.get(col)
        if isinstance(value, list | tuple):
            out += [f"{col}:{v}" for v in value if v is not None]
        elif value is not None:
            out.append(f"{col}:{value}")
    return sorted(set(out))


def scan_vals_table(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """(record_id, vals) for every record of a scan input, vectorised; the same values `vals_of` gives."""
    parts = []
    for col in columns:
        if pa.types.is_list(table.schema.field(col).type):
            parts.append(f"list_transform(list_filter(coalesce(\"{col}\", []), lambda v: v IS NOT NULL), "
                         f"lambda v: '{col}:' || v)")
        else:
            parts.append(f"CASE WHEN \"{col}\" IS NULL THEN []::VARCHAR[] ELSE ['{col}:' || \"{col}\"] END")
    expr = "list_sort(list_distinct(" + ("list_concat(" + ", ".join(parts) + ")" if len(parts) > 1 else parts[0]) + "))"
    with duckdb.connect() as con:
        con.register("base", table.select(["unique_id", *columns]))
        sql = f"SELECT unique_id AS record_id, coalesce({expr}, []::VARCHAR[]) AS vals FROM base"
        return con.sql(sql).to_arrow_table()


def scan_state(table: pa.Table, model: Model, spec: EntitySpec, *, scan_id: str,
               snapshot: datetime | None) -> dict[str, Any]:
    """The state a full scan of `table` leaves for the next incremental one."""
    totals = {col: table.num_rows - table.column(col).null_count for col in tf_columns(model.settings)}
    return {"scan_id": scan_id, "snapshot": snapshot, "model_key": model_key(model), "n_base": table.num_rows,
            "totals": totals}


def full_scan_reason(store: Persistence, account_id: str, model: Model) -> str | None:
    """Why this account and model cannot be scanned incrementally at all (before looking at changes)."""
    spec = spec_for(model.entity)
    state = store.scan_state(account_id, model.entity)
    if state is None or state["snapshot"] is None:
        return "no earlier scan to build on"
    if state["model_key"] != model_key(model):
        return "the model changed since the last scan"
    if model.extras or store.extra_fields(account_id, model.entity):
        return "the account has its own fields"
    if not rules_are_keys(model.settings, spec):
        return "the model's blocking rules are not the stored blocking keys"
    unkeyed = set(value_columns(spec, model)) - set(_scalar_columns(spec, value_columns(spec, model))) - set(
        spec.key_columns)
    if unkeyed:
        return f"the values of {', '.join(sorted(unkeyed))} are not stored blocking keys"
    if spec.conflict is not None and spec.discount_common_values:
        return f"{model.entity} evidence rules need base-wide counts an incremental scan does not compute yet"
    if model.reranker is not None:
        return "the model's re-ranker needs base-wide features an incremental scan does not compute yet"
    return None


def incremental_scan(store: Persistence, *, account_id: str, model: Model, progress: Progress | None = None,
                     max_changed_share: float = MAX_CHANGED_SHARE) -> ScanResult:
    """Scan `model.entity` of the account incrementally, or fully when that is not possible.

    Returns resolver.scan.ScanResult with `mode` "incremental" or "full" and, for a full one, `fallback`:
    why it was not incremental.
    """
    from resolver.scan import scan  # scan imports this module

    entity = model.entity
    spec = spec_for(entity)
    reason = full_scan_reason(store, account_id, model)
    plan: _Plan | None = None
    if reason is None:
        plan, reason = _plan(store, account_id, model, spec, max_changed_share)
    if plan is None:
        logger.info("scan of %s/%s is a full one: %s", account_id, entity, reason)
        result = scan(store, account_id=account_id, model=model, progress=progress)
        return replace(result, mode="full", fallback=reason)
    return _run(store, account_id, model, spec, plan, progress)


class StepTimer:
    """`step(name, i)` ends step `name` (its seconds into `seconds`) and reports progress `i` of `count`."""

    def __init__(self, progress: Progress | None, count: int) -> None:
        self.progress, self.count = progress, count
        self.seconds: dict[str, float] = {}
        self._t0 = time.perf_counter()

    def __call__(self, name: str, i: int) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(now - self._t0, 3)
        self._t0 = now
        if self.progress:
            self.progress(i, self.count)


class _Plan:
    """What changed since the last scan and the state to compare against."""

    def __init__(self, state: dict[str, Any], snapshot: datetime | None, changed: list[dict[str, Any]],
                 n_base: int, totals: dict[str, int]) -> None:
        self.state, self.snapshot, self.changed, self.n_base, self.totals = state, snapshot, changed, n_base, totals


def _plan(store: Persistence, account_id: str, model: Model, spec: EntitySpec,
          max_share: float) -> tuple[_Plan | None, str | None]:
    state = store.scan_state(account_id, model.entity)
    assert state is not None
    snapshot = store.scan_snapshot(account_id, model.entity)  # before reading: a later write is a later change
    changed = store.records_changed_since(account_id, spec, state["snapshot"])
    n_base = store.count_records(account_id, model.entity)
    if len(changed) > max_share * max(n_base, 1):
        return None, f"{len(changed)} of {n_base} records changed (more than {max_share:.0%})"
    if rounded_base(n_base) != rounded_base(int(state["n_base"])):
        return None, f"the base size moved from {state['n_base']} to {n_base} (drift)"
    totals = {}
    for col in tf_columns(model.settings):
        _, totals[col] = store.value_totals(account_id, model.entity, col, [])
        if rounded_base(totals[col]) != rounded_base(int(state["totals"].get(col, -1))):
            return None, f"the values of {col} moved from {state['totals'].get(col)} to {totals[col]} (drift)"
    return _Plan(state, snapshot, changed, n_base, totals), None


def _run(store: Persistence, account_id: str, model: Model, spec: EntitySpec, plan: _Plan,
         progress: Progress | None) -> ScanResult:
    from resolver.scan import ScanResult

    entity: Entity = model.entity
    started = datetime.now(UTC)
    step = StepTimer(progress, 4)
    seconds = step.seconds

    columns = value_columns(spec, model)
    changed = {r["unique_id"] for r in plan.changed}
    live_changed = [r for r in plan.changed if not r.get("deleted") and r.get("merged_into") is None]
    old = store.scan_vals(account_id, entity, sorted(changed))
    new = {r["unique_id"]: vals_of(r, columns) for r in live_changed}
    touched = {v for vs in (*old.values(), *new.values()) for v in vs}
    # the records holding a touched value, with their values as the last scan stored them (those the
    # changed records held before included)
    before = {r: set(v) for r, v in store.scan_holders(account_id, entity, sorted(touched),
                                                       scalar=_scalar_columns(spec, columns)).items()}
    before.update((r, set(v)) for r, v in old.items() if v)
    moved = _moved_values(model, spec, changed, new, before, sorted(touched), plan)
    step("read", 1)

    scored, rescored, stored = _score(store, account_id, model, spec, changed, moved, plan,
                              _EvidenceCounts(store, account_id, spec, changed, new, touched, before))
    separated, confirmed = store.links_in_force(account_id, entity)
    keys = list(zip(scored.column("left_id").to_pylist(), scored.column("right_id").to_pylist(), strict=True))
    is_separated = pa.array([k in separated for k in keys], pa.bool_())
    explained = explain_pairs(scored, model)
    step("predict", 2)

    scan_id = uuid.uuid4().hex
    groups, removed, dropped = _regroup(store, account_id, model, changed, rescored, stored, scored,
                                        is_separated.to_pylist(), explained, separated, confirmed)
    step("group", 3)
    pair_rows = pa.table({
        "left_id": scored.column("left_id"), "right_id": scored.column("right_id"),
        "match_weight": scored.column("match_weight"), "match_probability": scored.column("match_probability"),
        "contributions": pa.array([contributions_json(explained[k]) for k in keys], pa.string()),
        "separated": is_separated,
    })
    scan_row = {"scan_id": scan_id, "started_at": started, "finished_at": datetime.now(UTC),
                "model_version": model.version, "review_threshold": model.review_threshold,
                "auto_merge_threshold": model.auto_merge_threshold, "n_records": plan.n_base}
    state = {"scan_id": scan_id, "snapshot": plan.snapshot, "model_key": model_key(model), "n_base": plan.n_base,
             "totals": plan.totals}
    vals = pa.table({"record_id": pa.array(sorted(new), pa.string()),
                     "vals": pa.array([new[r] for r in sorted(new)], pa.list_(pa.string()))})
    with store.transaction():
        store.replace_pairs_of(account_id, entity, sorted(changed), pair_rows, scan=scan_row, drop=sorted(dropped))
        store.replace_groups(account_id, entity, scan_id, sorted(removed), groups)
        store.save_scan_state(account_id, entity, state, vals, replace=sorted(changed))
    late = split_separated_groups(store, account_id, entity)
    step("save", 4)
    last = store.last_scan(account_id, entity) or {}
    result = ScanResult(
        scan_id=scan_id, entity=entity, model_version=model.version, n_records=plan.n_base,
        n_pairs=int(last.get("n_pairs") or 0), n_groups=int(last.get("n_groups") or 0),
        n_grouped_records=sum(len(g.record_ids) for g in groups), seconds=seconds, mode="incremental",
        n_changed=len(changed), n_rescored=scored.num_rows)
    logger.info("incremental scan %s of %s/%s: %d changed, %d values whose counts moved, %d pairs scored again, "
                "%d at or above the threshold, %d groups rebuilt in %s%s", scan_id, account_id, entity, len(changed),
                len(moved), len(rescored), scored.num_rows, len(groups), seconds,
                f"; {late} split by decisions made meanwhile" if late else "")
    return result


def _scalar_columns(spec: EntitySpec, columns: Iterable[str]) -> list[str]:
    """Those of `columns` the store finds holders of in the records themselves (the list columns' values are
    blocking keys: full_scan_reason checks it)."""
    lists = {c.name for c in spec.columns if c.sql_type.endswith("[]")}
    return sorted(c for c in columns if c not in lists)


def _moved_values(model: Model, spec: EntitySpec, changed: set[str], new: Mapping[str, list[str]],
                  before: Mapping[str, set[str]], touched: Sequence[str],
                  plan: _Plan) -> dict[str, tuple[list[str], bool]]:
    """Values the changed records hold or held whose counts moved a score: value -> (its holders now, whether a
    pair among them below the threshold may rise above it; else only their stored pairs are scored again).

    A phone's or email's count matters only through the rare/few classes (value_frequency.sql), a name's
    through its term frequency (rounded, linkage.tf_value). Counts come from the stored scan values: the
    last scan's, with the changed records' new ones in place of their old.
    """
    after = {r: v for r, v in before.items() if r not in changed}
    after.update((r, set(v)) for r, v in new.items())
    name_tag = f"{spec.name_column}:"
    freq, tf_cols = set(spec.frequency_columns), set(tf_columns(model.settings))
    wanted = set(touched)

    def index(holders: Mapping[str, set[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r, vals in holders.items():
            for v in vals & wanted:
                out.setdefault(v, []).append(r)
        return out

    def names(holders: Mapping[str, set[str]], ids: Sequence[str]) -> int:
        return len({n for r in ids for n in holders[r] if n.startswith(name_tag)})

    by_before, by_after = index(before), index(after)
    moved: dict[str, tuple[list[str], bool]] = {}
    for tag in touched:
        col = tag.split(":", 1)[0]
        was, now = by_before.get(tag, []), by_after.get(tag, [])
        shift, rising = False, True
        if col in freq:
            nb, na = names(before, was), names(after, now)
            shift = (nb <= RARE_MAX, nb <= FEW_MAX) != (na <= RARE_MAX, na <= FEW_MAX)
        if col in tf_cols and not shift:
            tf_before = tf_value(len(was), int(plan.state["totals"][col]))
            tf_after = tf_value(len(now), plan.totals[col])
            # a commoner name weighs less: its pairs below the threshold stay below, only stored ones move
            shift, rising = tf_before != tf_after, tf_after < tf_before
        if shift:
            moved[tag] = (sorted(now), rising)
    return moved


def _score(store: Persistence, account_id: str, model: Model, spec: EntitySpec, changed: set[str],
           moved: Mapping[str, tuple[list[str], bool]], plan: _Plan,
           base_counts: _EvidenceCounts) -> tuple[pa.Table, set[tuple[str, str]], set[tuple[str, str]]]:
    """The pairs scored again (blocked with a changed record; among the holders of each moved value and of
    each touched name at a company; the stored pairs among them), scored as Splink scores them in a full
    scan of the base: those at or above the review threshold in predict_pairs' shape (left_id, right_id,
    match_weight, match_probability, gamma_/mw_/mw_tf_adj_), every pair scored again, and those of them the
    last scan stored."""
    settings = model.settings_for_base(plan.n_base)
    # as a full scan: Splink's pairs down to the prediction floor only where the new-phone rule may raise them
    # (one name at one company), the others down to the review threshold; then the evidence rules
    floor = model.review_threshold
    if spec.conflict is not None:
        floor = min(floor, spec.prediction_floor or floor)
    tf_floor = {col: tf_value(1, n) if n else 0.0 for col, n in plan.totals.items()}
    pruning = _Pruning(settings, model.review_threshold, floor, tf_floor, spec)
    # the pairs among the holders of a value whose term frequency fell share that value: they are bounded with
    # its frequency now, not the rarest one (floored to a power of two: fewer bounds, each still an upper one)
    groups: list[tuple[Sequence[str], bool, int]] = []
    for tag, (holders, rising) in sorted(moved.items()):
        col = tag.split(":", 1)[0]
        bound = 0
        if rising and holders and col == pruning.tf_column:
            bound = pruning.bound(math.floor(math.log2(tf_value(len(holders), plan.totals[col]))))
        groups.append((holders, rising, bound))
    groups += [(ids, True, 0) for ids in base_counts.namesakes()]
    found = store.candidate_pairs(account_id, model.entity, sorted(changed), groups, kept_keys=pruning.kept_keys,
                                  code=pruning.code, pruned=pruning.pruned)
    rescored = {(a, b) for a, b, _ in found}
    stored = {(a, b) for a, b, was in found if was}
    ids = sorted({i for pair in rescored for i in pair})
    rows, tf = _scoring_rows(store, account_id, model, spec, ids, plan.totals)
    scored = _scored_table(scorer_for(settings), model, rows, sorted(rescored), tf,
                           (model.review_threshold, floor), spec)
    if spec.conflict is not None and scored.num_rows:
        in_scored = set(scored.column("left_id").to_pylist()) | set(scored.column("right_id").to_pylist())
        guard = base_counts.guard({r: rows[r] for r in sorted(in_scored)}, plan.n_base)
        scored = apply_guard(guard, scored, threshold=model.review_threshold, comparisons=model.comparison_names)
    return scored, rescored, stored


def _scoring_rows(store: Persistence, account_id: str, model: Model, spec: EntitySpec, ids: Sequence[str],
                  totals: Mapping[str, int]) -> tuple[dict[str, dict[str, Any]], dict[str, dict[Any, float]]]:
    """The live rows of `ids` as a full scan scores them (the rare/few classes of their phones and emails over
    the whole base), and the term frequencies of their values (`totals`: the term-frequency denominators)."""
    rows = {r["unique_id"]: r for r in store.live_rows(account_id, spec, ids)}
    for col in spec.frequency_columns:  # value_frequency.sql's columns, with counts over the whole base
        values = sorted({v for r in rows.values() for v in (r.get(col) or ()) if v is not None})
        names = store.names_per_key(account_id, spec, col, values)
        for r in rows.values():
            held = [v for v in (r.get(col) or ()) if v is not None]
            r[f"{col}_rare"] = sorted(v for v in held if names.get(v, 0) <= RARE_MAX) or None
            r[f"{col}_few"] = sorted(v for v in held if names.get(v, 0) <= FEW_MAX) or None
    tf: dict[str, dict[Any, float]] = {}
    for col in tf_columns(model.settings):
        counts, _ = store.value_totals(account_id, model.entity, col,
                                       sorted({r[col] for r in rows.values() if r.get(col) is not None}))
        tf[col] = {v: tf_value(n, totals[col]) for v, n in counts.items()}
    return rows, tf


class _Pruning:
    """resolver/pruning.py's narrowing of the rules after the shared-value ones, as the full scan narrows them
    (pairs that cannot reach the review threshold, or the prediction floor for one name at one company), as
    (bound, code) pairs for store.candidate_pairs: `code` is the pair's cheap comparison states, with a digit
    for "one name at one company" and one for "the same value of `tf_column`". Bound 0 takes every value of
    the term-frequency column at its rarest; `bound(level)` one where both records hold a value of frequency
    at least 2 ** level."""

    def __init__(self, settings: dict[str, Any], threshold: float, floor: float, tf_floor: dict[str, float],
                 spec: EntitySpec) -> None:
        self.settings, self.threshold, self.floor, self.tf_floor = settings, threshold, floor, tf_floor
        columns = rule_columns(settings)
        found = hopeless(settings, threshold, tf_floor)
        tf_cols = sorted(tf_floor)
        self.tf_column = tf_cols[0] if len(tf_cols) == 1 and tf_cols[0] in _scalar_columns(spec, tf_cols) else None
        self.kept_keys: list[str] = []
        self.code, self.pruned = "0", []
        self._levels: dict[int, int] = {}
        if found is None or columns is None:
            return
        shared = [col for kind, col in found.comparisons if kind == "shared"]
        self.kept_keys = columns[:max(columns.index(c) for c in shared) + 1]
        digits = []
        for kind, col in found.comparisons:
            both = f'l."{col}" IS NOT NULL AND r."{col}" IS NOT NULL'
            digits.append(f"(CASE WHEN {both} THEN 1 ELSE 0 END)" if kind == "shared" else
                          f'(CASE WHEN NOT ({both}) THEN 0 WHEN l."{col}" <> r."{col}" THEN 1 ELSE 2 END)')
        keep = (f'l."{spec.name_column}" = r."{spec.name_column}" AND l."{RESCUE_COMPANY_COLUMN}" = '
                f'r."{RESCUE_COMPANY_COLUMN}"') if floor < threshold else "false"
        digits.append(f"(CASE WHEN coalesce(({keep}), false) THEN 1 ELSE 0 END)")
        same = f'l."{self.tf_column}" = r."{self.tf_column}"' if self.tf_column else "false"
        digits.append(f"(CASE WHEN coalesce(({same}), false) THEN 1 ELSE 0 END)")
        self.code = " + ".join(f"{d} * {3 ** k}" for k, d in enumerate(digits))
        self._n = len(found.comparisons)
        self._default = self._codes(tf_floor)
        self.pruned = [(0, c) for c in self._default]

    def _codes(self, tf_floor: dict[str, float], same_only: bool = False) -> list[int]:
        """The codes of the pairs that cannot reach the threshold (the floor when one name at one company)."""
        out = []
        for keep, threshold in ((0, self.threshold), (1, self.floor)):
            found = hopeless(self.settings, threshold, tf_floor)
            for combo in (found.combos if found else ()):
                base = sum(state * 3 ** k for k, state in enumerate(combo)) + keep * 3 ** self._n
                out += [base + same * 3 ** (self._n + 1) for same in ((1,) if same_only else (0, 1))]
        return sorted(set(out))

    def bound(self, level: int) -> int:
        """The bound for pairs of one value of `tf_column` whose frequency is at least 2 ** level."""
        if self.tf_column is None or not self.pruned:
            return 0
        if level not in self._levels:
            bound = len(self._levels) + 1
            self._levels[level] = bound
            tight = self._codes({**self.tf_floor, self.tf_column: 2.0 ** level}, same_only=True)
            # a pair of two different values is bounded as bound 0 bounds it
            self.pruned += [(bound, c) for c in tight]
            self.pruned += [(bound, c) for c in self._default if (c // 3 ** (self._n + 1)) % 3 == 0]
        return self._levels[level]


class _EvidenceCounts:
    """The base-wide counts resolver/evidence.py weighs a pair with, as they are now, from the stored scan
    values (`scan_records`: the last scan's, with the changed records' new ones in their place).

    The new-phone rule weighs the same name at the same company with the name's records and the company's
    distinct names over the base: when a changed record holds or held a name or a company, the pairs
    among the other holders with the same name and company (`namesakes`) are weighed again.
    """

    def __init__(self, store: Persistence, account_id: str, spec: EntitySpec, changed: set[str],
                 new: Mapping[str, list[str]], touched: Iterable[str], known: Mapping[str, set[str]]) -> None:
        """`known`: the stored values of the records holding (or, changed, having held) any `touched` value."""
        self.store, self.account_id, self.spec, self.changed, self.new = store, account_id, spec, changed, new
        self.name_tag, self.company_tag = f"{spec.name_column}:", f"{RESCUE_COMPANY_COLUMN}:"
        self.touched = sorted(t for t in touched if t.startswith((self.name_tag, self.company_tag)))
        self.active = spec.conflict is not None and not spec.discount_common_values
        self.known, self.known_tags = known, set(touched)

    def _holders(self, tags: Sequence[str]) -> dict[str, set[str]]:
        """record_id -> its values now, of the records holding any of `tags` now."""
        wanted = set(tags)
        if wanted <= self.known_tags:
            stored = self.known
        else:
            scalar = _scalar_columns(self.spec, {t.split(":", 1)[0] for t in wanted})
            found = self.store.scan_holders(self.account_id, self.spec.entity, sorted(wanted), scalar=scalar)
            stored = {r: set(v) for r, v in found.items()}
        out = {r: v for r, v in stored.items() if r not in self.changed and wanted & v}
        out.update((r, set(v)) for r, v in self.new.items() if wanted & set(v))
        return out

    def namesakes(self) -> list[list[str]]:
        """The records (two or more) of each name at each company, where a touched value is the name or company."""
        if not self.active or not self.touched:
            return []
        by_both: dict[tuple[str, str], list[str]] = {}
        for r, vals in self._holders(self.touched).items():
            names = [v for v in vals if v.startswith(self.name_tag) and len(v) > len(self.name_tag)]
            companies = [v for v in vals if v.startswith(self.company_tag) and len(v) > len(self.company_tag)]
            for key in ((n, c) for n in names for c in companies):
                by_both.setdefault(key, []).append(r)
        return [sorted(ids) for _, ids in sorted(by_both.items()) if len(ids) > 1]

    def guard(self, rows: Mapping[str, Mapping[str, Any]], n_records: int) -> EvidenceGuard:
        """EvidenceGuard of the whole base for pairs among `rows` (normalized live rows by unique_id)."""
        name_col, company_col = self.spec.name_column, RESCUE_COMPANY_COLUMN
        names = sorted({str(r[name_col]) for r in rows.values() if r.get(name_col) is not None})
        name_counts, _ = self.store.value_totals(self.account_id, self.spec.entity, name_col, names)
        companies = sorted({str(r[company_col]) for r in rows.values() if r.get(company_col)})
        guard = EvidenceGuard.from_counts(self.spec, rows, {}, name_counts, n_records)
        # distinct names per value over one value space of all the shared columns, as EvidenceGuard counts them
        columns = guard.shared_columns()
        tags = [f"{col}:{v}" for col in columns for v in companies]
        holders = self._holders(tags)
        per_value: dict[str, set[str]] = {}
        for r, vals in holders.items():
            name = next((v[len(self.name_tag):] for v in vals if v.startswith(self.name_tag)), "")
            who = name or "\0" + r
            for col in columns:
                prefix = f"{col}:"
                for v in vals:
                    if v.startswith(prefix) and v[len(prefix):] in companies:
                        per_value.setdefault(v[len(prefix):], set()).add(who)
        guard.names_per_value = {v: len(w) for v, w in per_value.items()}
        return guard


class _BoundedScorer:
    """PairScorer's weights, with the pairs that cannot reach the review threshold left early.

    Most candidates of a changed record share only a name key with it (a common name): their phones
    and emails differ. Comparisons are evaluated cheapest first, and a pair stops as soon as its weight
    so far plus the most every remaining comparison could add stays below the threshold: exact, since
    a level never weighs more than its comparison's maximum (term-frequency levels bounded by the rarest
    name among the candidates). Weights are summed in the model's order, as PairScorer sums them.
    """

    _CHEAP_FIRST = ("phone", "email", "company", "patronymic")

    def __init__(self, scorer: PairScorer, tf: Mapping[str, Mapping[Any, float]], threshold: float) -> None:
        self.scorer = scorer
        self.tf = tf
        self.floor = math.log2(threshold / (1 - threshold)) - 1e-6 if 0 < threshold < 1 else -math.inf
        comps = list(scorer._comparisons)
        rank = {name: i for i, name in enumerate(self._CHEAP_FIRST)}
        self.order = sorted(range(len(comps)), key=lambda i: rank.get(comps[i].name, len(rank)))
        best = []
        for comp in comps:
            top = 0.0  # the null level weighs 0
            for lvl in comp.levels:
                w = lvl.log2_bf
                if lvl.tf_column and lvl.tf_weight:
                    freqs = [f for f in tf.get(lvl.tf_column, {}).values() if f > 0]
                    rarest = max(min(freqs), lvl.tf_min_u) if freqs else lvl.tf_min_u
                    w += lvl.tf_weight * (lvl.log2_u_exact - math.log2(rarest)) if rarest > 0 else math.inf
                top = max(top, w)
            best.append(top)
        # the most the comparisons after the k-th (in evaluation order) could still add
        self.rest = [sum(best[j] for j in self.order[k + 1:]) for k in range(len(self.order))]

    def score(self, left: Mapping[str, Any], right: Mapping[str, Any]
              ) -> tuple[float, list[tuple[int, float, float]]] | None:
        """(weight, per comparison (gamma, mw, mw_tf_adj)) in the model's order; None: below the threshold."""
        comps = self.scorer._comparisons
        parts: list[tuple[int, float, float]] = [(-1, 0.0, 0.0)] * len(comps)
        so_far = self.scorer.prior
        for k, i in enumerate(self.order):
            comp = comps[i]
            if comp.null is None or not comp.null(left, right):
                level = next(lvl for lvl in comp.levels if lvl.predicate is None or lvl.predicate(left, right))
                tf_w = 0.0
                if level.tf_column and level.tf_weight:
                    freqs = self.tf.get(level.tf_column, {})
                    values = [f for f in (freqs.get(left.get(level.tf_column)),
                                          freqs.get(right.get(level.tf_column))) if f is not None]
                    if values:
                        tf_w = level.tf_weight * (level.log2_u_exact - math.log2(max(*values, level.tf_min_u)))
                parts[i] = (level.gamma, level.log2_bf, tf_w)
                so_far += level.log2_bf + tf_w
            if so_far + self.rest[k] < self.floor:
                return None
        weight = self.scorer.prior
        for _, mw, tf_w in parts:
            weight += mw + tf_w
        return weight, parts


def _scored_table(scorer: PairScorer, model: Model, rows: Mapping[str, Mapping[str, Any]],
                  candidates: Iterable[tuple[str, str]], tf: Mapping[str, Mapping[Any, float]],
                  thresholds: tuple[float, float], spec: EntitySpec) -> pa.Table:
    """The candidates' scores as predict_pairs gives them: at or above `thresholds[0]` (the review threshold),
    or `thresholds[1]` (the prediction floor) for one name at one company (the new-phone rule may raise them)."""
    names = model.comparison_names
    with_tf = {c.name for c in scorer._comparisons for lvl in c.levels if lvl.tf_column}
    order = [c.name for c in scorer._comparisons]
    review, floor = thresholds
    bounded = _BoundedScorer(scorer, tf, review)
    low = _BoundedScorer(scorer, tf, floor) if floor < review else bounded
    name_col = spec.name_column
    out: dict[str, list[Any]] = {"left_id": [], "right_id": [], "match_weight": [], "match_probability": []}
    for name in names:
        out[f"gamma_{name}"], out[f"mw_{name}"] = [], []
        if name in with_tf:
            out[f"mw_tf_adj_{name}"] = []
    for a, b in candidates:
        left, right = rows.get(a), rows.get(b)
        if left is None or right is None:
            continue
        kept = (left.get(name_col) is not None and left.get(name_col) == right.get(name_col)
                and left.get(RESCUE_COMPANY_COLUMN) is not None
                and left.get(RESCUE_COMPANY_COLUMN) == right.get(RESCUE_COMPANY_COLUMN))
        scorer_for, cut = (low, floor) if kept else (bounded, review)
        scored = scorer_for.score(left, right)
        if scored is None:
            continue
        weight, parts = scored
        p = probability(weight)
        if p < cut:
            continue
        by_name = dict(zip(order, parts, strict=True))
        out["left_id"].append(a)
        out["right_id"].append(b)
        out["match_weight"].append(weight)
        out["match_probability"].append(p)
        for name in names:
            gamma, mw, mw_tf = by_name[name]
            out[f"gamma_{name}"].append(gamma)
            out[f"mw_{name}"].append(mw)
            if name in with_tf:
                out[f"mw_tf_adj_{name}"].append(mw_tf)
    return pa.table(out)


def _regroup(store: Persistence, account_id: str, model: Model, changed: set[str], rescored: set[tuple[str, str]],
             stored: set[tuple[str, str]],
             scored: pa.Table, separated_flags: Sequence[bool],
             explained: dict[tuple[str, str], list[FieldContribution]], separated: set[tuple[str, str]],
             confirmed: set[tuple[str, str]]) -> tuple[list[Any], set[str], set[tuple[str, str]]]:
    """New groups for the connected components holding a record whose pairs were scored again, the old
    groups they replace, and the stored pairs scored again that do not touch a changed record (to drop)."""
    entity = model.entity
    new_edges: dict[str, list[Edge]] = {}
    for a, b, p, sep in zip(scored.column("left_id").to_pylist(), scored.column("right_id").to_pylist(),
                            scored.column("match_probability").to_pylist(), separated_flags, strict=True):
        if not sep:
            e = Edge(a, b, p)
            new_edges.setdefault(a, []).append(e)
            new_edges.setdefault(b, []).append(e)
    live_confirmed: dict[str, list[Edge]] = {}
    confirmed_ids = sorted({i for pair in confirmed for i in pair})
    live = store.live_record_ids(account_id, entity, confirmed_ids) if confirmed_ids else set()
    for a, b in sorted(confirmed):
        if a in live and b in live:
            e = Edge(a, b, CONFIRMED_PROBABILITY)
            live_confirmed.setdefault(a, []).append(e)
            live_confirmed.setdefault(b, []).append(e)
    # seeds: the changed records, those of the pairs scored again that are stored or scored now (another pair
    # scored again changes nothing), and the members of the groups they were in
    keys = zip(scored.column("left_id").to_pylist(), scored.column("right_id").to_pylist(), strict=True)
    touched = changed | {i for pair in (*stored, *keys) for i in pair}
    old_rows = store.groups_of_records(account_id, entity, sorted(touched))
    seeds = touched | {r["record_id"] for r in old_rows}
    dropped: set[tuple[str, str]] = set()
    # the components (over kept stored pairs, new pairs and confirmed links) holding a seed
    component: set[str] = set()
    edges: dict[tuple[str, str, float], Edge] = {}  # a confirmed link and a scored pair may join the same two
    frontier = set(seeds)
    while frontier:
        component |= frontier
        found: list[Edge] = []
        for row in store.pairs_touching(account_id, entity, sorted(frontier)):
            a, b = row["left_id"], row["right_id"]
            if a in changed or b in changed:
                continue  # replaced by the newly scored ones
            if (a, b) in rescored:
                dropped.add((a, b))
                continue
            if row["separated"] or (a, b) in separated:
                continue
            if (a, b) not in explained:
                explained[(a, b)] = list(parse_contributions(json.loads(row["contributions"])))
            found.append(Edge(a, b, float(row["match_probability"])))
        for r in frontier:
            found += new_edges.get(r, []) + live_confirmed.get(r, [])
        nxt: set[str] = set()
        for e in found:
            if e.match_probability < model.review_threshold:
                continue
            edges[(e.left_id, e.right_id, e.match_probability)] = e
            nxt |= {e.left_id, e.right_id} - component
        frontier = nxt
    more_old = store.groups_of_records(account_id, entity, sorted(component - seeds)) if component - seeds else []
    removed = {r["group_id"] for r in (*old_rows, *more_old)}
    previous = {r["record_id"]: r["group_id"] for r in (*old_rows, *more_old)}
    components = build_groups(edges.values(), threshold=model.review_threshold, cannot_link=separated,
                              strong=model.auto_merge_threshold)
    ids = assign_group_ids(entity, components, previous)
    details = store.record_details(account_id, entity, [m for c in components for m in c.members])
    groups = describe_groups(entity, components, ids, details, explained,
                             auto_merge_threshold=model.auto_merge_threshold)
    return groups, removed, dropped
