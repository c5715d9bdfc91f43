"""The Python pair scorer gives Splink's own numbers."""

from collections import Counter

import pytest

from resolver.entities import spec_for
from resolver.errors import ModelError
from resolver.ingest import read_amocrm
from resolver.linkage import load_model, predict_pairs
from resolver.scan import ingest
from resolver.scoring import PairScorer, compile_condition, probability
from resolver.store import Store
from training.synthetic import generate_companies, generate_contacts


def _scan_input(entity, generate, n: int, seed: int):
    synthetic = generate(n, seed=seed)
    with Store(":memory:") as store:
        ingest(store, account_id="a", entity=entity, records=read_amocrm(synthetic.entities, entity))
        return store.scan_input("a", spec_for(entity))


@pytest.mark.parametrize(("entity", "generate"), [("contact", generate_contacts), ("company", generate_companies)],
                         ids=["contact", "company"])
def test_scores_equal_splink_predict(entity, generate):
    table = _scan_input(entity, generate, 1500, 5)
    model = load_model(entity)
    pairs = predict_pairs(table, model, threshold=0.0).to_pylist()
    rows = {r["unique_id"]: r for r in table.to_pylist()}
    scorer = PairScorer(model.settings_for_base(table.num_rows))
    tf = {}
    for col in scorer.tf_columns:  # Splink's term frequency: count of the value / non-null values
        values = [r[col] for r in rows.values() if r[col] is not None]
        tf[col] = {v: n / len(values) for v, n in Counter(values).items()}
    assert len(pairs) > 300
    for p in pairs:
        weight, contributions = scorer.score(rows[p["left_id"]], rows[p["right_id"]], tf)
        assert weight == pytest.approx(p["match_weight"], abs=1e-9), p
        assert {c.field: c.gamma for c in contributions} == {
            c.field: p[f"gamma_{c.field}"] for c in contributions}, p
        assert probability(weight) == pytest.approx(p["match_probability"], abs=1e-9)


@pytest.mark.parametrize(("entity", "generate"), [("contact", generate_contacts), ("company", generate_companies)],
                         ids=["contact", "company"])
def test_score_at_least_cuts_only_pairs_below_the_floor_and_otherwise_scores_exactly(entity, generate):
    table = _scan_input(entity, generate, 800, 6)
    model = load_model(entity)
    rows = table.to_pylist()
    scorer = PairScorer(model.settings_for_base(table.num_rows))
    for probe in rows[:40]:
        # as the check gives it: the frequency of the probe's own values
        tf = {col: {probe[col]: 0.001} for col in scorer.tf_columns if probe[col] is not None}
        bounds = scorer.bounds(tf)
        cut = kept = 0
        for other in rows:
            weight, contributions = scorer.score(probe, other, tf)
            for floor in (-5.0, 0.0, 6.0):
                found = scorer.score_at_least(probe, other, tf, floor, bounds)
                if found is None:
                    assert weight < floor
                    cut += 1
                else:
                    assert found == (weight, contributions)  # the very same numbers, in the model's order
                    kept += 1
        assert cut > kept  # nearly every record of the base is no match for a given one


@pytest.mark.parametrize(
    ("sql", "left", "right", "expected"),
    [
        ('"a_l" = "a_r"', {"a": "x"}, {"a": "x"}, True),
        # NULL makes a condition false, as in SQL
        ('"a_l" = "a_r"', {"a": None}, {"a": None}, False),
        ('"a_l" <> "a_r"', {"a": "x"}, {"a": None}, False),
        ('jaro_winkler_similarity("a_l", "a_r") >= 0.9', {"a": "ivanov"}, {"a": "ivanof"}, True),
        ('array_length(list_intersect("p_l", "p_r")) >= 1', {"p": ["1", "2"]}, {"p": ["2"]}, True),
        ('array_length(list_intersect("p_l", "p_r")) >= 2', {"p": ["1", "2"]}, {"p": ["2"]}, False),
        ('"d_l" = "e_r" OR "e_l" = "d_r"', {"d": "x.ru", "e": None}, {"d": None, "e": "x.ru"}, True),
    ],
    ids=["equal", "null-is-false", "not-equal-null", "jaro-winkler", "intersect-1", "intersect-2", "or"],
)
def test_compile_condition(sql, left, right, expected):
    assert compile_condition(sql)(left, right) is expected


def test_unknown_condition_names_the_level():
    with pytest.raises(ModelError, match="soundex"):
        compile_condition('soundex("a_l") = soundex("a_r")')
