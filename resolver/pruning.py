"""Score less: leave out of a blocking rule the pairs that can never reach the review threshold.

At 318,000 contacts the name-key rule makes 16 million pairs (a common name is a block of 1,500), the
phone and email rules about 100,000; Splink compares every one of them and keeps about 37,000. A pair
the name-key rule adds shares no phone and no email (Splink leaves out of a rule the pairs an earlier
rule made), so when both records have phones, both their phone comparison is at its "different" level;
the same for emails, and for a comparison of one value by equality (the company). The most such a pair
can weigh is then known without comparing names: the prior, those levels, and every other comparison
at its best level (a name at its rarest). Where that stays below the threshold, the rule leaves the
pair out. Exact: no pair that could reach the threshold is left out, so the scan's pairs are the same.

Only rules after the phone and email rules are narrowed, and only when the model's levels have the
shapes this reasons about (checked here); otherwise the rules stay as they are.

The bound takes the name at its rarest. Where only a name compared equal and rare enough can lift a pair
(its term-frequency level; at 318,000 contacts: no phone or email on one side, no shared company), the
pair must also have the same name and that name a term frequency at most a cut-off: each record carries
its own (a `record_tf` column of the scan's table). And the narrowed rule is written as a few rules
DuckDB joins by equality (the company, the name) with filters on one side before the join, instead of one
rule whose long condition is tested on each of the 16 million name-key pairs: same pairs, 2.6 million
compared before, about 0.1 million now.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from resolver.blocking import rule_columns
from resolver.scoring import PairScorer

_NULL = re.compile(r'"(\w+)_l" IS NULL OR "\1_r" IS NULL')
_EQUAL = re.compile(r'"(\w+)_l" = "\1_r"')
_INTERSECT = re.compile(r'array_length\(list_intersect\("(\w+)_l", "\1_r"\)\) >= 1')
_MARGIN = 1e-6  # bits: the bound is compared with room for the last bits of a float sum


@lru_cache(maxsize=8)
def _scorer(blob: str) -> PairScorer:
    return PairScorer(json.loads(blob))


def scorer_for(settings: dict[str, Any]) -> PairScorer:
    """PairScorer of `settings`, built once per distinct settings (parsing them is most of hopeless' time; an
    incremental scan asks for several bounds of one model)."""
    return _scorer(json.dumps(settings, sort_keys=True, default=str))


@dataclass(frozen=True)
class Hopeless:
    """The cheap comparisons' states and which combinations of them can never reach the threshold.

    `comparisons[k]` is (kind, column): kind "shared" (states: 0 missing on a side, 1 present on both and
    no value shared) or "equal" (0 missing, 1 different, 2 equal). `combos` holds the hopeless state tuples.
    """

    comparisons: tuple[tuple[str, str], ...]
    combos: frozenset[tuple[int, ...]]
    sql: tuple[str, ...]  # per hopeless combo, its condition on a blocking rule's l./r. columns
    states: tuple[tuple[str, ...], ...] = ()  # per cheap comparison, the SQL of each of its states
    # combos that reach the threshold only when the term-frequency level holds (`tf_level`: the column it
    # compares by equality) with a value's term frequency at most this cut-off; all other combos not in
    # `combos` may reach it whatever the name
    conditional: tuple[tuple[tuple[int, ...], float], ...] = ()
    tf_level: str | None = None


def hopeless(settings: dict[str, Any], threshold: float, tf_floor: dict[str, float]) -> Hopeless | None:
    """The hopeless combinations of the model's cheap comparisons (None: the model's shapes do not fit)."""
    columns = rule_columns(settings)
    if columns is None or not 0 < threshold < 1:
        return None
    floor = math.log2(threshold / (1 - threshold)) - _MARGIN
    scorer = scorer_for(settings)
    comps = {c["output_column_name"]: c for c in settings["comparisons"]}
    kinds: list[tuple[str, str]] = []
    states: list[list[tuple[str, float]]] = []  # per cheap comparison: (SQL of a state, its exact weight)
    best_rest = 0.0
    tf_level = _tf_level(scorer, comps, tf_floor)  # (column, comparison, its level), or None
    tf_best = (0.0, 0.0)  # that comparison's best weight without / with its term-frequency level
    for comp in scorer._comparisons:
        raw = [lvl for lvl in comps[comp.name]["comparison_levels"] if not lvl.get("is_null_level")]
        null = next((lvl for lvl in comps[comp.name]["comparison_levels"] if lvl.get("is_null_level")), None)
        null_col = _NULL.fullmatch(null["sql_condition"].strip()) if null else None
        conds = [lvl["sql_condition"].strip() for lvl in raw[:-1]]
        else_w = comp.levels[-1].log2_bf if comp.levels and comp.levels[-1].predicate is None else None
        col = null_col.group(1) if null_col else None
        intersect = [_INTERSECT.fullmatch(c) for c in conds]
        if col and else_w is not None and conds and all(intersect) and col in columns:
            # a shared-value comparison whose column an earlier exploding rule joins on: "different" or missing
            cols = {m.group(1) for m in intersect if m}
            if cols <= {col, f"{col}_rare", f"{col}_few"}:
                kinds.append(("shared", col))
                states.append([(f'(l."{col}" IS NULL OR r."{col}" IS NULL)', 0.0),
                               (f'(l."{col}" IS NOT NULL AND r."{col}" IS NOT NULL)', else_w)])
                continue
        equal = _EQUAL.fullmatch(conds[0]) if len(conds) == 1 else None
        if col and else_w is not None and equal and equal.group(1) == col and not comp.levels[0].tf_column:
            kinds.append(("equal", col))
            # null-safe: a NULL inside NOT (...) would make the whole rule NULL, and drop the pair
            both = f'l."{col}" IS NOT NULL AND r."{col}" IS NOT NULL'
            states.append([(f'(l."{col}" IS NULL OR r."{col}" IS NULL)', 0.0),
                           (f'({both} AND l."{col}" <> r."{col}")', else_w),
                           (f'({both} AND l."{col}" = r."{col}")', comp.levels[0].log2_bf)])
            continue
        top = without_tf = 0.0
        for lvl in comp.levels:
            w = lvl.log2_bf
            if lvl.tf_column and lvl.tf_weight:
                rarest = max(tf_floor.get(lvl.tf_column, 0.0), lvl.tf_min_u)
                if rarest <= 0:
                    return None
                w += lvl.tf_weight * (lvl.log2_u_exact - math.log2(rarest))
            elif tf_level and comp is tf_level[1]:
                without_tf = max(without_tf, w)
            top = max(top, w)
        if tf_level and comp is tf_level[1]:
            tf_best = (without_tf, top)
        else:
            best_rest += top
    if not any(kind == "shared" for kind, _ in kinds):
        return None
    combos, sql, conditional = set(), [], []
    for combo in itertools.product(*(list(enumerate(s)) for s in states)):
        base = scorer.prior + best_rest + sum(w for _, (_, w) in combo)
        if base + tf_best[1] < floor:
            combos.add(tuple(i for i, _ in combo))
            sql.append(" AND ".join(text for _, (text, _) in combo))
        elif tf_level and base + tf_best[0] < floor:
            # w(tf) = bf + weight * (log2 u_exact - log2 max(tf, min_u)) must reach floor - base
            lvl = tf_level[2]
            cut = 2.0 ** (lvl.log2_u_exact - (floor - base - lvl.log2_bf) / lvl.tf_weight)
            conditional.append((tuple(i for i, _ in combo), cut))
    return Hopeless(tuple(kinds), frozenset(combos), tuple(sql), tuple(tuple(t for t, _ in s) for s in states),
                    tuple(conditional), tf_level[0] if tf_level else None)


def _tf_level(scorer: PairScorer, comps: Mapping[str, Any],
              tf_floor: Mapping[str, float]) -> tuple[str, Any, Any] | None:
    """The one comparison whose first level is an equality adjusted by term frequency (the name's), if one.

    Only that level's weight depends on the value: the comparison's other levels are fixed, and a value's
    term frequency is the same on both sides when the level holds.
    """
    found: list[tuple[str, Any, Any]] = []
    for comp in scorer._comparisons:
        tf_levels = [lvl for lvl in comp.levels if lvl.tf_column and lvl.tf_weight]
        if not tf_levels:
            continue
        first = comp.levels[0]
        raw = [lvl for lvl in comps[comp.name]["comparison_levels"] if not lvl.get("is_null_level")]
        equal = _EQUAL.fullmatch(raw[0]["sql_condition"].strip())
        column = first.tf_column
        if (tf_levels != [first] or not equal or column is None or equal.group(1) != column or first.tf_weight <= 0
                or max(tf_floor.get(column, 0.0), first.tf_min_u) <= 0):
            return None
        found.append((column, comp, first))
    return found[0] if len(found) == 1 else None


def narrowed_rules(settings: dict[str, Any], threshold: float, tf_floor: dict[str, float],
                   keep: str | None = None, record_tf: str | None = None) -> list[Any]:
    """The settings' blocking rules, later ones narrowed as the module doc says.

    `settings` are the base-size scaled ones the scan predicts with; `tf_floor`: column -> the smallest term
    frequency a value of it can have in this base (one record of the base's non-null values); `keep`: SQL
    over `l`/`r` for pairs never left out whatever their bound (those a rule after Splink may still raise);
    `record_tf`: the table's column holding each record's term frequency of the term-frequency level's
    column, as the scan registers it (None: the name counts at its rarest). A narrowed rule becomes several
    whose union is its pairs.
    """
    rules = list(settings.get("blocking_rules_to_generate_predictions", []))
    found = hopeless(settings, threshold, tf_floor)
    columns = rule_columns(settings)
    if found is None or not (found.sql or (found.conditional and record_tf)) or columns is None:
        return rules
    shared = [col for kind, col in found.comparisons if kind == "shared"]
    out: list[Any] = []
    for i, rule in enumerate(rules):
        # narrowed only after every shared-value rule: those made (and so took out of later rules) the
        # pairs that share a value
        if i > max(columns.index(c) for c in shared) and isinstance(rule, dict):
            out.extend(dict(rule, blocking_rule=part) for part in _parts(found, rule["blocking_rule"], keep, record_tf))
        else:
            out.append(rule)
    return out


def _parts(found: Hopeless, base: str, keep: str | None, record_tf: str | None) -> list[str]:
    """Rules whose union is `base`'s pairs less the hopeless ones, each joined by an equality where it can.

    A combo's states are conditions on both sides ("phones missing on a side") that DuckDB can only test
    pair by pair; an equality in them (the same company) or the name's (a conditional combo) is a join key.
    """
    cuts = dict(found.conditional) if record_tf else {}
    by_key: dict[str, list[str]] = {}
    for combo in itertools.product(*(range(len(s)) for s in found.states)):
        if combo in found.combos:
            continue
        cond = " AND ".join(found.states[i][s] for i, s in enumerate(combo))
        key = next((f'l."{col}" = r."{col}"' for (kind, col), s in zip(found.comparisons, combo, strict=True)
                    if kind == "equal" and s == 2), "")
        if combo in cuts:
            name = f'l."{found.tf_level}" = r."{found.tf_level}"'
            cond = f'{cond} AND {name} AND l."{record_tf}" <= {cuts[combo]!r}'
            key = key or name
        by_key.setdefault(key, []).append(f"({cond})")
    parts = []
    for key, conds in by_key.items():
        rule = f"({base}) AND {key} AND ({' OR '.join(conds)})" if key else f"({base}) AND ({' OR '.join(conds)})"
        if key.startswith(f'l."{found.tf_level}"') and record_tf:
            # a filter on one side: DuckDB applies it before the join
            rule += f' AND l."{record_tf}" <= {max(cuts[c] for c in cuts)!r}'
        parts.append(rule)
    if keep:
        parts.append(f"({base}) AND ({keep})")
    return parts or [f"({base}) AND false"]


def state_of(hope: Hopeless, left: Mapping[str, Any], right: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The pair's cheap states as `Hopeless.combos` holds them; None when it shares a value (then none apply)."""
    out = []
    for kind, col in hope.comparisons:
        a, b = left.get(col), right.get(col)
        if kind == "shared":
            if a is None or b is None:
                out.append(0)
            elif set(a) & set(b):
                return None
            else:
                out.append(1)
        else:
            out.append(0 if a is None or b is None else 2 if a == b else 1)
    return tuple(out)
