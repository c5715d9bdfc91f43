"""Score one pair in Python from a Splink model, with the same numbers Splink's SQL gives.

The real-time check scores a handful of candidates per request; running Splink's SQL for that
costs 15–30 ms (splink5-notes 6), a Python pass over the model's levels well under one. Each
level's SQL condition is read into a predicate once per model. Only the condition shapes Splink's
creators emit for our comparisons are understood; anything else raises `ModelError` naming the
level, so a new comparison cannot silently score differently here than in a scan.

Parity with Splink (checked in tests against `predict()`): NULL makes a condition false, as in
SQL; Jaro-Winkler runs on UTF-8 bytes, as DuckDB's does (splink5-notes 2); match weights and the
term-frequency adjustment are Splink's own (`log2 BF` per level; `w·(log2 u_exact − log2 tf)`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler
from splink import SettingsCreator

from resolver.errors import ModelError
from resolver.records import FieldContribution

Row = Mapping[str, Any]
Predicate = Callable[[Row, Row], bool]

_COL = r'"(\w+)_l"'
_COR = r'"(\w+)_r"'


def _present(*values: Any) -> bool:
    return all(v is not None for v in values)


def _jw(a: str, b: str) -> float:
    return JaroWinkler.similarity(a.encode(), b.encode())  # bytes: DuckDB compares UTF-8 bytes


_CMP: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
}


def _null(a: str) -> Predicate:
    return lambda left, right: left.get(a) is None or right.get(a) is None


def _eq(a: str, b: str) -> Predicate:
    return lambda left, right: _present(left.get(a), right.get(b)) and left[a] == right[b]


def _neq(a: str, b: str) -> Predicate:
    return lambda left, right: _present(left.get(a), right.get(b)) and left[a] != right[b]


def _jw_cmp(a: str, b: str, op: str, t: float) -> Predicate:
    cmp = _CMP[op]
    return lambda left, right: _present(left.get(a), right.get(b)) and cmp(_jw(left[a], right[b]), t)


def _intersect(a: str, b: str, k: int) -> Predicate:
    if k == 1:  # the usual level ("shares a phone"): no intersection set to build
        def shares(left: Row, right: Row) -> bool:
            x, y = left.get(a), right.get(b)
            return x is not None and y is not None and not set(x).isdisjoint(y)
        return shares

    def pred(left: Row, right: Row) -> bool:
        x, y = left.get(a), right.get(b)
        return x is not None and y is not None and len(set(x).intersection(y)) >= k
    return pred


def _subset(a: str) -> Predicate:
    def pred(left: Row, right: Row) -> bool:
        x, y = left.get(a), right.get(a)
        if x is None or y is None:
            return False
        shortest = min(len(x), len(y))
        return shortest != 0 and len(set(x) & set(y)) == shortest
    return pred


def _damerau(a: str, b: str, k: int) -> Predicate:
    return lambda left, right: _present(left.get(a), right.get(b)) and DamerauLevenshtein.distance(
        left[a].encode(), right[b].encode()) <= k


def _date_diff(a: str, fmt: str, seconds: float) -> Predicate:
    def parse(v: str) -> datetime | None:
        try:
            return datetime.strptime(v, fmt)
        except ValueError:
            return None

    def pred(left: Row, right: Row) -> bool:
        if not _present(left.get(a), right.get(a)):
            return False
        x, y = parse(left[a]), parse(right[a])
        return x is not None and y is not None and abs((x - y).total_seconds()) <= seconds
    return pred


_SUBSET = re.compile(
    r'LEAST\(ARRAY_LENGTH\("(\w+)_l"\), ARRAY_LENGTH\("\1_r"\)\) <> 0 AND '
    r'ARRAY_LENGTH\(ARRAY_INTERSECT\("\1_l", "\1_r"\)\) = LEAST\(ARRAY_LENGTH\("\1_l"\), ARRAY_LENGTH\("\1_r"\)\)')
_PATTERNS: list[tuple[re.Pattern[str], Callable[..., Predicate]]] = [
    (re.compile(rf"{_COL} IS NULL OR {_COR} IS NULL"), lambda a, b: _null(a)),
    (re.compile(rf"{_COL} = {_COR}"), _eq),
    (re.compile(rf"{_COL} <> {_COR}"), _neq),
    (re.compile(rf"jaro_winkler_similarity\({_COL}, {_COR}\) (>=|<=|<|>) ([\d.]+)"),
     lambda a, b, op, t: _jw_cmp(a, b, op, float(t))),
    (re.compile(rf"array_length\(list_intersect\({_COL}, {_COR}\)\) >= (\d+)"),
     lambda a, b, k: _intersect(a, b, int(k))),
    (_SUBSET, _subset),
    (re.compile(rf"damerau_levenshtein\({_COL}, {_COR}\) <= (\d+)"), lambda a, b, k: _damerau(a, b, int(k))),
    (re.compile(rf"ABS\(EPOCH\(try_strptime\({_COL}, '([^']+)'\)\) - EPOCH\(try_strptime\({_COR}, '[^']+'\)\)\) "
                r"<= ([\d.]+)"), lambda a, fmt, b, s: _date_diff(a, fmt, float(s))),
]


def compile_condition(sql: str) -> Predicate:
    """A Python predicate for one level's SQL condition (top-level OR of known shapes)."""
    sql = sql.strip()
    for pattern, build in _PATTERNS:
        m = pattern.fullmatch(sql)
        if m:
            return build(*m.groups())
    if " OR " in sql:
        parts = [compile_condition(p) for p in sql.split(" OR ")]
        return lambda left, right: any(p(left, right) for p in parts)
    raise ModelError(f"cannot score this comparison level in real time: {sql!r}")


@dataclass(frozen=True)
class _Level:
    label: str
    gamma: int
    predicate: Predicate | None  # None: the ELSE level
    log2_bf: float
    tf_column: str | None
    tf_weight: float
    tf_min_u: float
    log2_u_exact: float


@dataclass(frozen=True)
class _Comparison:
    name: str
    null: Predicate | None
    levels: tuple[_Level, ...]


@dataclass(frozen=True)
class Bounds:
    """Per comparison the most weight it can add (`best`), their sum, and the order that tries the largest first."""

    best: tuple[float, ...]
    total: float
    order: tuple[int, ...]

    @classmethod
    def of(cls, best: list[float]) -> Bounds:
        return cls(tuple(best), sum(best), tuple(sorted(range(len(best)), key=lambda i: -best[i])))


class PairScorer:
    """Scores pairs of normalized rows with one set of Splink settings (a model for one base size)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        parsed = SettingsCreator.from_path_or_dict(settings).get_settings("duckdb")
        lam = parsed._probability_two_random_records_match
        self.prior = math.log2(lam / (1 - lam))
        self.tf_columns: set[str] = set()
        comparisons = []
        for comp in parsed.comparisons:
            null_pred: Predicate | None = None
            levels = []
            for lvl in comp.comparison_levels:
                if lvl.is_null_level:
                    null_pred = compile_condition(lvl.sql_condition)
                    continue
                tf_col = lvl._tf_adjustment_input_column.unquote().name if lvl._has_tf_adjustments else None
                if tf_col:
                    self.tf_columns.add(tf_col)
                levels.append(_Level(
                    label=lvl.label_for_charts,
                    gamma=lvl.comparison_vector_value,
                    predicate=None if lvl._is_else_level else compile_condition(lvl.sql_condition),
                    log2_bf=lvl._log2_bayes_factor,
                    tf_column=tf_col,
                    tf_weight=float(lvl._tf_adjustment_weight or 0.0),
                    tf_min_u=float(lvl._tf_minimum_u_value or 0.0),
                    log2_u_exact=math.log2(lvl._u_probability_corresponding_to_exact_match(comp.comparison_levels))
                    if tf_col else 0.0,
                ))
            comparisons.append(_Comparison(comp.output_column_name, null_pred, tuple(levels)))
        self._comparisons = tuple(comparisons)

    def score(self, left: Row, right: Row, tf: Mapping[str, Mapping[Any, float]] | None = None
              ) -> tuple[float, list[FieldContribution]]:
        """(match_weight, per-field contributions) of one pair; `tf` maps column -> value -> frequency."""
        weight = self.prior
        out = []
        for comp in self._comparisons:
            found = self._level(comp, left, right, tf)
            if found is None:
                out.append(FieldContribution(comp.name, "missing on one side", -1, 0.0))
                continue
            level, w = found
            weight += w
            out.append(FieldContribution(comp.name, level.label, level.gamma, round(w, 3)))
        return weight, out

    def bounds(self, tf: Mapping[str, Mapping[Any, float]] | None = None) -> Bounds:
        """The most weight each comparison can add to a pair whose term frequencies come from `tf` (for
        `score_at_least`); inf where no bound is known."""
        out: list[float] = []
        for comp in self._comparisons:
            best = 0.0 if comp.null is not None else -math.inf  # the null level adds nothing
            for level in comp.levels:
                w = level.log2_bf
                if level.tf_column and level.tf_weight and tf is not None:
                    freqs = list(tf.get(level.tf_column, {}).values())
                    if freqs:  # the adjustment grows as the frequency falls: the smallest one bounds it
                        lowest = max(min(freqs), level.tf_min_u)
                        if lowest <= 0 or level.tf_weight < 0:
                            return Bounds.of([math.inf] * len(self._comparisons))
                        w += max(0.0, level.tf_weight * (level.log2_u_exact - math.log2(lowest)))
                best = max(best, w)
            out.append(best)
        return Bounds.of(out)

    def score_at_least(self, left: Row, right: Row, tf: Mapping[str, Mapping[Any, float]] | None, floor: float,
                       bounds: Bounds) -> tuple[float, list[FieldContribution]] | None:
        """`score`, or None as soon as the pair cannot reach match weight `floor` (`bounds` from `bounds(tf)`).

        The comparisons that can add most are tried first, so a candidate sharing no phone or email with the
        probe usually leaves after one or two of them; one that stays gets exactly `score`'s answer (its weight
        summed in the model's order, its explanation in that order).
        """
        left_over = bounds.total
        weight = self.prior
        found: list[tuple[_Level, float] | None] = [None] * len(self._comparisons)
        for i in bounds.order:
            if weight + left_over < floor:
                return None
            left_over -= bounds.best[i]
            level = self._level(self._comparisons[i], left, right, tf)
            found[i] = level
            if level is not None:
                weight += level[1]
        if weight < floor:
            return None
        weight = self.prior
        out = []
        for comp, level in zip(self._comparisons, found, strict=True):
            if level is None:
                out.append(FieldContribution(comp.name, "missing on one side", -1, 0.0))
                continue
            weight += level[1]
            out.append(FieldContribution(comp.name, level[0].label, level[0].gamma, round(level[1], 3)))
        return weight, out

    @staticmethod
    def _level(comp: _Comparison, left: Row, right: Row, tf: Mapping[str, Mapping[Any, float]] | None
               ) -> tuple[_Level, float] | None:
        """The level a pair falls in and its weight (term frequency included); None at the null level."""
        if comp.null is not None and comp.null(left, right):
            return None
        for level in comp.levels:  # Splink's CASE WHEN: the first level whose condition holds (the last is ELSE)
            if level.predicate is None or level.predicate(left, right):
                break
        else:
            raise ModelError(f"comparison {comp.name} has no ELSE level")
        w = level.log2_bf
        if level.tf_column and level.tf_weight and tf is not None:
            freqs = tf.get(level.tf_column, {})
            values = [f for f in (freqs.get(left.get(level.tf_column)), freqs.get(right.get(level.tf_column)))
                      if f is not None]
            if values:
                w += level.tf_weight * (level.log2_u_exact - math.log2(max(*values, level.tf_min_u)))
        return level, w


def probability(match_weight: float) -> float:
    """Splink's match probability of a match weight: 2^w / (1 + 2^w)."""
    if match_weight > 60:
        return 1.0
    odds: float = 2.0**match_weight  # typeshed types float ** float as Any (a negative base gives complex)
    return odds / (1 + odds)
