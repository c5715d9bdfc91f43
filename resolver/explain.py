"""Why a pair scored what it did: one `FieldContribution` per compared field, plus the re-ranker's change.

The one module that builds explanations, for the scan (from Splink's rows), the stored groups (parsed
back from the store's JSON) and the real-time check (which scores fields itself, resolver/scoring.py,
and adds the re-ranker's term made here). A pair's contributions sum, with the prior, to its weight.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from resolver.records import FieldContribution

if TYPE_CHECKING:  # linkage imports Splink; explanations need only the model's names and labels
    from resolver.linkage import Model

REVIEWERS_FIELD = "reviewers"  # the contribution that explains the re-ranker's change
REVIEWERS_LEVEL = "learned from reviewers' decisions"
EVIDENCE_FIELD = "evidence"  # the change resolver/evidence.py makes: a conflict or a value many share
_INFINITE_WEIGHT = 99.0  # a level Splink gives an infinite weight (a certain non-match) is shown as ±99


def field_contributions(row: Mapping[str, Any], model: Model,
                        labels: Mapping[str, Mapping[int, str]]) -> list[FieldContribution]:
    """Per-field explanation of one pair Splink scored: the level each field agreed at and its weight.

    `row` has Splink's `gamma_<name>`, `mw_<name>` and `mw_tf_adj_<name>` columns; `labels` are
    `model.level_labels()`.
    """
    out = []
    for name in model.comparison_names:
        gamma = row.get(f"gamma_{name}")
        if gamma is None:
            continue
        weight = float(row.get(f"mw_{name}") or 0.0) + float(row.get(f"mw_tf_adj_{name}") or 0.0)
        if math.isinf(weight):
            weight = math.copysign(_INFINITE_WEIGHT, weight)
        out.append(FieldContribution(field=name, level=labels[name].get(int(gamma), str(gamma)),
                                     gamma=int(gamma), match_weight=round(weight, 3)))
    return out


def reviewers_contribution(splink_p: float, final_p: float) -> FieldContribution:
    """The re-ranker's change as one more term of the explanation: the change in log2 odds."""
    return FieldContribution(field=REVIEWERS_FIELD, level=REVIEWERS_LEVEL, gamma=-1,
                             match_weight=round(_log2_odds(final_p) - _log2_odds(splink_p), 3))


def _log2_odds(p: float) -> float:
    p = min(max(p, 1e-300), 1 - 1e-16)
    return math.log2(p / (1 - p))


def explain_pairs(pairs: pa.Table, model: Model) -> dict[tuple[str, str], list[FieldContribution]]:
    """(left_id, right_id) -> contributions of every pair a scan scored (with the evidence term when the
    pairs carry an `evidence_weight`, resolver/evidence.py, and the re-ranker's when they carry a
    `reviewers_weight`: resolver/scan.py `apply_reranker`). As `field_contributions` per row, read by column:
    a scan's tens of thousands of pairs are not turned into row dicts."""
    labels = model.level_labels()

    def column(name: str) -> list[Any]:
        return pairs.column(name).to_pylist() if name in pairs.column_names else [None] * pairs.num_rows

    fields = [(name, column(f"gamma_{name}"), column(f"mw_{name}"), column(f"mw_tf_adj_{name}"), labels[name])
              for name in model.comparison_names if f"gamma_{name}" in pairs.column_names]
    evidence, reasons, reviewers = column("evidence_weight"), column("evidence_reason"), column("reviewers_weight")
    explained: dict[tuple[str, str], list[FieldContribution]] = {}
    for i, key in enumerate(zip(column("left_id"), column("right_id"), strict=True)):
        out = []
        for name, gammas, mws, tfs, levels in fields:
            gamma = gammas[i]
            if gamma is None:
                continue
            weight = float(mws[i] or 0.0) + float(tfs[i] or 0.0)
            if math.isinf(weight):
                weight = math.copysign(_INFINITE_WEIGHT, weight)
            out.append(FieldContribution(field=name, level=levels.get(int(gamma), str(gamma)), gamma=int(gamma),
                                         match_weight=round(weight, 3)))
        if evidence[i]:
            out.append(FieldContribution(EVIDENCE_FIELD, reasons[i] or "", -1, evidence[i]))
        if reviewers[i]:
            out.append(FieldContribution(REVIEWERS_FIELD, REVIEWERS_LEVEL, -1, reviewers[i]))
        explained[key] = out
    return explained


def contributions_json(contributions: Iterable[FieldContribution]) -> str:
    """Contributions as the store keeps them (a JSON list of objects), the text `json.dumps` gives.

    Written by hand from cached pieces: a scan writes tens of thousands, and a field's level repeats.
    """
    return "[" + ", ".join(_item_head(c.field, c.level, c.gamma) + _number(c.match_weight) + "}"
                           for c in contributions) + "]"


@functools.lru_cache(maxsize=4096)
def _item_head(field: str, level: str, gamma: int) -> str:
    return (f'{{"field": {json.dumps(field, ensure_ascii=False)}, "level": {json.dumps(level, ensure_ascii=False)}, '
            f'"gamma": {json.dumps(gamma)}, "match_weight": ')


def _number(value: float) -> str:
    return repr(value) if type(value) is float and math.isfinite(value) else json.dumps(value)


def parse_contributions(rows: Sequence[Mapping[str, Any]]) -> list[FieldContribution]:
    """Contributions back from the store's parsed JSON."""
    return [FieldContribution(**c) for c in rows]
