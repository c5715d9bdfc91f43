"""Records of an account: upsert one or a batch (amoCRM API v4 or flat shape), read one, delete one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request

from api.deps import AccountDep, EntityDep, ServicesDep
from api.routers.jobs import job_runner
from api.schemas import (
    RECORD_EXAMPLES,
    BatchIn,
    BatchOut,
    RecordBody,
    RecordDeleted,
    RecordOut,
    Rejected,
    problem_responses,
    record_from_body,
)
from api.services import Services
from resolver.errors import InputError, InputProblem, NotFound
from resolver.normalize.region import localize_phones
from resolver.records import Entity
from resolver.scan import ingest

router = APIRouter(prefix="/v1", tags=["records"])

_TOO_LARGE = "the request body is larger than the limit of {limit:,} bytes"
RecordIdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[^\s/]+$",
                                   description="the CRM's id of the record", examples=["3180001"])]


@router.put(
    "/{entity:entity}/{record_id}", response_model=RecordOut,
    summary="Upsert one record; it is checkable as soon as this returns",
    description="The body is an amoCRM API v4 contact / company or the flat shape. The path's id wins: a body "
                "with another id is refused. An older `updated_at` never overwrites a newer one; the answer is "
                "the record as stored. Limits: a body of `max_record_body_bytes` (64 KB), strings of "
                "`max_field_chars` (2,000 characters, no NUL or lone surrogate), lists of `max_list_items` (1,000).",
    responses=problem_responses(e413=_TOO_LARGE.format(limit=65_536),
                                e422="id '7' differs from the id in the path, '3180001'"),
)
def put_record(entity: EntityDep, account: AccountDep, services: ServicesDep, record_id: RecordIdPath,
               body: Annotated[RecordBody, Body(openapi_examples=RECORD_EXAMPLES)]) -> RecordOut:
    record = localize_phones(record_from_body(body, entity, record_id=record_id), services.region(account))
    ingest(services.store, account_id=account, entity=entity, records=[record])
    return _stored(services, account, entity, record_id)


@router.post(
    "/{entity:entity}:batch", response_model=BatchOut, response_model_exclude_unset=True,
    summary="Upsert a batch of records; malformed ones are rejected with their index, the rest stored",
    description="Up to `max_batch` records (10,000 by default), each in either shape. The valid ones are stored "
                "in one transaction; `rejected` names the index, field and reason of every other (a string over "
                "`max_field_chars`, a lone surrogate, a list over `max_list_items`, a wrong type). Nothing valid: "
                "422. The body may be up to `max_body_bytes` (50 MB).",
    responses=problem_responses(e413=_TOO_LARGE.format(limit=50_000_000),
                                e422="at most 10000 records per batch, got 10001"),
)
def put_batch(entity: EntityDep, account: AccountDep, services: ServicesDep, body: BatchIn, request: Request,
              scan: Annotated[bool, Query(description=(
                  "queue an incremental scan of the entity (job kind `incremental_scan`) once the batch is "
                  "stored, when the account's base was scanned before"))] = True) -> BatchOut:
    limit = services.settings.max_batch
    if len(body.records) > limit:
        raise InputError.one(f"at most {limit} records per batch, got {len(body.records)}", field="records")
    records, problems = [], []
    for index, item in enumerate(body.records):
        try:
            records.append(record_from_body(item, entity, index=index))
        except InputError as exc:
            problems.extend(exc.problems)
    if not records:
        raise InputError(problems or [InputProblem("the batch holds no records", field="records")])
    region = services.region(account)  # an amoCRM account's country: its local numbers are read as its own
    records = [localize_phones(r, region) for r in records]
    ingest(services.store, account_id=account, entity=entity, records=records)
    out = BatchOut(stored=len(records),
                   rejected=[Rejected(index=p.item, field=p.field, reason=p.reason) for p in problems])
    if scan and services.store.scan_state(account, entity) is not None:  # keeps a scanned base's groups current
        job, _ = job_runner(request, services).submit_incremental_scan(account, entity)
        out.scan_job_id = str(job["job_id"])  # set only then: the answer shows it only then (exclude_unset)
    return out


@router.get(
    "/{entity:entity}/{record_id}", response_model=RecordOut,
    summary="One stored record, normalized as matching sees it",
    responses=problem_responses(e404="no contact 3180001 in this account",
                                e422="record_id: String should match pattern '^[^\\s/]+$'"),
)
def get_record(entity: EntityDep, account: AccountDep, services: ServicesDep, record_id: RecordIdPath) -> RecordOut:
    return _stored(services, account, entity, record_id)


@router.delete(
    "/{entity:entity}/{record_id}", response_model=RecordDeleted,
    summary="Mark a record deleted: it leaves scans, checks and open groups",
    description="Repeating it answers the same. A later upsert with `updated_at` not older than the stored one "
                "restores the record (as restoring it from amoCRM's trash does).",
    responses=problem_responses(e404="no contact 3180001 in this account",
                                e422="record_id: String should match pattern '^[^\\s/]+$'"),
)
def delete_record(entity: EntityDep, account: AccountDep, services: ServicesDep,
                  record_id: RecordIdPath) -> RecordDeleted:
    if not services.store.mark_deleted(account, entity, record_id):
        raise NotFound(f"no {entity} {record_id} in this account")
    return RecordDeleted(entity=entity, record_id=record_id, deleted=True)


def _stored(services: Services, account: str, entity: Entity, record_id: str) -> RecordOut:
    row = services.store.record(account, entity, record_id)
    if row is None:
        raise NotFound(f"no {entity} {record_id} in this account")
    return RecordOut.from_row(entity, row)
