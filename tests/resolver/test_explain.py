"""The stored explanation: contributions_json writes what json.dumps of the contributions would."""

import json
import math

import pyarrow as pa
import pytest

from resolver.explain import EVIDENCE_FIELD, REVIEWERS_FIELD, contributions_json, explain_pairs
from resolver.linkage import load_model
from resolver.records import FieldContribution


def _dumps(contributions):
    return json.dumps([{"field": c.field, "level": c.level, "gamma": c.gamma, "match_weight": c.match_weight}
                       for c in contributions], ensure_ascii=False)


@pytest.mark.parametrize("weight", [1.25, -0.0, 5, 1e-7, -3.333, float("inf"), float("-inf"), float("nan")])
def test_contributions_json_is_json_dumps(weight):
    items = [FieldContribution("name", "то же имя \"Иван\"\t\\", 4, weight),
             FieldContribution(EVIDENCE_FIELD, "phone shared by 31 names: counts for nothing", -1, weight)]
    text = contributions_json(items)
    assert text == _dumps(items)
    if not isinstance(weight, float) or math.isfinite(weight):
        assert json.loads(text)[0]["level"] == "то же имя \"Иван\"\t\\"
    assert contributions_json([]) == "[]"


def test_explain_pairs_reads_each_pair_with_its_evidence_and_reviewers_terms():
    model = load_model("contact")
    names = model.comparison_names
    cols = {"left_id": ["a", "c"], "right_id": ["b", "d"], "match_weight": [3.0, 4.0], "match_probability": [0.9, 0.95]}
    for name in names:
        cols[f"gamma_{name}"] = [1, None]
        cols[f"mw_{name}"] = [0.5, None]
    cols["evidence_weight"] = [0.0, -2.5]
    cols["evidence_reason"] = [None, "different names"]
    cols["reviewers_weight"] = [1.5, 0.0]
    explained = explain_pairs(pa.table(cols), model)
    labels = model.level_labels()
    assert explained[("a", "b")] == [FieldContribution(n, labels[n][1], 1, 0.5) for n in names] + [
        FieldContribution(REVIEWERS_FIELD, "learned from reviewers' decisions", -1, 1.5)]
    assert explained[("c", "d")] == [FieldContribution(EVIDENCE_FIELD, "different names", -1, -2.5)]
