"""MLflow per tenant: a real `mlflow server --app-name basic-auth` on real retrains of two accounts.

Tenant `acme` gets its login before its first retrain (the registry's hook grants as it creates the
experiment and model); tenant `globex` retrains first and gets its login afterwards (the CLI grants what
exists). Then, over the server's REST API, each login reaches its own runs, borderline pairs and threshold
tags and nothing of the other account's.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from resolver.errors import ModelError
from resolver.ingest import read_amocrm
from resolver.linkage import load_model
from resolver.scan import ingest
from resolver.store import Store
from tests.servers import STARTUP_SECONDS, STOP_SECONDS, clean_env, crm_dedup, free_port, wait_until_answers
from training.evaluate import reviewer_decisions
from training.mlflow_access import (
    AUTH_DB_NAME,
    TenantAccess,
    account_resources,
    ensure_ui_config,
    owner_of,
    ui_command,
    username_for,
)
from training.registry import REVIEW_TAG, Registry
from training.retrain import RetrainResult, retrain
from training.synthetic import generate_contacts

pytestmark = pytest.mark.timeout(900)  # two retrains and a server start on a busy 2-core machine

ADMIN_PASSWORD = "admin-password-for-tests"
API = "/api/2.0/mlflow"


def _retrain(tmp: Path, account: str, uri: str, seed: int) -> RetrainResult:
    synthetic = generate_contacts(600, seed=seed)
    with Store(tmp / f"{account}.duckdb") as store:
        ingest(store, account_id=account, entity="contact", records=read_amocrm(synthetic.entities, "contact"))
        store.add_decisions(account, reviewer_decisions(synthetic.truth, synthetic.hard_negatives, positives=200))
        return retrain(store, account, "contact", tracking_uri=uri, default=load_model("contact"))


def _cli_login(account: str, uri: str, cwd: Path) -> str:
    done = crm_dedup("accounts", "mlflow-user", account, env=clean_env(MLFLOW_TRACKING_URI=uri), cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert f"{username_for(account)!r}" in done.stderr
    return done.stdout.strip().splitlines()[-1]


class Tenant:
    def __init__(self, url: str, account: str, password: str, result: RetrainResult) -> None:
        self.account, self.result = account, result
        self.http = httpx.Client(base_url=url, auth=(username_for(account), password), timeout=30)
        self.experiment_id = ""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    tmp = tmp_path_factory.mktemp("mlflow-access")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    acme_password = _cli_login("acme", uri, tmp)  # before anything exists: the retrain's hook grants
    acme = _retrain(tmp, "acme", uri, seed=3)
    globex = _retrain(tmp, "globex", uri, seed=5)  # no login yet: nothing to grant, nothing refused
    globex_password = _cli_login("globex", uri, tmp)  # grants what exists

    port = free_port()
    config = tmp / "auth.ini"
    config.write_text(f"[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///{tmp / AUTH_DB_NAME}\n"
                      "admin_username = admin\n", encoding="utf-8")
    log = tmp / "mlflow-server.log"
    env = clean_env(MLFLOW_AUTH_CONFIG_PATH=str(config), MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
                    MLFLOW_FLASK_SERVER_SECRET_KEY="csrf-key-for-tests")
    with log.open("w", encoding="utf-8") as stderr:
        server = subprocess.Popen(ui_command(uri, "127.0.0.1", port, workers=1), env=env, cwd=tmp,
                                  stdout=stderr, stderr=stderr, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        # MLflow imports a lot before it listens
        wait_until_answers(server, f"{url}/health", log, seconds=STARTUP_SECONDS * 2, pause=0.2)
        tenants = {"acme": Tenant(url, "acme", acme_password, acme),
                   "globex": Tenant(url, "globex", globex_password, globex)}
        client = Registry(uri).client
        for t in tenants.values():
            experiment = client.get_experiment_by_name(t.result.registered_model)
            assert experiment is not None
            t.experiment_id = str(experiment.experiment_id)
        yield {"url": url, "uri": uri, "tmp": tmp, "env": env, **tenants}
    finally:
        server.terminate()
        try:
            server.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _pairs() -> list[tuple[str, str]]:
    return [("acme", "globex"), ("globex", "acme")]


@pytest.mark.parametrize(("me", "other"), _pairs())
def test_a_login_reads_its_own_runs_borderline_pairs_and_model(world, me, other):
    t: Tenant = world[me]
    got = t.http.get(f"{API}/experiments/get-by-name", params={"experiment_name": t.result.registered_model})
    assert got.status_code == 200, got.text
    runs = t.http.post(f"{API}/runs/search", json={"experiment_ids": [t.experiment_id]})
    assert runs.status_code == 200 and t.result.run_id in {r["info"]["run_id"] for r in runs.json()["runs"]}
    assert t.http.get(f"{API}/runs/get", params={"run_id": t.result.run_id}).status_code == 200
    csv = t.http.get("/get-artifact", params={"run_uuid": t.result.run_id, "path": "evaluation/borderline_pairs.csv"})
    assert (csv.status_code == 200 and csv.text.startswith("left_id")) or "," in csv.text.splitlines()[0]
    listed = t.http.get(f"{API}/artifacts/list", params={"run_id": t.result.run_id, "path": "evaluation"})
    assert listed.status_code == 200
    model = t.http.get(f"{API}/registered-models/get", params={"name": t.result.registered_model})
    assert model.status_code == 200, model.text


@pytest.mark.parametrize(("me", "other"), _pairs())
def test_a_login_gets_403_on_every_part_of_the_other_account(world, me, other):
    t: Tenant = world[me]
    o: Tenant = world[other]
    forbidden = {
        "experiment": t.http.get(f"{API}/experiments/get", params={"experiment_id": o.experiment_id}),
        "experiment by name": t.http.get(f"{API}/experiments/get-by-name",
                                         params={"experiment_name": o.result.registered_model}),
        "run": t.http.get(f"{API}/runs/get", params={"run_id": o.result.run_id}),
        "metric history": t.http.get(f"{API}/metrics/get-history",
                                     params={"run_id": o.result.run_id, "metric_key": "f1"}),
        "artifact list": t.http.get(f"{API}/artifacts/list", params={"run_id": o.result.run_id}),
        "borderline pairs": t.http.get("/get-artifact", params={"run_uuid": o.result.run_id,
                                                                "path": "evaluation/borderline_pairs.csv"}),
        "registered model": t.http.get(f"{API}/registered-models/get", params={"name": o.result.registered_model}),
        "champion": t.http.get(f"{API}/registered-models/alias",
                               params={"name": o.result.registered_model, "alias": "champion"}),
        "version": t.http.get(f"{API}/model-versions/get",
                              params={"name": o.result.registered_model, "version": str(o.result.version)}),
        "threshold tag": t.http.post(f"{API}/model-versions/set-tag", json={
            "name": o.result.registered_model, "version": str(o.result.version), "key": REVIEW_TAG, "value": "0.99"}),
        "run tag": t.http.post(f"{API}/runs/set-tag", json={"run_id": o.result.run_id, "key": "x", "value": "y"}),
    }
    assert {what: r.status_code for what, r in forbidden.items()} == dict.fromkeys(forbidden, 403)
    # a search names the experiments to look in; MLflow drops the ones the login cannot read
    searched = t.http.post(f"{API}/runs/search", json={"experiment_ids": [o.experiment_id, t.experiment_id]})
    assert searched.status_code == 200
    assert {r["info"]["experiment_id"] for r in searched.json()["runs"]} == {t.experiment_id}
    alone = t.http.post(f"{API}/runs/search", json={"experiment_ids": [o.experiment_id]})
    assert alone.status_code == 403 or alone.json().get("runs", []) == []
    assert Registry(world["uri"]).champion_info(other, "contact").tags[REVIEW_TAG] != "0.99"


@pytest.mark.parametrize(("me", "other"), _pairs())
def test_searches_list_only_the_logins_own_experiments_and_models(world, me, other):
    t: Tenant = world[me]
    o: Tenant = world[other]
    experiments = t.http.post(f"{API}/experiments/search", json={"max_results": 1000})
    assert experiments.status_code == 200
    names = {e["name"] for e in experiments.json().get("experiments", [])}
    assert t.result.registered_model in names and o.result.registered_model not in names
    models = t.http.get(f"{API}/registered-models/search", params={"max_results": 1000})
    assert models.status_code == 200
    assert {m["name"] for m in models.json().get("registered_models", [])} == {t.result.registered_model}
    versions = t.http.get(f"{API}/model-versions/search", params={"max_results": 1000})
    assert versions.status_code == 200
    assert {v["name"] for v in versions.json().get("model_versions", [])} <= {t.result.registered_model}


def test_a_reviewer_moves_the_threshold_tag_of_its_champion(world):
    t: Tenant = world["acme"]
    champion = t.http.get(f"{API}/registered-models/alias",
                          params={"name": t.result.registered_model, "alias": "champion"})
    assert champion.status_code == 200, champion.text
    version = champion.json()["model_version"]["version"]
    done = t.http.post(f"{API}/model-versions/set-tag", json={
        "name": t.result.registered_model, "version": version, "key": REVIEW_TAG, "value": "0.65"})
    assert done.status_code == 200, done.text
    info = Registry(world["uri"]).champion_info("acme", "contact")
    assert info is not None and info.review_threshold == 0.65
    # READ on the experiment is for looking: the runs themselves cannot be changed or deleted
    assert t.http.post(f"{API}/runs/set-tag", json={"run_id": t.result.run_id, "key": "x", "value": "y"}
                       ).status_code == 403
    assert t.http.post(f"{API}/registered-models/delete", json={"name": t.result.registered_model}).status_code == 403


def test_no_login_or_a_wrong_one_gets_401(world):
    url = world["url"]
    assert httpx.post(f"{url}{API}/experiments/search", json={}, timeout=30).status_code == 401
    assert httpx.get(f"{url}/", timeout=30).status_code == 401  # the UI itself asks for a login
    wrong = httpx.post(f"{url}{API}/experiments/search", json={}, auth=("acme-reviewer", "not-the-password"),
                       timeout=30)
    assert wrong.status_code == 401


def test_resetting_a_login_retires_its_old_password(world):
    url, uri, tmp = world["url"], world["uri"], world["tmp"]
    first = _cli_login("initech", uri, tmp)
    second = _cli_login("initech", uri, tmp)
    search = f"{url}{API}/experiments/search"
    body = {"max_results": 100}
    assert httpx.post(search, json=body, auth=("initech-reviewer", first), timeout=30).status_code == 401
    mine = httpx.post(search, json=body, auth=("initech-reviewer", second), timeout=30)
    assert mine.status_code == 200 and mine.json().get("experiments", []) == []  # no data yet: sees nothing


def test_an_experiment_made_by_another_login_is_refused_not_filled(world):
    """A login can create any experiment name; one squatting `crm-dedup-<other>-contact` must get no data."""
    t: Tenant = world["acme"]
    made = t.http.post(f"{API}/experiments/create", json={"name": "crm-dedup-hooli-contact"})
    assert made.status_code == 200, made.text
    # the login is made, but sharing the squatted experiment with it is refused, loudly
    done = crm_dedup("accounts", "mlflow-user", "hooli", env=clean_env(MLFLOW_TRACKING_URI=world["uri"]),
                     cwd=world["tmp"])
    assert done.returncode == 1 and "acme-reviewer" in done.stderr and done.stdout == ""
    registry = Registry(world["uri"])
    with pytest.raises(ModelError, match="acme-reviewer"):
        registry.start_run("crm-dedup-hooli-contact", run_name="retrain contact", tags={})
    assert registry.client.search_runs([made.json()["experiment_id"]]) == []
    with pytest.raises(ModelError, match="acme-reviewer"):  # the login's reset shares nothing squatted either
        TenantAccess(world["uri"]).create_login("hooli", account_resources(registry.client, "hooli"))


def test_grants_through_the_servers_rest_api_when_tracking_goes_to_the_server(world, monkeypatch):
    """With MLFLOW_TRACKING_URI=http://..., the service logs through the server as its user, and grants there."""
    url = world["url"]
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    first = TenantAccess(url).create_login("umbrella")
    assert first.username == "umbrella-reviewer" and first.shared == ()
    registry = Registry(url)
    run_id = registry.start_run("crm-dedup-umbrella-company", run_name="retrain company", tags={})
    registry.end_run(run_id)
    # a reset grants again what exists (the REST grant is no upsert: it must not fail on "already exists")
    login = TenantAccess(url).create_login("umbrella", account_resources(registry.client, "umbrella"))
    assert login.shared == ("crm-dedup-umbrella-company (experiment)",)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME")
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD")
    run = f"{url}{API}/runs/get"
    params = {"run_id": run_id}
    assert httpx.get(run, params=params, auth=(login.username, login.password), timeout=30).status_code == 200
    assert httpx.get(run, params=params, auth=(login.username, first.password), timeout=30).status_code == 401
    other = world["acme"].http.get(run, params={"run_id": run_id})
    assert other.status_code == 403


def test_names_and_owners():
    assert username_for("acme") == "acme-reviewer"
    assert owner_of("crm-dedup-acme-contact") == owner_of("crm-dedup-acme-company") == "acme-reviewer"
    assert owner_of("crm-dedup-a-b-c-company") == "a-b-c-reviewer"
    assert owner_of("something-else") is None and owner_of("crm-dedup--contact") is None


def test_bad_account_name_is_refused_with_the_field(tmp_path):
    env = clean_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path}/m.db")
    done = crm_dedup("accounts", "mlflow-user", "no spaces", env=env, cwd=tmp_path)
    assert done.returncode == 2 and "field name" in done.stderr and done.stdout == ""


def test_ui_config_is_written_once_with_a_private_generated_admin_password(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_DEDUP_MLFLOW_ADMIN_PASSWORD", raising=False)
    said: list[str] = []
    uri = f"sqlite:///{tmp_path / 'var' / 'mlflow.db'}"
    config, password = ensure_ui_config(uri, said.append)
    text = config.read_text()
    assert "default_permission = NO_PERMISSIONS" in text and password not in text
    secret = tmp_path / "var" / "mlflow-admin-password"
    assert secret.stat().st_mode & 0o777 == 0o600 and secret.read_text().strip() == password
    assert any(password in line for line in said)
    again, same = ensure_ui_config(uri, said.append)
    assert (again, same) == (config, password) and again.read_text() == text
    monkeypatch.setenv("CRM_DEDUP_MLFLOW_ADMIN_PASSWORD", "from-the-environment")
    assert ensure_ui_config(uri, said.append)[1] == "from-the-environment"
    command = ui_command(uri, "127.0.0.1", 5000)
    assert command[command.index("--host") + 1] == "127.0.0.1" and "basic-auth" in command
    assert sys.executable == command[0]
