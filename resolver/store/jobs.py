"""The store's jobs: long work (scans, retrains) queued and followed per account."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from resolver.records import Entity
from resolver.store.base import StoreBase


class JobStore(StoreBase):
    """The part of `Store` holding jobs: status, percent done, result or error."""

    def create_job(self, account_id: str, *, kind: str, entity: Entity | None) -> dict[str, Any]:
        """A new `queued` job of the account; returns it as `job` does."""
        job_id = uuid.uuid4().hex
        self._execute("INSERT INTO jobs VALUES (?, ?, ?, ?, 'queued', 0, ?, NULL, NULL, NULL)",
                     [job_id, account_id, kind, entity, datetime.now(UTC)], step="create_job")
        job = self.job(account_id, job_id)
        assert job is not None  # just written
        return job

    def queue_job(self, account_id: str, *, kind: str, entity: Entity | None) -> tuple[dict[str, Any], bool]:
        """The account's unfinished job of this kind that covers `entity`, else a new `queued` one.

        Returns (job, created). A job of both entities (None) and a job of one of them overlap, so
        each stands for the other: asking again never queues the same work twice. The look and the
        insert are one transaction under the writers' lock, so two requests at once make one job.
        """
        with self._transaction():
            rows = self._dicts(
                "SELECT job_id FROM jobs WHERE account_id = ? AND kind = ? AND status IN ('queued', 'running') "
                "AND (?::VARCHAR IS NULL OR entity IS NULL OR entity = ?) ORDER BY created_at, job_id LIMIT 1",
                [account_id, kind, entity, entity], step="queue_job")
            if rows:
                existing = self.job(account_id, rows[0]["job_id"])
                assert existing is not None  # read in this transaction
                return existing, False
            return self.create_job(account_id, kind=kind, entity=entity), True

    def job(self, account_id: str, job_id: str) -> dict[str, Any] | None:
        """A job of the account (another account's job is None): status, percent, result (parsed), error."""
        rows = self._dicts("SELECT * EXCLUDE (account_id) FROM jobs WHERE account_id = ? AND job_id = ?",
                           [account_id, job_id], step="job")
        if not rows:
            return None
        job = rows[0]
        job["result"] = json.loads(job["result"]) if job["result"] else None
        return job

    def update_job(self, account_id: str, job_id: str, *, status: str, percent: float,
                   result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Move a job on; `done` and `failed` also stamp finished_at."""
        finished = datetime.now(UTC) if status in ("done", "failed") else None
        self._execute(
            "UPDATE jobs SET status = ?, percent = ?, finished_at = coalesce(?, finished_at), "
            "result = coalesce(?, result), error = coalesce(?, error) WHERE account_id = ? AND job_id = ?",
            [status, percent, finished, json.dumps(result) if result is not None else None, error, account_id,
             job_id], step="update_job")

    def fail_unfinished_jobs(self, reason: str) -> int:
        """Mark every queued or running job failed; returns how many.

        Called once when a process starts its job runner: the queue lived in the memory of a process
        that is gone, so nothing will ever finish these. The only query across accounts, on purpose.
        """
        rows = self._dicts(
            "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE status IN ('queued', 'running') "
            "RETURNING job_id", [reason, datetime.now(UTC)], step="fail_unfinished_jobs")
        return len(rows)
