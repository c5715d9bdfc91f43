"""The background job runner: one worker thread per process, so scans never block requests.

Jobs are rows of the store's `jobs` table (status, percent, result); the runner holds only what to
run next, so a job queued or running when a process dies is marked failed by the next one to start.
The worker thread reads and writes through the store's cursor of its own thread, so requests keep
being answered while a scan runs (DuckDB MVCC); only writers take turns, one transaction at a time.

Fairness between accounts: each account has its own queue, and the worker takes the next job from
the account served least recently, so one account's forty scans delay another account's job by at
most the job already running. An account has at most one unfinished job per kind and entity
(`Store.queue_job`): asking again returns that job instead of queueing the work twice.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from api.services import Services
from resolver.errors import CrmDedupError
from resolver.linkage import Model, Progress
from resolver.records import ENTITIES, Entity
from resolver.scan import scan_account
from resolver.store.interface import Persistence

logger = logging.getLogger(__name__)

INTERRUPTED = "the service stopped before this job finished; submit it again"
STOPPED = "the service stopped before this job started; submit it again"
_PERCENT_STEP = 1.0  # write progress when it moved at least this much: a row update per callback is waste


@dataclass(frozen=True)
class _ScanJob:
    account_id: str
    job_id: str
    entity: Entity | None
    kind: str = "scan"  # or "retrain"
    seq: int = 0  # submission order: among accounts never served yet, the earliest job goes first


class _FairQueue:
    """Per-account FIFO queues; `take` serves the account whose last turn is the oldest.

    An account that has never had a turn counts as served before everyone else, and ties go to the
    earliest submitted job. The turn of an account is remembered after its queue empties (one int
    per account), so an account cannot jump the line by submitting one job at a time.
    """

    def __init__(self) -> None:
        self._queues: dict[str, deque[_ScanJob]] = {}
        self._last_turn: dict[str, int] = {}
        self._turns = itertools.count()

    def __bool__(self) -> bool:
        return bool(self._queues)

    def put(self, job: _ScanJob) -> None:
        self._queues.setdefault(job.account_id, deque()).append(job)

    def take(self) -> _ScanJob:
        account = min(self._queues, key=lambda a: (self._last_turn.get(a, -1), self._queues[a][0].seq))
        jobs = self._queues[account]
        job = jobs.popleft()
        if not jobs:
            del self._queues[account]
        self._last_turn[account] = next(self._turns)
        return job

    def drain(self) -> list[_ScanJob]:
        jobs = sorted((j for q in self._queues.values() for j in q), key=lambda j: j.seq)
        self._queues.clear()
        return jobs


class JobRunner:
    """Runs submitted jobs one at a time in a daemon thread, accounts in turn; `start` before use, `stop` at
    shutdown."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._cond = threading.Condition()  # guards _pending; the worker waits on it for work
        self._pending = _FairQueue()
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Fail the jobs an earlier process left unfinished, then start the worker thread (once)."""
        with self._start_lock:
            if self._thread is not None:
                return
            with self._cond:  # whatever a stopped worker left is failed in the store just below
                self._pending.drain()
            failed = self._services.store.fail_unfinished_jobs(INTERRUPTED)
            if failed:
                logger.warning("%d job(s) left queued or running by a stopped process are marked failed", failed)
            # a fresh event per worker: a worker stop() gave up waiting for must not be revived by this one
            self._stopping = threading.Event()
            self._thread = threading.Thread(target=self._work, args=(self._stopping,), name="crm-dedup-jobs",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Let the running job finish (a scan cannot be cut short), fail the queued ones, end the thread."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            with self._cond:
                self._stopping.set()
                self._cond.notify_all()
            thread.join(timeout)
            if thread.is_alive():
                # a daemon thread: it ends with the process; its job is failed by the next start
                logger.warning("job runner still busy after %.0f s; leaving it to end with the process", timeout)

    def submit_scan(self, account_id: str, entity: Entity | None) -> tuple[dict[str, Any], bool]:
        """Queue a scan of one entity (None: both) of the account.

        Returns (job as stored, created): the account's unfinished scan covering `entity` when it has
        one (created False), else the new job.
        """
        return self._submit(account_id, "scan", entity)

    def submit_incremental_scan(self, account_id: str, entity: Entity | None) -> tuple[dict[str, Any], bool]:
        """Queue a scan of what changed since the last scan (resolver/incremental.py); as `submit_scan`.

        Upsert batches and amoCRM webhook batches queue one; it runs as a full scan when it must.
        """
        return self._submit(account_id, "incremental_scan", entity)

    def submit_retrain(self, account_id: str, entity: Entity | None) -> tuple[dict[str, Any], bool]:
        """Queue a retrain of one entity's model (None: both) of the account; as `submit_scan`."""
        return self._submit(account_id, "retrain", entity)

    def submit_import(self, account_id: str) -> tuple[dict[str, Any], bool]:
        """Queue the amoCRM import of the account (then a scan of both entities); as `submit_scan`."""
        return self._submit(account_id, "import", None)

    def _submit(self, account_id: str, kind: str, entity: Entity | None) -> tuple[dict[str, Any], bool]:
        self.start()
        job, created = self._services.store.queue_job(account_id, kind=kind, entity=entity)
        if created:
            with self._cond:
                self._pending.put(_ScanJob(account_id, job["job_id"], entity, kind=kind, seq=next(self._seq)))
                self._cond.notify()
        return job, created

    # -- the worker thread ------------------------------------------------------------------------

    def _work(self, stopping: threading.Event) -> None:
        while True:
            with self._cond:
                while not self._pending and not stopping.is_set():
                    self._cond.wait()
                stopped = self._pending.drain() if stopping.is_set() else []
                job = None if stopping.is_set() else self._pending.take()
            store = self._services.store
            if job is None:
                for left in stopped:
                    self._fail(store, left, 0.0, STOPPED)
                return
            self._run(store, job)

    def _run(self, store: Persistence, job: _ScanJob) -> None:
        progress = _Progress(store, job)
        try:
            if job.kind == "import":
                # an import runs a slice of pages per turn, then goes back in line behind the other accounts
                result = self._import(store, job, progress)
                if result is None:
                    with self._cond:
                        self._pending.put(job)
                        self._cond.notify()
                    return
            else:
                store.update_job(job.account_id, job.job_id, status="running", percent=0.0)
                result = self._retrain(store, job, progress) if job.kind == "retrain" else \
                    self._scan(store, job, progress, incremental=job.kind == "incremental_scan")
        except CrmDedupError as exc:
            logger.warning("%s job %s of %s failed: %s", job.kind, job.job_id, job.account_id, exc)
            self._fail(store, job, progress.percent, str(exc))
        except Exception as exc:  # the worker must outlive any one job; the trace goes to the log only
            logger.exception("%s job %s of %s failed", job.kind, job.job_id, job.account_id)
            self._fail(store, job, progress.percent, f"internal error ({type(exc).__name__}); see the service log")
        else:
            store.update_job(job.account_id, job.job_id, status="done", percent=100.0, result=result)

    @staticmethod
    def _fail(store: Persistence, job: _ScanJob, percent: float, error: str) -> None:
        try:
            store.update_job(job.account_id, job.job_id, status="failed", percent=percent, error=error)
        except CrmDedupError:
            logger.exception("cannot mark job %s failed", job.job_id)

    def _scan(self, store: Persistence, job: _ScanJob, progress: _Progress, *,
              incremental: bool = False) -> dict[str, Any]:
        t0 = time.perf_counter()
        entities: tuple[Entity, ...] = (job.entity,) if job.entity else ENTITIES
        totals = {"records": 0, "pairs": 0, "groups": 0}
        fallbacks: list[str] = []
        for i, entity in enumerate(entities):
            # the account's champion from the registry, else the shipped default (training/serving.py)
            model: Model = self._services.model_for(job.account_id, entity)

            @contextmanager
            def phase(label: str, index: int, count: int, i: int = i) -> Iterator[Progress]:
                # an account's own fields need a model fitted first: each step gets its share of the entity's
                yield progress.part(i * count + index, len(entities) * count)

            # scan_account applies the account's decisions in force itself: separated pairs never share a group
            if incremental and store.count_records(job.account_id, entity) == 0:
                continue  # nothing stored of this entity: nothing changed either
            result = scan_account(store, account_id=job.account_id, model=model, phase=phase, incremental=incremental)
            totals["records"] += result.n_records
            totals["pairs"] += result.n_pairs
            totals["groups"] += result.n_groups
            if result.fallback:
                fallbacks.append(f"{entity}: {result.fallback}")
        out: dict[str, Any] = {**totals, "seconds": round(time.perf_counter() - t0, 3)}
        if incremental:
            out.update(mode="full" if fallbacks else "incremental", fallback="; ".join(fallbacks) or None)
        return out


    def _import(self, store: Persistence, job: _ScanJob, progress: _Progress) -> dict[str, Any] | None:
        """One slice of the amoCRM import (None: pages are left), and once it is complete the scan."""
        sync = self._services.amocrm
        if sync is None:
            raise CrmDedupError("the amoCRM connection is not configured")
        t0 = time.perf_counter()
        store.update_job(job.account_id, job.job_id, status="running", percent=progress.percent)
        # pages are 90 % of the job (their total only shows as the import goes), the scan the rest
        state = sync.import_slice(job.account_id, progress=progress.part(0, 1, scale=0.9))
        if state.more:
            return None
        scanned = self._scan(store, job, progress)
        return {**scanned, "pages": state.pages_done, "pulled": state.records,
                "seconds": round(time.perf_counter() - t0, 3)}

    def _retrain(self, store: Persistence, job: _ScanJob, progress: _Progress) -> dict[str, Any]:
        """Retrain each entity that has records; the result keeps JobResult's counts (records, labels as
        pairs, no groups) plus what the retrain decided."""
        from training.retrain import retrain  # scikit-learn and mlflow load only when a retrain runs

        t0 = time.perf_counter()
        entities: tuple[Entity, ...] = (job.entity,) if job.entity else ENTITIES
        out: dict[str, Any] = {"records": 0, "pairs": 0, "groups": 0, "models": []}
        for i, entity in enumerate(entities):
            if store.count_records(job.account_id, entity) < 2 and not job.entity:
                continue
            result = retrain(store, job.account_id, entity, tracking_uri=self._services.settings.mlflow_tracking_uri,
                             default=self._services.model(entity), progress=progress.part(i, len(entities)))
            self._services.forget(job.account_id, entity)  # a new champion serves from the next request
            out["records"] += result.n_records
            out["pairs"] += result.n_labels
            out["models"].append({"entity": entity, "registered_model": result.registered_model,
                                  "version": result.version, "promoted": result.promoted, "reason": result.reason})
        return {**out, "seconds": round(time.perf_counter() - t0, 3)}


class _Progress:
    """Turns the scan's `progress(done, total)` of each part into the job's percent in the store."""

    def __init__(self, store: Persistence, job: _ScanJob) -> None:
        self._store = store
        self._job = job
        self.percent = 0.0

    def part(self, index: int, parts: int, *, scale: float = 1.0) -> Progress:
        def report(done: int, total: int) -> None:
            share = done / total if total else 1.0
            percent = round(100.0 * scale * (index + min(share, 1.0)) / parts, 1)
            # 100 is written with the result, so a job never shows 100 % while still running
            if percent - self.percent >= _PERCENT_STEP and percent < 100.0:
                self.percent = percent
                self._store.update_job(self._job.account_id, self._job.job_id, status="running", percent=percent)
        return report
