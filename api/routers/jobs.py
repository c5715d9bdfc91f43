"""Background jobs: submit a whole-base scan, follow its progress."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response

from api.deps import AccountDep, ServicesDep
from api.jobs import JobRunner
from api.schemas import JobOut, ScanRequest, problem_responses
from api.worker import runner_for
from resolver.errors import NotFound

router = APIRouter(prefix="/v1", tags=["jobs"])

_CREATE_LOCK = threading.Lock()


def job_runner(request: Request, services: ServicesDep) -> JobRunner:
    """The app's runner, created and started on first use and kept on `app.state.jobs`.

    Starting it fails the jobs a stopped process left unfinished, so this runs before any job is read.
    """
    runner: JobRunner | None = getattr(request.app.state, "jobs", None)
    if runner is None:
        with _CREATE_LOCK:
            runner = getattr(request.app.state, "jobs", None)
            if runner is None:
                runner = runner_for(services)  # queue-only on PostgreSQL: `crm-dedup worker` runs the jobs
                runner.start()
                request.app.state.jobs = runner
    return runner


JobRunnerDep = Annotated[JobRunner, Depends(job_runner)]
JobIdPath = Annotated[str, Path(max_length=64, examples=["6f1c2b9a0d6e4f5b8a7c3d2e1f0a9b8c"])]


# asking again for work already queued or running answers with that job: 200 instead of 202
ALREADY_QUEUED = ("The account already has this work queued or running: that job, unchanged (no new job "
                  "was queued).")
ONE_JOB_RULE = ("An account has at most one unfinished job of a kind per entity: while one is queued or running, "
                "asking again returns it with **200** (a new job is **202**). A job of both entities (`entity` "
                "null) and a job of one of them stand for each other. Jobs of different accounts take turns, "
                "so one account's backlog never holds up another account's job for more than the job running.")


def answer_for(job: dict[str, object], created: bool, response: Response) -> JobOut:
    """The job as the API shows it; 200 when it was already there (the route's default is 202)."""
    if not created:
        response.status_code = 200
    return JobOut.model_validate(job)


@router.post(
    "/jobs/scan", response_model=JobOut, status_code=202,
    summary="Scan the account's whole base in the background; returns the job to follow",
    description="Scans run one at a time per process; the API keeps answering meanwhile. "
                "`entity` null scans contacts, then companies. " + ONE_JOB_RULE,
    responses={200: {"model": JobOut, "description": ALREADY_QUEUED},
               **problem_responses(e422="entity: Input should be 'contact' or 'company'")},
)
def submit_scan(account: AccountDep, runner: JobRunnerDep, response: Response,
                body: Annotated[ScanRequest | None, Body()] = None) -> JobOut:
    entity = body.entity if body else None
    if body is not None and body.incremental:
        job, created = runner.submit_incremental_scan(account, entity)
    else:
        job, created = runner.submit_scan(account, entity)
    return answer_for(job, created, response)


@router.get(
    "/jobs/{job_id}", response_model=JobOut,
    summary="A job's status, percent done and, when done, its counts",
    responses=problem_responses(e404="no job 6f1c2b9a0d6e4f5b8a7c3d2e1f0a9b8c in this account",
                                e422="job_id: String should have at most 64 characters"),
)
def get_job(account: AccountDep, services: ServicesDep, job_id: JobIdPath,
            runner: JobRunnerDep) -> JobOut:  # the runner: started before a job is read (fails orphans)
    job = services.store.job(account, job_id)
    if job is None:
        raise NotFound(f"no job {job_id} in this account")
    return JobOut.model_validate(job)
