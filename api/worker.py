"""Job workers on the PostgreSQL store: the API only queues, `crm-dedup worker` processes run the jobs.

A worker takes the next job (`PostgresStore.claim_job`: accounts round-robin, one job per account
and entity at a time), renews its lease while it works, and runs it with the handlers of the
in-process runner (`JobRunner._run`: the same scan and retrain code, progress and result). Run as
many workers as you like, on any machine that reaches the database. A worker killed mid-job
leaves a lease that runs out; the next claim takes the job again from the start, and since a
scan's results are written in one transaction, and only while the lease is the writer's own, the
job finishes once with whole results.

On the DuckDB store nothing here runs: the in-process `JobRunner` stays.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from typing import Any

from api.jobs import JobRunner, _ScanJob
from api.services import Services
from resolver.errors import CrmDedupError, StoreError
from resolver.records import Entity
from resolver.store import PostgresStore

logger = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0  # a killed worker's job is taken again within this (the issue asks for a minute)
DEFAULT_POLL_SECONDS = 1.0


class EnqueueOnly(JobRunner):
    """The API's runner on PostgreSQL: jobs are queued in the database for the workers, never run here.

    Nothing is failed on start either: a queued or running job belongs to the workers, not to a
    process that died (an expired lease is what frees a job).
    """

    def start(self) -> None:
        pass

    def stop(self, timeout: float = 60.0) -> None:
        pass

    def _submit(self, account_id: str, kind: str, entity: Entity | None) -> tuple[dict[str, Any], bool]:
        return self._services.store.queue_job(account_id, kind=kind, entity=entity)


def runner_for(services: Services) -> JobRunner:
    """The job runner of an API process: queue-only on PostgreSQL, the in-process runner on DuckDB."""
    return EnqueueOnly(services) if isinstance(services.store, PostgresStore) else JobRunner(services)


def worker_name() -> str:
    """host:pid:random, unique among the workers of one database (a pid may come back after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Worker(JobRunner):
    """One job worker: `run(stop)` takes and runs jobs until `stop` is set (the running job finishes first)."""

    def __init__(self, services: Services, *, name: str | None = None,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        super().__init__(services)
        if not isinstance(services.store, PostgresStore):
            raise CrmDedupError("job workers need the PostgreSQL store: set CRM_DEDUP_DATABASE_URL")
        self.store: PostgresStore = services.store
        self.name: str = name or worker_name()
        self.lease_seconds: float = lease_seconds
        self.poll_seconds: float = poll_seconds

    def run(self, stop: threading.Event, *, max_jobs: int | None = None) -> int:
        """Work until `stop` is set (or `max_jobs` ran); returns how many jobs this worker ran."""
        ran = 0
        while not stop.is_set() and (max_jobs is None or ran < max_jobs):
            try:
                claimed = self.store.claim_job(self.name, self.lease_seconds)
            except StoreError as exc:  # the database restarting: try again, do not die
                logger.warning("worker %s cannot claim a job: %s", self.name, exc)
                stop.wait(self.poll_seconds)
                continue
            if claimed is None:
                stop.wait(self.poll_seconds)
                continue
            job = _ScanJob(claimed["account_id"], claimed["job_id"], claimed["entity"], kind=claimed["kind"])
            logger.info("worker %s took %s job %s of %s (attempt %d)", self.name, job.kind, job.job_id,
                        job.account_id, claimed["attempts"])
            self._work_on(job)
            ran += 1
        return ran

    def _work_on(self, job: _ScanJob) -> None:
        beating = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, beating), name="crm-dedup-lease", daemon=True)
        self.store.hold_lease(job.job_id, self.name)
        beat.start()
        try:
            self._run(self.store, job)  # the in-process runner's handler: scan or retrain, progress, result
        finally:
            beating.set()
            beat.join()
            self.store.hold_lease(None)

    def _heartbeat(self, job: _ScanJob, done: threading.Event) -> None:
        while not done.wait(self.lease_seconds / 3):
            try:
                if not self.store.renew_lease(job.job_id, self.name, self.lease_seconds):
                    logger.warning("worker %s lost the lease on job %s; its results will not be written",
                                   self.name, job.job_id)
                    return
            except StoreError as exc:
                logger.warning("worker %s cannot renew its lease on job %s: %s", self.name, job.job_id, exc)
