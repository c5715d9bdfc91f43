"""The PostgreSQL job queue: leases, round-robin between accounts, one job per account and entity, fencing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from resolver.store import PostgresStore, open_store
from resolver.store.queue import MAX_ATTEMPTS, LeaseLost

LEASE = 60.0


@pytest.fixture
def queue(postgres_server) -> Iterator[PostgresStore]:
    with open_store(postgres_server.new_database()) as store:
        assert isinstance(store, PostgresStore)
        yield store


def expire(store: PostgresStore, job_id: str) -> None:
    """As if the worker holding the job died a lease ago."""
    store._execute("UPDATE jobs SET lease_until = clock_timestamp() - interval '1 second' WHERE job_id = ?", [job_id])


def finish(store: PostgresStore, claimed: dict) -> None:
    store.update_job(claimed["account_id"], claimed["job_id"], status="done", percent=100.0, result={})


def test_accounts_take_turns_and_each_account_s_jobs_run_in_order(queue):
    a1 = queue.create_job("a", kind="scan", entity="contact")
    a2 = queue.create_job("a", kind="scan", entity="company")
    a3 = queue.create_job("a", kind="retrain", entity="contact")
    b1 = queue.create_job("b", kind="scan", entity="contact")

    order = []
    while (claimed := queue.claim_job("w1", LEASE)) is not None:
        order.append(claimed["job_id"])
        finish(queue, claimed)

    # a's backlog of three delays b's job by one turn, not three
    assert order == [a1["job_id"], b1["job_id"], a2["job_id"], a3["job_id"]]


def test_one_running_job_per_account_and_entity(queue):
    scan = queue.create_job("a", kind="scan", entity="contact")
    retrain = queue.create_job("a", kind="retrain", entity="contact")
    company = queue.create_job("a", kind="scan", entity="company")
    both = queue.create_job("a", kind="scan", entity=None)

    first = queue.claim_job("w1", LEASE)
    second = queue.claim_job("w2", LEASE)
    assert (first["job_id"], second["job_id"]) == (scan["job_id"], company["job_id"])
    # the retrain of contacts waits for the contact scan; a job of both entities waits for either
    assert queue.claim_job("w3", LEASE) is None
    finish(queue, first)
    assert queue.claim_job("w3", LEASE)["job_id"] == retrain["job_id"]
    assert queue.claim_job("w4", LEASE) is None
    assert queue.job("a", both["job_id"])["status"] == "queued"


def test_a_job_whose_lease_ran_out_is_taken_again_and_the_old_worker_can_write_nothing(queue):
    job = queue.create_job("a", kind="scan", entity="contact")
    first = queue.claim_job("dead", LEASE)
    assert queue.claim_job("other", LEASE) is None  # leased: nobody else takes it

    expire(queue, job["job_id"])
    again = queue.claim_job("other", LEASE)
    assert (again["job_id"], again["attempts"]) == (first["job_id"], 2)

    # the worker that lost the lease: neither its writes nor its job updates go through
    queue.hold_lease(job["job_id"], "dead")
    try:
        with pytest.raises(LeaseLost), queue.transaction():
            pass
        with pytest.raises(LeaseLost):
            queue.update_job("a", job["job_id"], status="done", percent=100.0, result={"records": 1})
    finally:
        queue.hold_lease(None)
    queue.hold_lease(job["job_id"], "other")
    try:
        with queue.transaction():  # the holder writes as usual
            pass
        queue.update_job("a", job["job_id"], status="done", percent=100.0, result={"records": 2})
    finally:
        queue.hold_lease(None)
    assert queue.job("a", job["job_id"])["result"] == {"records": 2}


def test_a_job_that_killed_its_workers_again_and_again_is_failed(queue):
    job = queue.create_job("a", kind="scan", entity="contact")
    for _ in range(MAX_ATTEMPTS):
        assert queue.claim_job("w", LEASE)["job_id"] == job["job_id"]
        expire(queue, job["job_id"])
    assert queue.claim_job("w", LEASE) is None
    failed = queue.job("a", job["job_id"])
    assert failed["status"] == "failed" and f"stopped {MAX_ATTEMPTS} times" in failed["error"]


def test_renewing_keeps_the_lease_and_fails_once_it_is_gone(queue):
    job = queue.create_job("a", kind="scan", entity="contact")
    queue.claim_job("w1", 1.0)
    assert queue.renew_lease(job["job_id"], "w1", 1.0)
    assert not queue.renew_lease(job["job_id"], "w2", 1.0)
    time.sleep(1.2)  # the lease runs out on the database's clock
    assert queue.claim_job("w2", LEASE)["job_id"] == job["job_id"]
    assert not queue.renew_lease(job["job_id"], "w1", 1.0)
