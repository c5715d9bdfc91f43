"""Score less (resolver/pruning.py): narrowed blocking rules leave out only pairs that cannot reach the threshold."""

import json
from dataclasses import replace

import pytest

from resolver.entities import spec_for
from resolver.linkage import load_model, predict_pairs, tf_value
from resolver.pruning import narrowed_rules
from resolver.scan import ingest
from resolver.store import Store
from tests.resolver.golden_scan import FIXTURE, records


@pytest.fixture(scope="module")
def table():
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    with Store(":memory:") as store:
        ingest(store, account_id="g", entity="contact", records=records(data["records"]["contact"], "contact"))
        return store.scan_input("g", spec_for("contact"))


def _pairs(t):
    return [(a, b, round(p, 9)) for a, b, p in zip(t.column("left_id").to_pylist(), t.column("right_id").to_pylist(),
                                                  t.column("match_probability").to_pylist(), strict=True)]


@pytest.mark.parametrize("prior_scale", [1.0, 0.05, 0.001], ids=["as-shipped", "large-base", "huge-base"])
def test_narrowed_rules_give_the_same_pairs(table, prior_scale):
    model = load_model("contact")
    # a smaller prior is what a larger base gives (Model.settings_for_base): more of the name-key block is hopeless
    settings = dict(model.settings, probability_two_random_records_match=(
        model.settings["probability_two_random_records_match"] * prior_scale))
    model = replace(model, settings=settings)
    for threshold in (model.review_threshold, 0.5):
        pruned = predict_pairs(table, model, threshold=threshold)
        full = predict_pairs(table, model, threshold=threshold, prune=False)
        assert _pairs(pruned) == _pairs(full)
        assert pruned.num_rows > 0


def test_only_the_rules_after_the_phone_and_email_ones_are_narrowed():
    model = load_model("contact")
    settings = model.settings_for_base(318_000)
    rules = narrowed_rules(settings, model.review_threshold, {"name_norm": tf_value(1, 270_000)})
    before = settings["blocking_rules_to_generate_predictions"]
    assert rules[:2] == before[:2]
    assert len(rules) > 2
    assert all(r["blocking_rule"].startswith('(l."name_key" = r."name_key") AND ') for r in rules[2:])
    # a threshold no pair can miss: nothing is hopeless, nothing is narrowed
    assert narrowed_rules(settings, 1e-12, {"name_norm": tf_value(1, 270_000)}) == before


def test_a_pair_with_missing_values_is_kept_by_the_narrowed_rule():
    # SQL's NULL: "company differs" on two records without a company is unknown, not false; inside NOT (...)
    # it once dropped such pairs (same name, patronymic, no phone on one side) from a 318,000-record scan
    import duckdb

    model = load_model("contact")
    rules = narrowed_rules(model.settings_for_base(318_000), model.review_threshold,
                           {"name_norm": tf_value(1, 270_000)})[2:]
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('k', ['+79794731071'], NULL, NULL, 'a'), "
                    "('k', NULL, NULL, NULL, 'b'), ('k', ['+79000000000'], ['x@y.ru'], 'acme', 'c'), "
                    "('k', ['+79000000001'], ['z@y.ru'], 'other', 'd')) "
                    "AS v(name_key, phones, emails, company_core, id)")
        kept = {row for r in rules for row in con.execute(
            f"SELECT l.id, r.id FROM t AS l JOIN t AS r ON l.id < r.id AND {r['blocking_rule']}").fetchall()}
    assert ("a", "b") in kept  # nothing known against them: compared
    assert ("c", "d") not in kept  # different phones, emails and companies: hopeless at this base size


def test_a_common_name_without_other_evidence_is_left_out_and_a_rare_one_kept():
    # no phone or email on one side and no company: only the same name, rare enough, can reach the threshold
    import duckdb

    model = load_model("contact")
    settings = model.settings_for_base(318_000)
    rules = narrowed_rules(settings, model.review_threshold, {"name_norm": tf_value(1, 318_000)}, record_tf="tf")[2:]
    assert any('l."tf" <= ' in r["blocking_rule"] for r in rules)
    rare, common = tf_value(2, 318_000), tf_value(1_500, 318_000)
    with duckdb.connect() as con:
        con.execute("CREATE TABLE t AS SELECT * FROM (VALUES "
                    f"('k', 'ivan petrov', ['+79794731071'], NULL, NULL, {rare}, 'a'), "
                    f"('k', 'ivan petrov', NULL, NULL, NULL, {rare}, 'b'), "
                    f"('m', 'anna ivanova', ['+79794731072'], NULL, NULL, {common}, 'c'), "
                    f"('m', 'anna ivanova', NULL, NULL, NULL, {common}, 'd'), "
                    f"('k', 'ivan petrova', NULL, NULL, NULL, {rare}, 'e')) "
                    "AS v(name_key, name_norm, phones, emails, company_core, tf, id)")
        kept = {row for r in rules for row in con.execute(
            f"SELECT l.id, r.id FROM t AS l JOIN t AS r ON l.id < r.id AND {r['blocking_rule']}").fetchall()}
    assert kept == {("a", "b")}  # "c"/"d": a name 1,500 share; "e": not the same name


def test_the_spec_names_the_pairs_compared_down_to_its_prediction_floor():
    # the new-phone rule (resolver/evidence.py) can raise only one name at one company
    sql = spec_for("contact").floor_pairs_sql()
    assert sql == 'l."name_norm" = r."name_norm" AND l."company_core" = r."company_core"'
    assert spec_for("company").floor_pairs_sql() is None


@pytest.fixture(scope="module")
def large_table():
    # large enough that a rare name outweighs the name levels without term frequencies (tf of one record
    # below the exact level's u): the pruning's name cut-off applies (not in the 1,500-record fixture)
    from resolver.ingest import read_amocrm
    from training.synthetic import generate_contacts

    synthetic = generate_contacts(25_000, seed=7)
    with Store(":memory:") as store:
        ingest(store, account_id="g", entity="contact", records=read_amocrm(synthetic.entities, "contact"))
        return store.scan_input("g", spec_for("contact"))


def test_the_name_cut_off_leaves_out_only_pairs_below_the_threshold(large_table):
    model = load_model("contact")
    spec = spec_for("contact")
    n = large_table.num_rows - large_table.column("name_norm").null_count
    rules = narrowed_rules(model.settings_for_base(large_table.num_rows), model.review_threshold,
                           {"name_norm": tf_value(1, n)}, record_tf="t")
    assert any('l."t" <= ' in r["blocking_rule"] for r in rules)  # the cut-off is in play at this size
    # as the scan predicts: down to the floor for one name at one company, the rest pruned at the review threshold
    pruned = predict_pairs(large_table, model, threshold=spec.prediction_floor, prune_below=model.review_threshold,
                           keep=spec.floor_pairs_sql())
    full = predict_pairs(large_table, model, threshold=spec.prediction_floor, prune=False)
    rows = {r["unique_id"]: (r["name_norm"], r["company_core"]) for r in
            large_table.select(["unique_id", "name_norm", "company_core"]).to_pylist()}

    def needed(pairs):  # what the scan goes on with: the review threshold, or one name at one company
        return [p for p in _pairs(pairs) if p[2] >= model.review_threshold
                or (rows[p[0]] == rows[p[1]] and None not in rows[p[0]])]

    assert needed(pruned) == needed(full)
    assert len(needed(full)) > 100
