"""Models over the API and the CLI against a real MLflow store: retrain job, champion, threshold tags, rollback."""


import pytest
from mlflow import MlflowClient

from api.cli import main
from resolver.ingest import read_amocrm
from resolver.scan import ingest
from tests.api.conftest import open_api
from tests.conftest import BACKENDS
from training.evaluate import reviewer_decisions
from training.synthetic import generate_contacts

SHIPPED = {"entity": "contact", "source": "shipped default", "version": "default-1", "registered_model": None,
           "registry_version": None, "review_threshold": 0.6, "auto_merge_threshold": 0.9, "reranker": False,
           "refused": None}


def _label(store, account):
    """Generated contacts with reviewers' decisions: every hard-negative pair rejected, 400 true pairs confirmed."""
    synthetic = generate_contacts(1000, seed=3)
    ingest(store, account_id=account, entity="contact", records=read_amocrm(synthetic.entities, "contact"))
    store.add_decisions(account, reviewer_decisions(synthetic.truth, synthetic.hard_negatives, positives=400))


@pytest.fixture(scope="module", params=BACKENDS)
def served(request, tmp_path_factory):
    """A retrained account on either store (on PostgreSQL the retrain job runs on a job worker)."""
    tmp = tmp_path_factory.mktemp("models")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    url = request.getfixturevalue("postgres_server").new_database() if request.param == "postgres" else None
    # refresh 0: every request re-reads the champion's tags (the service default is 30 s)
    gen = open_api(tmp / "api.duckdb", url, mlflow_tracking_uri=uri, model_refresh_seconds=0)
    api = next(gen)
    acme, other = api.account("acme"), api.account("other")
    before = api.client.get("/v1/models/current?entity=contact", headers=acme).json()
    _label(api.store, "acme")
    response = api.client.post("/v1/models/retrain", json={"entity": "contact"}, headers=acme)
    assert response.status_code == 202, response.text
    job = api.wait(response.json()["job_id"], acme)
    yield api, uri, acme, other, before, job, tmp
    gen.close()


def test_before_any_training_the_shipped_default_serves(served):
    assert served[4] == SHIPPED


def test_retrain_job_registers_a_champion_the_service_then_uses(served):
    api, _, acme, other, _, job, _ = served
    assert (job["status"], job["kind"], job["percent"], job["error"]) == ("done", "retrain", 100.0, None)
    assert job["result"]["records"] == 1000
    current = api.client.get("/v1/models/current?entity=contact", headers=acme).json()
    assert current == {"entity": "contact", "source": "registry", "version": "crm-dedup-acme-contact@v1",
                       "registered_model": "crm-dedup-acme-contact", "registry_version": 1,
                       "review_threshold": 0.6, "auto_merge_threshold": 0.9, "reranker": True,
                       "refused": None}
    # another account keeps the shipped default: a champion is per account
    assert api.client.get("/v1/models/current?entity=contact", headers=other).json() == SHIPPED


@pytest.mark.parametrize(("tag", "value", "field", "expected"), [
    ("review_threshold", "0.8", "review_threshold", 0.8),
    ("auto_merge_threshold", "0.97", "auto_merge_threshold", 0.97),
    # a mistyped tag keeps the last good value instead of switching the service off
    ("review_threshold", "высокий", "review_threshold", 0.8),
    ("review_threshold", "0.6", "review_threshold", 0.6),
], ids=["review", "auto-merge", "junk-tag-ignored", "back"])
def test_threshold_tag_changed_in_mlflow_changes_the_answer(served, tag, value, field, expected):
    api, uri, acme, *_ = served
    MlflowClient(tracking_uri=uri).set_model_version_tag("crm-dedup-acme-contact", "1", tag, value)
    assert api.client.get("/v1/models/current?entity=contact", headers=acme).json()[field] == expected
    assert api.store is not None


def test_cli_lists_versions_and_promote_rolls_back(served, monkeypatch, capsys):
    uri = served[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["models", "list", "--account", "acme", "--entity", "contact"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "entity\tversion\taliases\treview_threshold\tauto_merge_threshold\tpromotion"
    assert lines[1].startswith("contact\t1\tchampion\t0.6\t0.97\tpromoted: not worse than the shipped default")
    assert main(["models", "promote", "7", "--account", "acme", "--entity", "contact"]) == 1  # no such version
    assert "has no version 7" in capsys.readouterr().err
    assert main(["models", "promote", "1", "--account", "acme", "--entity", "contact"]) == 0
    assert capsys.readouterr().err == "contact model version 1 of account 'acme' is now the champion\n"
    MlflowClient(tracking_uri=uri).set_model_version_tag("crm-dedup-acme-contact", "1", "auto_merge_threshold", "0.9")


def test_models_routes_need_an_account(served):
    api = served[0]
    assert api.client.get("/v1/models/current?entity=contact").status_code == 401
    # the plural word of /v1/groups and /v1/feedback works too; anything else names the field
    plural = api.client.get("/v1/models/current?entity=contacts", headers=served[2])
    assert plural.status_code == 200 and plural.json()["entity"] == "contact"
    bad = api.client.get("/v1/models/current?entity=person", headers=served[2])
    assert bad.status_code == 422 and "entity" in bad.json()["errors"][0]["field"]


def test_check_answers_follow_the_champion_threshold_tag(served):
    # a caller's own copy of a stored contact: the champion scores it, and its review_threshold tag
    # (edited in the MLflow UI) decides whether the match is shown, with no restart
    api, uri, acme, *_ = served
    client = MlflowClient(tracking_uri=uri)
    body = {"name": "Новый контакт по звонку с +79990001122 из UIS", "phones": ["+79990001122"]}
    api.client.put("/v1/contacts/900001", json={"name": "Олег Котов", "phones": ["8 999 000-11-22"]}, headers=acme)
    shown = api.client.post("/v1/contacts/check", json=body, headers=acme).json()
    assert shown["model_version"] == "crm-dedup-acme-contact@v1"
    (match,) = [m for m in shown["matches"] if m["record_id"] == "900001"]
    try:
        client.set_model_version_tag("crm-dedup-acme-contact", "1", "review_threshold",
                                     str(min(0.999, match["match_probability"] + 1e-4)))
        hidden = api.client.post("/v1/contacts/check", json=body, headers=acme).json()
        assert "900001" not in [m["record_id"] for m in hidden["matches"]]
    finally:
        client.set_model_version_tag("crm-dedup-acme-contact", "1", "review_threshold", "0.6")
