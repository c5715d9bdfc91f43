"""Model artifacts cannot run code: a champion whose every file is a crafted pickle is refused, nothing runs,
and a real server keeps answering with the shipped default (and says why, in its answer, its log and /metrics).

The re-ranker is stored as JSON (training/reranker.py) and predicts to the last bit as scikit-learn does.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.metrics import Metrics
from resolver.accounts import create_account
from resolver.errors import ModelError
from resolver.ingest import read_amocrm
from resolver.linkage import load_model
from resolver.scan import ingest
from resolver.store import Store
from tests.servers import clean_env, served
from training.artifacts import REFUSAL_REASONS, RefusedModel, parse_json
from training.evaluate import reviewer_decisions
from training.registry import AUTO_MERGE_TAG, MODEL_DIR, REVIEW_TAG, Registry, VersionInfo, registered_name
from training.reranker import Reranker, fit_estimator
from training.retrain import retrain
from training.synthetic import generate_contacts

pytestmark = pytest.mark.timeout(900)  # a guard for a stuck server, not a speed target


class _RunsOnLoad:
    """Unpickling this calls `call(*args)`: what an attacker's `reranker.joblib` does."""

    def __init__(self, call: Any, args: tuple[Any, ...]) -> None:
        self.call, self.args = call, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.call, self.args


def crafted_pickle(marker: Path, *, shell: bool = True) -> bytes:
    """A pickle that creates `marker` when loaded: by a shell command, or by Python's own open()."""
    if shell:
        return pickle.dumps(_RunsOnLoad(os.system, (f"touch {shlex.quote(str(marker))}",)))
    return pickle.dumps(_RunsOnLoad(open, (str(marker), "w")))


def _walk(registry: Registry, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for item in registry.client.list_artifacts(run_id, path):
        out |= _walk(registry, run_id, item.path) if item.is_dir else {item.path}
    return out


def _register(registry: Registry, files: dict[str, bytes], tags: dict[str, str] | None = None,
              account: str = "acme") -> VersionInfo:
    """A new version of the account's contact model whose run holds exactly `files` (path -> content)."""
    run_id = registry.start_run(registered_name(account, "contact"), "planted", tags={"account_id": account})
    for path, blob in files.items():
        registry.log_bytes(run_id, blob, path)
    registry.end_run(run_id)
    version = registry.register(account, "contact", run_id, tags=tags if tags is not None else {})
    return next(v for v in registry.versions(account, "contact") if v.version == version)


def _download(registry: Registry, run_id: str, tmp: Path) -> dict[str, bytes]:
    local = Path(registry.client.download_artifacts(run_id, MODEL_DIR, str(tmp)))
    return {f"{MODEL_DIR}/{p.name}": p.read_bytes() for p in local.iterdir()}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A champion trained by the real retrain flow, then a version of crafted pickles made the champion.

    acme's champion: every file of the version a pickle. beta's: the finding's attack, real Splink
    settings and meta with a pickle as the re-ranker (reranker.json and reranker.joblib). gamma's:
    real settings and meta with only an old-style reranker.joblib, a pickle.

    Yields (directory, store file, tracking URI, API keys by account, markers directory, the good
    retrain result, acme's planted version).
    """
    tmp = tmp_path_factory.mktemp("artifacts")
    db, uri = tmp / "api.duckdb", f"sqlite:///{tmp / 'mlflow.db'}"
    store = Store(db)
    keys = {account: create_account(store, account) for account in ("acme", "beta", "gamma")}
    synthetic = generate_contacts(1000, seed=3)
    ingest(store, account_id="acme", entity="contact", records=read_amocrm(synthetic.entities, "contact"))
    store.add_decisions("acme", reviewer_decisions(synthetic.truth, synthetic.hard_negatives, positives=400))
    good = retrain(store, "acme", "contact", tracking_uri=uri, default=load_model("contact"))
    store.close()  # the server opens the file next
    assert good.promoted and good.version == 1
    registry = Registry(uri)
    real = _walk(registry, good.run_id)
    assert {f"{MODEL_DIR}/settings.json", f"{MODEL_DIR}/meta.json", f"{MODEL_DIR}/reranker.json"} <= real
    markers = tmp / "markers"
    markers.mkdir()
    # every file the good version's run has, and a reranker.joblib on top, each a pickle with its own marker
    paths = sorted(real | {f"{MODEL_DIR}/reranker.joblib"})
    files = {p: crafted_pickle(markers / f"{i}", shell=i % 2 == 0) for i, p in enumerate(paths)}
    # the threshold tags too: a text pickle (protocol 0) where a number belongs
    tag = pickle.dumps(_RunsOnLoad(os.system, (f"touch {markers / 'tag'}",)), protocol=0).decode("latin-1")
    version = _register(registry, files, tags={REVIEW_TAG: tag, AUTO_MERGE_TAG: tag})
    registry.promote("acme", "contact", version.version)
    real_files = _download(registry, good.run_id, tmp / "good")
    thresholds = {REVIEW_TAG: "0.6", AUTO_MERGE_TAG: "0.9"}
    beta = real_files | {f"{MODEL_DIR}/reranker.json": crafted_pickle(markers / "beta-json"),
                         f"{MODEL_DIR}/reranker.joblib": crafted_pickle(markers / "beta-joblib", shell=False)}
    registry.promote("beta", "contact", _register(registry, beta, thresholds, account="beta").version)
    gamma = {p: b for p, b in real_files.items() if not p.endswith("reranker.json")}
    gamma[f"{MODEL_DIR}/reranker.joblib"] = crafted_pickle(markers / "gamma-joblib")
    registry.promote("gamma", "contact", _register(registry, gamma, thresholds, account="gamma").version)
    yield tmp, db, uri, keys, markers, good, version


def test_the_planted_pickles_would_run_code_if_unpickled(tmp_path):
    # the control: the same payloads, unpickled by a plain Python, do create their marker
    for shell in (True, False):
        marker, blob = tmp_path / f"ran-{shell}", tmp_path / f"blob-{shell}"
        blob.write_bytes(crafted_pickle(marker, shell=shell))
        subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.load(open(sys.argv[1], 'rb'))", str(blob)],
                       check=True, timeout=60)
        assert marker.exists()


def test_a_champion_of_pickles_is_refused_and_the_server_keeps_answering(planted):
    tmp, db, uri, keys, markers, _, version = planted
    env = clean_env(MLFLOW_TRACKING_URI=uri, CRM_DEDUP_MODEL_REFRESH_SECONDS="0")  # a lookup on every request
    refusals = {"acme": ("not_json", "settings.json is not UTF-8 JSON"),
                "beta": ("not_json", "reranker.json is not UTF-8 JSON"),
                "gamma": ("legacy_pickle", "reranker.joblib, a pickle this service never loads")}
    with served(db, env=env, cwd=tmp) as server:
        for account, (reason, detail) in refusals.items():
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {keys[account]}"},
                              timeout=60) as client:
                for _ in range(3):
                    current = client.get("/v1/models/current", params={"entity": "contact"})
                    assert current.status_code == 200, current.text
                    body = current.json()
                    assert (body["source"], body["version"], body["registry_version"], body["reranker"]) == (
                        "shipped default", "default-1", None, False)
                    assert (body["refused"]["reason"], body["refused"]["registry_version"]) == (
                        reason, version.version if account == "acme" else 1)
                    assert detail in body["refused"]["detail"]
                put = client.put("/v1/contacts/900001", json={"name": "Олег Котов", "phones": ["8 999 000-11-22"]})
                assert put.status_code in (200, 201), put.text
                duplicates = client.get("/v1/contacts/900001/duplicates")
                assert duplicates.status_code == 200, duplicates.text
                assert duplicates.json()["model_version"] == "default-1"
                check = client.post("/v1/contacts/check", json={"name": "Олег Котов", "phones": ["+79990001122"]})
                assert check.status_code == 200, check.text
                assert check.json()["model_version"] == "default-1"
                assert "900001" in [m["record_id"] for m in check.json()["matches"]]
                # the other entity has no champion: nothing refused there
                assert client.get("/v1/models/current", params={"entity": "company"}).json()["refused"] is None
                # process metrics need no credentials (an account key is refused there)
                metrics = httpx.get(f"{client.base_url}/metrics").text
        assert 'crm_dedup_model_refused_total{entity="contact",reason="not_json"} 2\n' in metrics
        assert 'crm_dedup_model_refused_total{entity="contact",reason="legacy_pickle"} 1\n' in metrics
        assert 'crm_dedup_model_refused_total{entity="company",reason="not_json"} 0\n' in metrics
        assert not any(account in metrics for account in refusals)  # no account names in labels
        code, log = server.stop()
    assert code == 0
    assert sorted(p.name for p in markers.iterdir()) == []  # no payload ran, not even once
    # refused once per champion version, not once per request
    for account, (reason, _) in refusals.items():
        assert log.count(f"of {account}/contact refused ({reason})") == 1, log


def _good_files(planted: Any, tmp_path: Path) -> dict[str, bytes]:
    _, _, uri, _, _, good, _ = planted
    return _download(Registry(uri), good.run_id, tmp_path)


def _edited(blob: bytes, **changes: Any) -> bytes:
    return json.dumps(json.loads(blob) | changes).encode()


@pytest.mark.parametrize(("case", "reason"), [
    ("only the old reranker.joblib", "legacy_pickle"),
    ("settings.json missing", "missing_file"),
    ("meta names a re-ranker that is missing", "missing_file"),
    ("settings.json over its size cap", "too_large"),
    ("re-ranker kind outside the allow-list", "invalid"),
    ("settings.json not the Splink shape", "invalid"),
    ("meta extra field with SQL in its name", "invalid"),
    ("no usable threshold", "thresholds"),
])
def test_a_version_that_cannot_load_is_refused_with_its_reason(planted, tmp_path, case, reason):
    _, _, uri, _, markers, _, _ = planted
    files = _good_files(planted, tmp_path)
    tags = {REVIEW_TAG: "0.6", AUTO_MERGE_TAG: "0.9"}
    marker = markers / "load"
    settings, meta, reranker = (f"{MODEL_DIR}/{n}" for n in ("settings.json", "meta.json", "reranker.json"))
    if case == "only the old reranker.joblib":
        del files[reranker]
        files[f"{MODEL_DIR}/reranker.joblib"] = crafted_pickle(marker)
    elif case == "settings.json missing":
        del files[settings]
    elif case == "meta names a re-ranker that is missing":
        del files[reranker]
    elif case == "settings.json over its size cap":
        files[settings] = b" " * (4 * 1024 * 1024) + files[settings]
    elif case == "re-ranker kind outside the allow-list":
        files[reranker] = _edited(files[reranker], kind="sklearn.ensemble.RandomForestClassifier")
    elif case == "settings.json not the Splink shape":
        files[settings] = b'{"comparisons": "DROP TABLE records"}'
    elif case == "meta extra field with SQL in its name":
        files[meta] = _edited(files[meta], extras=[{"name": "a; DROP TABLE records", "kind": "text",
                                                    "source": "a"}])
    elif case == "no usable threshold":
        tags = {REVIEW_TAG: "high"}
        files[meta] = _edited(files[meta], review_threshold="high")
    registry = Registry(uri)
    info = _register(registry, files, tags=tags)
    with pytest.raises(RefusedModel) as refused:
        registry.load("acme", "contact", info)
    assert refused.value.reason == reason, refused.value.detail
    assert not marker.exists()


def test_the_good_version_still_loads_with_its_reranker(planted, tmp_path):
    _, _, uri, _, _, good, _ = planted
    registry = Registry(uri)
    info = next(v for v in registry.versions("acme", "contact") if v.version == good.version)
    loaded = registry.load("acme", "contact", info)
    assert loaded.reranker is not None and loaded.reranker.kind == "calibrated-gradient-boosting"
    assert loaded.model.review_threshold == 0.6


# -- the stored re-ranker ---------------------------------------------------------------------------

def _labeled(n_per_class: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(2 * n_per_class, 6))
    labels = (matrix[:, 0] + 0.5 * matrix[:, 1] + rng.normal(scale=0.7, size=len(matrix)) > 0).astype(int)
    matrix[rng.random(matrix.shape) < 0.1] = np.nan  # missing features: the trees route them
    return matrix, labels


NAMES = tuple(f"f{i}" for i in range(6))


@pytest.mark.parametrize(("n_per_class", "kind"), [
    (12, "logistic-regression"), (200, "calibrated-gradient-boosting")])
def test_round_trip_predicts_exactly_as_scikit_learn(n_per_class, kind):
    matrix, labels = _labeled(n_per_class)
    if kind == "logistic-regression":
        matrix = np.nan_to_num(matrix)  # a logistic regression takes no missing values
    estimator, fitted_kind = fit_estimator(matrix, labels)
    assert fitted_kind == kind
    stored = Reranker.from_estimator(NAMES, estimator, len(labels), check=matrix).to_bytes()
    loaded = Reranker.from_bytes(stored)
    assert (loaded.kind, loaded.feature_names, loaded.n_labels) == (kind, NAMES, len(labels))
    fresh, _ = _labeled(500, seed=9)
    if kind == "logistic-regression":
        fresh = np.nan_to_num(fresh)
    fresh[:20] *= 1e6  # far outside the training range
    assert np.array_equal(loaded.predict(fresh), estimator.predict_proba(fresh)[:, 1])
    assert np.array_equal(loaded.predict(matrix), estimator.predict_proba(matrix)[:, 1])


def _document(kind: str) -> dict[str, Any]:
    matrix, labels = _labeled(12 if kind == "logistic-regression" else 60)
    matrix = np.nan_to_num(matrix)
    estimator, _ = fit_estimator(matrix, labels)
    return Reranker.from_estimator(NAMES, estimator, len(labels), check=matrix).to_document()


def _first_split(doc: dict[str, Any]) -> tuple[dict[str, Any], int]:
    tree = doc["params"]["trees"][0]
    return tree, tree["leaf"].index(False)


@pytest.mark.parametrize(("kind", "edit", "message"), [
    ("logistic-regression", lambda d: d.update(kind="sklearn.ensemble.RandomForestClassifier"), "not one of"),
    ("logistic-regression", lambda d: d.update(kind="builtins.eval"), "not one of"),
    ("logistic-regression", lambda d: d.update({"py/reduce": ["os.system", ["touch x"]]}), "exactly the fields"),
    ("logistic-regression", lambda d: d["params"].update({"py/object": "os.system"}), "exactly the fields"),
    ("logistic-regression", lambda d: d.update(format="joblib"), "format"),
    ("logistic-regression", lambda d: d["params"].update(coef=["os.system"] * 6), "numbers only"),
    ("logistic-regression", lambda d: d["params"].update(scale=[0.0] * 6), "zeros"),
    ("calibrated-gradient-boosting",
     lambda d: (lambda t, i: t["left"].__setitem__(i, i))(*_first_split(d)), "come after it"),
    ("calibrated-gradient-boosting",
     lambda d: (lambda t, i: t["feature"].__setitem__(i, 99))(*_first_split(d)), "outside"),
    ("calibrated-gradient-boosting", lambda d: d["params"]["trees"][0]["value"].__setitem__(0, float("nan")), "NaN"),
])
def test_loading_refuses_anything_outside_the_format(kind, edit, message):
    document = _document(kind)
    edit(document)
    with pytest.raises(ModelError, match=message):
        Reranker.from_bytes(json.dumps(document).encode())


def test_a_pickle_is_never_loaded_as_a_reranker(tmp_path):
    marker = tmp_path / "ran"
    with pytest.raises(ModelError, match="UTF-8 JSON"):
        Reranker.from_bytes(crafted_pickle(marker))
    with pytest.raises(RefusedModel) as refused:
        parse_json(crafted_pickle(marker, shell=False), name="reranker.json")
    assert refused.value.reason == "not_json"
    assert not marker.exists()


def test_metrics_start_every_refusal_series_at_zero(tmp_path):
    metrics = Metrics()
    metrics.model_refused("contact", "legacy_pickle")
    store = Store(tmp_path / "metrics.duckdb")
    try:
        text = metrics.render(store=store, models={})
    finally:
        store.close()
    lines = [line for line in text.splitlines() if line.startswith("crm_dedup_model_refused_total{")]
    assert len(lines) == 2 * len(REFUSAL_REASONS)
    assert 'crm_dedup_model_refused_total{entity="contact",reason="legacy_pickle"} 1' in lines
