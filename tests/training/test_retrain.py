"""The retrain flow against a real MLflow sqlite store: run logged, version registered, champion only if not worse."""

from pathlib import Path

import pytest
from mlflow import MlflowClient

from resolver.ingest import read_amocrm
from resolver.linkage import load_model
from resolver.scan import ingest
from resolver.store import Store
from training.evaluate import LABEL_THRESHOLDS, label_scores, pr_auc, reviewer_decisions
from training.registry import CHAMPION, Registry, registered_name
from training.retrain import Evaluation, promotion, retrain
from training.synthetic import generate_contacts


def labeled_store(path, n=1000, seed=3, positives=400):
    """A store with generated contacts of account `acme`: not_duplicate on every hard-negative pair,
    duplicate on the first `positives` true pairs."""
    synthetic = generate_contacts(n, seed=seed)
    store = Store(path)
    ingest(store, account_id="acme", entity="contact", records=read_amocrm(synthetic.entities, "contact"))
    store.add_decisions("acme", reviewer_decisions(synthetic.truth, synthetic.hard_negatives, positives=positives))
    return store


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("retrain")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    store = labeled_store(tmp / "store.duckdb")
    done = []
    result = retrain(store, "acme", "contact", tracking_uri=uri, default=load_model("contact"),
                     progress=lambda d, t: done.append((d, t)))
    yield result, uri, done, store
    store.close()


def test_retrain_registers_and_promotes_over_the_shipped_default(trained):
    result, uri, done, _ = trained
    assert (result.registered_model, result.version, result.promoted) == ("crm-dedup-acme-contact", 1, True)
    assert result.evaluation == "held-out" and result.n_labels >= 200
    assert result.reason.startswith("promoted: not worse than the shipped default")
    assert done[-1] == (10, 10)
    info = Registry(uri).champion_info("acme", "contact")
    assert info is not None and info.version == 1 and CHAMPION in info.aliases
    # thresholds carried over from the shipped default, as tags the MLflow UI can change
    assert (info.review_threshold, info.auto_merge_threshold) == (0.6, 0.9)


def test_run_logs_params_stepped_metrics_and_artifacts(trained, tmp_path):
    result, uri, _, _ = trained
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(result.run_id)
    assert {"comparisons", "blocking_rules", "records", "labels", "labels_duplicate",
            "labels_not_duplicate", "reranker"} <= set(run.data.params)
    assert run.data.params["records"] == str(result.n_records)
    history = client.get_metric_history(result.run_id, "f1")
    assert [m.step for m in history] == list(range(len(LABEL_THRESHOLDS)))
    assert {"pr_auc", "champion_pr_auc", "f1_at_review"} <= set(run.data.metrics)
    files = {a.path for d in ("model", "evaluation", "charts") for a in client.list_artifacts(result.run_id, d)}
    assert files == {"model/settings.json", "model/meta.json", "model/reranker.json",
                     "evaluation/pr_curve.csv", "evaluation/borderline_pairs.csv", "charts/match_weights.html",
                     "charts/pr_curve.png"}
    png = Path(client.download_artifacts(result.run_id, "charts/pr_curve.png", str(tmp_path)))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.data.tags["promotion"] == result.reason


def test_champion_loads_back_with_its_reranker_and_tag_thresholds(trained):
    result, uri, _, _ = trained
    registry = Registry(uri)
    registry.set_tag("acme", "contact", result.version, "review_threshold", "0.73")
    loaded = registry.load("acme", "contact", registry.champion_info("acme", "contact"))
    assert loaded.model.version == "crm-dedup-acme-contact@v1"
    assert loaded.model.review_threshold == 0.73
    assert loaded.reranker is not None and loaded.reranker.kind == "calibrated-gradient-boosting"
    registry.set_tag("acme", "contact", result.version, "review_threshold", "0.6")


def test_second_retrain_compares_with_the_champion_on_the_same_labels(trained):
    _, uri, _, store = trained
    again = retrain(store, "acme", "contact", tracking_uri=uri, default=load_model("contact"))
    assert again.version == 2
    assert "the champion" in again.reason
    # same data, same seed: the same model, so it is not worse, and it takes over
    assert again.promoted and again.candidate == again.champion
    Registry(uri).promote("acme", "contact", 1)  # rollback
    assert Registry(uri).champion_info("acme", "contact").version == 1
    assert registered_name("acme/ООО", "company") == "crm-dedup-acme____-company"


E = Evaluation


@pytest.mark.parametrize(("candidate", "champion", "promoted", "starts"), [
    (E(0.9, 0.9, {}), E(0.9, 0.9, {}), True, "promoted: not worse"),
    (E(0.897, 0.9, {}), E(0.9, 0.9, {}), True, "promoted: not worse"),  # within the tolerance
    (E(0.9, 0.8, {}), E(0.9, 0.9, {}), False, "not promoted: worse than the champion"),
    (E(0.5, 0.95, {}), E(0.9, 0.9, {}), False, "not promoted: worse than the champion"),
    (None, E(0.9, 0.9, {}), False, "not promoted: no held-out labels"),
], ids=["equal", "within-tolerance", "f1-worse", "pr-auc-worse", "no-labels"])
def test_promotion_rule(candidate, champion, promoted, starts):
    ok, reason = promotion(candidate, champion, has_champion=True)
    assert ok is promoted and reason.startswith(starts)


@pytest.mark.parametrize(("labels", "p", "threshold", "expected"), [
    ([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1], 0.5, (0.5, 0.5, 0.5)),
    ([1, 0], [0.99, 0.2], 0.5, (1.0, 1.0, 1.0)),
    ([0, 0], [0.1, 0.2], 0.5, (1.0, 1.0, 1.0)),  # nothing predicted, nothing to find
], ids=["one-of-each-wrong", "perfect", "no-positives"])
def test_label_scores(labels, p, threshold, expected):
    s = label_scores(labels, p, threshold)
    assert (s.precision, s.recall, s.f1) == pytest.approx(expected)


@pytest.mark.parametrize(("labels", "p", "expected"), [
    ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], (1 / 2) * 1.0 + (1 / 2) * (2 / 3)),
    ([1, 1, 0], [0.5, 0.5, 0.5], 2 / 3),  # one score for all: the base rate
    ([0, 0], [0.3, 0.2], 0.0),
], ids=["interleaved", "ties-together", "no-positives"])
def test_pr_auc(labels, p, expected):
    assert pr_auc(labels, p) == pytest.approx(expected)
