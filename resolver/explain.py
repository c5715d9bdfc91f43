"""Why a pair scored what it did: one `FieldContribution` per compared field, plus the re-ranker's change.

The one module that builds explanations, for the scan (from Splink's rows), the stored groups (parsed
back from the store's JSON) and the real-time check (which scores fields itself, resolver/scoring.py,
and adds the re-ranker's term made here). A pair's contributions sum, with the prior, to its weight.
"""

from __future__ import annotations

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
    `reviewers_weight`: resolver/scan.py `apply_reranker`)."""
    labels = model.level_labels()
    explained: dict[tuple[str, str], list[FieldContribution]] = {}
    for row in pairs.to_pylist():
        key = (row["left_id"], row["right_id"])
        explained[key] = field_contributions(row, model, labels)
        if row.get("evidence_weight"):
            explained[key].append(FieldContribution(EVIDENCE_FIELD, row.get("evidence_reason") or "", -1,
                                                    row["evidence_weight"]))
        if row.get("reviewers_weight"):
            explained[key].append(FieldContribution(REVIEWERS_FIELD, REVIEWERS_LEVEL, -1, row["reviewers_weight"]))
    return explained


def contributions_json(contributions: Iterable[FieldContribution]) -> str:
    """Contributions as the store keeps them (a JSON list of objects)."""
    # a dict per item by hand: dataclasses.asdict deep-copies, 10x slower over a scan's tens of thousands of pairs
    return json.dumps([{"field": c.field, "level": c.level, "gamma": c.gamma, "match_weight": c.match_weight}
                       for c in contributions], ensure_ascii=False)


def parse_contributions(rows: Sequence[Mapping[str, Any]]) -> list[FieldContribution]:
    """Contributions back from the store's parsed JSON."""
    return [FieldContribution(**c) for c in rows]
