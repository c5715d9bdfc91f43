"""Scan jobs over the API: submitted, run in the background while the API answers, followed to the end."""

import re

import pytest

from api.jobs import INTERRUPTED
from resolver.accounts import create_account
from resolver.entities import ExtraField
from resolver.ingest.amocrm import read_amocrm
from resolver.scan import ingest
from resolver.store import Store
from tests.api.conftest import PEOPLE, flat, open_api, problem
from training.synthetic import generate_contacts

pytestmark = pytest.mark.both_stores  # the same behaviour on the DuckDB and the PostgreSQL store

# Two companies that are one (the amoCRM sample: one phone in two spellings, name words swapped)
ROMASHKA = [flat("5120001", "ООО «Ромашка»", ["+7 (495) 765-43-21"], inn="7707083893"),
            flat("5120002", "Ромашка, ООО", ["84957654321"])]


def test_scan_job_is_accepted_then_runs_to_done_with_counts(api, acme):
    api.upsert(acme, PEOPLE)

    response = api.client.post("/v1/jobs/scan", json={"entity": "contact"}, headers=acme)

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", accepted["job_id"])
    assert {k: v for k, v in accepted.items() if k not in ("job_id", "created_at")} == {
        "kind": "scan", "entity": "contact", "status": "queued", "percent": 0.0, "finished_at": None,
        "result": None, "error": None}
    job = api.wait(accepted["job_id"], acme)
    assert {k: job[k] for k in ("status", "percent", "error", "created_at")} == {
        "status": "done", "percent": 100.0, "error": None, "created_at": accepted["created_at"]}
    assert job["finished_at"] >= job["created_at"]
    # {101, 102, 103} hold three pairs, {401, 402} one; the other four records pair with nobody
    assert {k: job["result"][k] for k in ("records", "pairs", "groups")} == {"records": 9, "pairs": 4, "groups": 2}
    assert job["result"]["seconds"] > 0


def test_an_upsert_batch_after_a_scan_queues_an_incremental_scan(api, acme):
    api.upsert(acme, PEOPLE)
    response = api.client.post("/v1/contacts:batch", json={"records": PEOPLE[:1]}, headers=acme)
    assert "scan_job_id" not in response.json()  # never scanned: nothing to keep current
    api.wait(api.client.post("/v1/jobs/scan", json={"entity": "contact"}, headers=acme).json()["job_id"], acme)

    # the namesake 104 gets the phone of 101 and 102 (a later edit): it joins their group
    moved = flat("104", "Иван Петров", ["+7 916 123-45-67"], updated_at="2024-06-01T10:00:00Z")
    response = api.client.post("/v1/contacts:batch", json={"records": [moved]}, headers=acme)

    assert response.status_code == 200, response.text
    job = api.wait(response.json()["scan_job_id"], acme)
    assert (job["kind"], job["status"], job["result"]["mode"], job["result"]["fallback"]) == (
        "incremental_scan", "done", "incremental", None)
    groups = api.client.get("/v1/groups?entity=contacts", headers=acme).json()["items"]
    assert {"101", "102", "103", "104"} in [set(g["record_ids"]) for g in groups]
    quiet = api.client.post("/v1/contacts:batch?scan=false", json={"records": [moved]}, headers=acme)
    assert "scan_job_id" not in quiet.json()


def test_an_incremental_scan_job_without_an_earlier_scan_runs_a_full_one(api, acme):
    api.upsert(acme, PEOPLE)

    response = api.client.post("/v1/jobs/scan", json={"entity": "contact", "incremental": True}, headers=acme)

    assert response.status_code == 202, response.text
    job = api.wait(response.json()["job_id"], acme)
    assert (job["kind"], job["result"]["mode"], job["result"]["groups"]) == ("incremental_scan", "full", 2)
    assert job["result"]["fallback"] == "contact: no earlier scan to build on"


@pytest.mark.parametrize("body", [{"entity": None}, {}, None], ids=["null-entity", "empty-object", "no-body"])
def test_scan_without_an_entity_scans_contacts_and_companies(api, acme, body):
    api.upsert(acme, PEOPLE)
    api.upsert(acme, ROMASHKA, entity="companies")

    response = api.client.post("/v1/jobs/scan", json=body, headers=acme)

    assert response.status_code == 202, response.text
    assert response.json()["entity"] is None
    job = api.wait(response.json()["job_id"], acme)
    assert {k: job["result"][k] for k in ("records", "groups")} == {"records": 11, "groups": 3}
    companies = api.client.get("/v1/groups?entity=companies", headers=acme).json()["items"]
    assert [g["record_ids"] for g in companies] == [["5120001", "5120002"]]


@pytest.mark.parametrize(("body", "field"), [
    ({"entity": "contacts"}, "entity"),  # the body names the entity, the path segment is plural
    ({"entity": "лид"}, "entity"),
    ({"entiti": "contact"}, "entiti"),
], ids=["plural", "unknown", "typo-key"])
def test_bad_scan_request_is_422_naming_the_field(api, acme, body, field):
    out = problem(api.client.post("/v1/jobs/scan", json=body, headers=acme), 422)

    assert [e["field"] for e in out["errors"]] == [field]


def test_unknown_job_is_404(api, acme):
    body = problem(api.client.get("/v1/jobs/0123456789abcdef0123456789abcdef", headers=acme), 404)

    assert body["detail"] == "no job 0123456789abcdef0123456789abcdef in this account"


def test_api_answers_while_a_scan_of_thousands_of_contacts_runs(api, acme):
    people = generate_contacts(3_000, seed=7)
    ingest(api.store, account_id="acme", entity="contact", records=read_amocrm(people.entities, "contact"))
    job_id = api.client.post("/v1/jobs/scan", json={"entity": "contact"}, headers=acme).json()["job_id"]

    # (job status, /healthz status, job status): a health check between two reads of a running job
    # answered while the scan ran; a blocked API would only answer once the job is done
    seen, percents = [], []
    while True:
        before = api.client.get(f"/v1/jobs/{job_id}", headers=acme).json()
        health = api.client.get("/healthz")
        after = api.client.get(f"/v1/jobs/{job_id}", headers=acme).json()
        seen.append((before["status"], health.status_code, after["status"]))
        percents += [before["percent"], after["percent"]]
        if after["status"] in ("done", "failed"):
            break

    assert after["status"] == "done", after
    assert ("running", 200, "running") in seen
    assert percents == sorted(percents) and percents[-1] == 100.0
    assert after["result"]["records"] == 3_000


def test_jobs_a_stopped_process_left_unfinished_are_failed_at_start(tmp_path):
    path = tmp_path / "store.duckdb"
    with Store(path) as store:
        key = create_account(store, "acme")
        running = store.create_job("acme", kind="scan", entity="contact")["job_id"]
        store.update_job("acme", running, status="running", percent=40.0)
        queued = store.create_job("acme", kind="scan", entity=None)["job_id"]
        done = store.create_job("acme", kind="scan", entity="company")["job_id"]
        store.update_job("acme", done, status="done", percent=100.0,
                         result={"records": 2, "pairs": 1, "groups": 1, "seconds": 0.5})

    apis = open_api(path)
    api = next(apis)
    try:
        jobs = {name: api.client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()
                for name, job_id in (("running", running), ("queued", queued), ("done", done))}
    finally:
        apis.close()

    assert {name: (j["status"], j["percent"], j["error"]) for name, j in jobs.items()} == {
        "running": ("failed", 40.0, INTERRUPTED),
        "queued": ("failed", 0.0, INTERRUPTED),
        "done": ("done", 100.0, None),
    }
    assert jobs["running"]["finished_at"] is not None
    assert jobs["done"]["result"] == {"records": 2, "pairs": 1, "groups": 1, "seconds": 0.5}


def test_a_failing_scan_is_reported_failed_without_internals_and_the_next_job_runs(api, acme, caplog):
    api.upsert(acme, PEOPLE)
    # an extra-field config `ExtraField.parse` would refuse, stored anyway: Splink cannot build the model
    api.store.set_extra_fields("acme", "contact", [ExtraField('bad"name', "identifier", "x")])
    failing = api.client.post("/v1/jobs/scan", json={"entity": "contact"}, headers=acme).json()["job_id"]

    failed = api.wait(failing, acme)
    api.store.set_extra_fields("acme", "contact", [])
    after = api.scan(acme)

    assert {k: failed[k] for k in ("status", "error", "result")} == {
        "status": "failed", "error": "internal error (ValueError); see the service log", "result": None}
    assert failed["finished_at"] is not None
    assert [r.getMessage() for r in caplog.records if r.name == "api.jobs"] == [
        f"scan job {failing} of acme failed"]
    assert after["result"]["groups"] == 2
