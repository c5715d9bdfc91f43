"""The job queue of the PostgreSQL store: `crm-dedup worker` processes on any machine take jobs from it.

A worker claims a job with a lease (`lease_until`) and renews it while it works (a heartbeat). A job
whose lease ran out (its worker was killed, or lost the database) is free again, and the next
claim takes it: no job waits longer than one lease on a dead worker. Claims take turns under one
advisory lock, so the rules below hold across processes:

- at most one running job per account and entity (a job of both entities counts for each);
- accounts round-robin: the next job belongs to the account whose last turn is the oldest
  (`job_turns`), earliest job first within an account;
- a job whose worker died `MAX_ATTEMPTS` times is failed instead of killing a third worker.

While a worker holds a lease, every transaction of its thread first checks (and row-locks) that
the lease is still its own (`PostgresStore.transaction`), so a worker that lost its lease can
never write a scan's results over the run that took the job over.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from resolver.errors import CrmDedupError
from resolver.store.base import StoreBase

MAX_ATTEMPTS = 3
_CLAIM_LOCK = "SELECT pg_advisory_xact_lock(7305112027)"
DIED = "the worker running this job stopped {n} times; submit it again"

_CLAIM_SQL = """
SELECT j.job_id, j.account_id, j.kind, j.entity
FROM jobs AS j
LEFT JOIN job_turns AS t ON t.account_id = j.account_id
WHERE (j.status = 'queued' OR (j.status = 'running' AND j.lease_until <= clock_timestamp()))
  AND NOT EXISTS (
      SELECT 1 FROM jobs AS b
      WHERE b.account_id = j.account_id AND b.job_id <> j.job_id AND b.status = 'running'
        AND b.lease_until > clock_timestamp()
        AND (b.entity IS NULL OR j.entity IS NULL OR b.entity = j.entity))
ORDER BY t.served_at NULLS FIRST, j.created_at, j.job_id
LIMIT 1
FOR UPDATE OF j SKIP LOCKED
"""


class LeaseLost(CrmDedupError):
    """This worker's lease on a job ran out and another worker took the job: stop, write nothing."""


class JobQueue(StoreBase):
    """The part of `PostgresStore` that leases jobs to workers."""

    _local: threading.local

    def claim_job(self, worker: str, lease_seconds: float) -> dict[str, Any] | None:
        """The next job for `worker`, leased to it for `lease_seconds` (None: nothing to do now).

        Returns job_id, account_id, kind, entity, attempts.
        """
        with self._transaction() as con:
            con.execute(_CLAIM_LOCK)
            now = datetime.now(UTC)
            con.execute("UPDATE jobs SET status = 'failed', finished_at = ?, error = replace(?, '{n}', "
                        "attempts::VARCHAR), worker = NULL, lease_until = NULL WHERE status = 'running' "
                        "AND lease_until <= clock_timestamp() AND attempts >= ?", [now, DIED, MAX_ATTEMPTS])
            row = con.execute(_CLAIM_SQL).fetchone()
            if row is None:
                return None
            job_id, account_id, kind, entity = row
            (attempts,) = con.execute(
                "UPDATE jobs SET status = 'running', worker = ?, attempts = attempts + 1, "
                "lease_until = clock_timestamp() + make_interval(secs => ?), started_at = coalesce(started_at, ?) "
                "WHERE job_id = ? RETURNING attempts", [worker, lease_seconds, now, job_id]).fetchone()
            con.execute("INSERT INTO job_turns VALUES (?, ?) ON CONFLICT (account_id) DO UPDATE "
                        "SET served_at = excluded.served_at", [account_id, now])
        return {"job_id": job_id, "account_id": account_id, "kind": kind, "entity": entity, "attempts": attempts}

    def renew_lease(self, job_id: str, worker: str, lease_seconds: float) -> bool:
        """The heartbeat: push the lease on; False when the job is no longer this worker's."""
        rows = self._execute(
            "UPDATE jobs SET lease_until = clock_timestamp() + make_interval(secs => ?) WHERE job_id = ? "
            "AND worker = ? AND status = 'running' RETURNING job_id", [lease_seconds, job_id, worker],
            step="renew_lease").fetchall()
        return bool(rows)

    def hold_lease(self, job_id: str | None, worker: str | None = None) -> None:
        """From now on this thread's transactions and job updates run only while it holds the lease on
        `job_id` (None: no longer working on a job)."""
        self._local.lease = (job_id, worker) if job_id else None

    def _check_lease(self) -> None:
        """Inside a transaction: the job row locked, or LeaseLost when this thread's lease is gone."""
        lease = getattr(self._local, "lease", None)
        if lease is None:
            return
        job_id, worker = lease
        row = self._execute("SELECT 1 FROM jobs WHERE job_id = ? AND worker = ? AND status = 'running' FOR UPDATE",
                           [job_id, worker], step="check_lease").fetchone()
        if row is None:
            raise LeaseLost(f"job {job_id} is no longer leased to {worker}")

    def queue_counts(self) -> dict[str, int]:
        """Jobs by status over every account (the workers' and the bench's view)."""
        rows = self._execute("SELECT status, count(*) FROM jobs GROUP BY status", step="queue_counts").fetchall()
        return {str(s): int(n) for s, n in rows}
