"""Tenant fairness: one unfinished job per account, kind and entity; accounts take turns; checks never wait on
another account's lock. Ordering is read from what the store saw, never from clocks."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from api.jobs import JobRunner
from api.services import Services
from api.settings import Settings
from resolver.candidates import Checker
from resolver.records import Record
from resolver.scan import ingest
from resolver.store import Store
from tests.api.conftest import PEOPLE

WAIT_S = 120.0  # a generous ceiling for a thread to get where it is going; not a speed target


class StartOrderStore(Store):
    """A real store that notes each job as the worker marks it running, and holds the first one there until
    `release` is set, so the test can queue everything it wants behind it."""

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self.started: list[str] = []
        self.first_running = threading.Event()
        self.release = threading.Event()

    def update_job(self, account_id: str, job_id: str, **kwargs: Any) -> None:
        if kwargs["status"] == "running" and job_id not in self.started:
            self.started.append(job_id)
            if len(self.started) == 1:
                self.first_running.set()
                assert self.release.wait(WAIT_S), "the test never released the first job"
        super().update_job(account_id, job_id, **kwargs)


class HeldRunner(JobRunner):
    """The app's runner with its worker held before each job until `release` is set."""

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.release = threading.Event()

    def _run(self, store: Store, job: Any) -> None:
        assert self.release.wait(WAIT_S), "the test never released the runner"
        super()._run(store, job)


@pytest.fixture
def held(api):
    """The app's job runner replaced by one that starts nothing until released (then runs as usual)."""
    runner = HeldRunner(api.client.app.state.services)
    api.client.app.state.jobs = runner
    yield runner
    runner.release.set()
    runner.stop()


@pytest.fixture
def ordered(tmp_path, default_models):
    """A real job runner on a StartOrderStore (its first job held until `store.release`); closed after."""
    store = StartOrderStore(tmp_path / "jobs.duckdb")
    runner = JobRunner(Services(settings=Settings(db=tmp_path / "jobs.duckdb"), store=store,
                                models=dict(default_models)))
    yield store, runner
    store.release.set()
    runner.stop()
    store.close()


def post(api, path, headers, body):
    response = api.client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    return response.status_code, response.json()


def test_asking_again_for_queued_work_returns_the_same_job_with_200(api, acme, held):
    first = post(api, "/v1/jobs/scan", acme, {"entity": "contact"})
    again = post(api, "/v1/jobs/scan", acme, {"entity": "contact"})
    both = post(api, "/v1/jobs/scan", acme, {"entity": None})  # covers contacts: the queued contact scan stands
    companies = post(api, "/v1/jobs/scan", acme, {"entity": "company"})  # another entity: new work
    retrain = post(api, "/v1/models/retrain", acme, {"entity": "contact"})  # another kind: new work
    retrain_again = post(api, "/v1/models/retrain", acme, None)  # both entities: overlaps the contact retrain

    assert [first[0], again[0], both[0], companies[0], retrain[0], retrain_again[0]] == [202, 200, 200, 202, 202, 200]
    assert again[1] == first[1] and both[1] == first[1]
    assert companies[1]["job_id"] != first[1]["job_id"]
    assert retrain_again[1]["job_id"] == retrain[1]["job_id"]
    assert api.store._execute("SELECT count(*) FROM jobs").fetchone() == (3,)


def test_another_account_may_queue_the_same_work(api, acme, held):
    other = api.account("other")

    mine = post(api, "/v1/jobs/scan", acme, {"entity": None})
    theirs = post(api, "/v1/jobs/scan", other, {"entity": None})

    assert (mine[0], theirs[0]) == (202, 202)
    assert mine[1]["job_id"] != theirs[1]["job_id"]


def test_a_both_entities_scan_queued_first_stands_for_either_entity(api, acme, held):
    both = post(api, "/v1/jobs/scan", acme, None)
    companies = post(api, "/v1/jobs/scan", acme, {"entity": "company"})

    assert (both[0], companies[0]) == (202, 200)
    assert companies[1]["job_id"] == both[1]["job_id"]


def test_the_same_work_may_be_asked_for_again_once_its_job_finished(api, acme):
    api.upsert(acme, PEOPLE)
    first = api.scan(acme)

    response = api.client.post("/v1/jobs/scan", json={"entity": "contact"}, headers=acme)

    assert response.status_code == 202
    assert response.json()["job_id"] != first["job_id"]
    assert api.wait(response.json()["job_id"], acme)["status"] == "done"


def test_the_openapi_description_says_asking_again_is_200(api):
    spec = api.client.get("/openapi.json").json()

    for path in ("/v1/jobs/scan", "/v1/models/retrain"):
        op = spec["paths"][path]["post"]
        assert {"200", "202"} <= set(op["responses"]), path
        assert "**200**" in op["description"], path


def test_a_second_account_waits_only_for_the_job_running_not_for_the_first_accounts_backlog(ordered):
    store, runner = ordered
    a_contacts, _ = runner.submit_scan("a", "contact")
    assert store.first_running.wait(WAIT_S)  # A's first scan holds the worker
    a_companies, _ = runner.submit_scan("a", "company")
    a_retrain, _ = runner.submit_retrain("a", None)
    b_scan, _ = runner.submit_scan("b", None)
    store.release.set()
    jobs = [a_contacts, a_companies, a_retrain, b_scan]
    for job in jobs:
        account = "b" if job is b_scan else "a"
        assert _finished(store, account, job["job_id"]) in ("done", "failed")

    assert store.started == [a_contacts["job_id"], b_scan["job_id"], a_companies["job_id"], a_retrain["job_id"]]


def test_accounts_take_turns_when_both_have_a_backlog(ordered):
    store, runner = ordered
    a1, _ = runner.submit_scan("a", "contact")
    assert store.first_running.wait(WAIT_S)
    a2, _ = runner.submit_scan("a", "company")
    b1, _ = runner.submit_scan("b", "contact")
    b2, _ = runner.submit_scan("b", "company")
    c1, _ = runner.submit_scan("c", None)
    store.release.set()
    for account, job in (("a", a1), ("a", a2), ("b", b1), ("b", b2), ("c", c1)):
        assert _finished(store, account, job["job_id"]) == "done"

    # A ran first, so B and C (never served) go before A's second; then A, then B's second
    assert store.started == [a1["job_id"], b1["job_id"], c1["job_id"], a2["job_id"], b2["job_id"]]


def test_stopping_fails_the_queued_jobs_and_a_new_start_takes_new_ones(ordered):
    store, runner = ordered
    running, _ = runner.submit_scan("a", "contact")
    assert store.first_running.wait(WAIT_S)
    queued, _ = runner.submit_scan("b", "contact")
    stopper = threading.Thread(target=runner.stop)
    stopper.start()
    assert runner._stopping.wait(WAIT_S)  # stop() has begun before the running job may end
    store.release.set()
    stopper.join(WAIT_S)
    assert not stopper.is_alive()
    states = {name: store.job(account, job["job_id"]) for name, account, job in (
        ("running", "a", running), ("queued", "b", queued))}
    again, created = runner.submit_scan("b", "contact")
    assert created and _finished(store, "b", again["job_id"]) == "done"

    assert states["running"] is not None and states["running"]["status"] == "done"
    assert states["queued"] is not None and states["queued"]["status"] == "failed"
    assert states["queued"]["error"].startswith("the service stopped before this job started")


def _finished(store: Store, account: str, job_id: str) -> str:
    """Wait for a job to end; its status. Polls the store with an event's wait as the pause."""
    pause = threading.Event()
    for _ in range(int(WAIT_S / 0.02)):
        job = store.job(account, job_id)
        assert job is not None
        if job["status"] in ("done", "failed"):
            return str(job["status"])
        pause.wait(0.02)
    raise AssertionError(f"job {job_id} did not finish")


# --- the real-time check: a lock per account ----------------------------------------------------------------

class HeldRefreshStore(Store):
    """A real store whose snapshot reads for `held_account` stop at `release` (after signalling `entered`)."""

    def __init__(self, path: Any, held_account: str) -> None:
        super().__init__(path)
        self.held_account = held_account
        self.entered = threading.Event()
        self.release = threading.Event()

    def records_changed_since(self, account_id: str, spec: Any, since: Any) -> Any:
        if account_id == self.held_account:
            self.entered.set()
            assert self.release.wait(WAIT_S), "the test never released the held refresh"
        return super().records_changed_since(account_id, spec, since)


def contact(record_id: str, name: str, phone: str) -> Record:
    return Record("contact", record_id, name=name, phones=(phone,))


def test_a_check_of_one_account_never_waits_for_another_accounts_snapshot_load(tmp_path, default_models):
    store = HeldRefreshStore(tmp_path / "check.duckdb", held_account="a")
    checker = Checker(store, dict(default_models))
    ingest(store, account_id="a", entity="contact", records=[contact("1", "Петров Иван", "8 916 123-45-67")])
    ingest(store, account_id="b", entity="contact", records=[contact("7", "Орлов Сергей", "+7 903 555-11-22")])
    probe_a = contact("", "Иван Петров", "+7 916 123 45 67")
    probe_b = contact("", "Сергей Орлов", "8 903 555 11 22")
    answers: dict[str, list[str]] = {}

    def check(account: str, probe: Record) -> None:
        answers[account] = [m.record_id for m in checker.check(account, probe)]

    a_thread = threading.Thread(target=check, args=("a", probe_a), daemon=True)
    b_thread = threading.Thread(target=check, args=("b", probe_b), daemon=True)
    try:
        a_thread.start()
        assert store.entered.wait(WAIT_S)  # A's snapshot load is under way and held
        b_thread.start()
        b_thread.join(WAIT_S)
        b_done_while_a_held = not b_thread.is_alive()
        a_still_held = a_thread.is_alive()
    finally:
        store.release.set()
        a_thread.join(WAIT_S)
        b_thread.join(WAIT_S)
        store.close()

    assert b_done_while_a_held and a_still_held
    assert answers == {"b": ["7"], "a": ["1"]}


def test_checks_of_one_account_from_many_threads_see_every_record(tmp_path, default_models):
    # the per-account lock still serialises one account's refreshes: no record is applied twice or lost
    store = Store(tmp_path / "many.duckdb")
    checker = Checker(store, dict(default_models))
    people = [contact(str(i), f"Клиент {i}", f"+7 916 5{i + 123456:06d}") for i in range(200)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def check_all(offset: int) -> None:
        try:
            barrier.wait(WAIT_S)
            for i in range(offset, 200, 4):
                ingest(store, account_id="a", entity="contact", records=[people[i]])
                found = [m.record_id for m in checker.check("a", contact("", f"Клиент {i}", people[i].phones[0]))]
                assert str(i) in found, (i, found)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=check_all, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    try:
        assert errors == []
        assert all(not t.is_alive() for t in threads)
        assert checker.duplicates_of("a", "contact", "199") is not None  # the last one written is in memory
    finally:
        store.close()
