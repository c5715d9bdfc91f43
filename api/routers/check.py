"""The widget's real-time questions: does this record have duplicates, would this new one be one."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import AccountDep, EntityDep, ServicesDep
from api.fastjson import json_response
from api.schemas import (
    RECORD_EXAMPLES,
    CheckBatchIn,
    CheckBatchOut,
    CheckOut,
    DuplicatesOut,
    MatchOut,
    Rejected,
    RowMatches,
    problem_responses,
    record_from_body,
)
from resolver.candidates import Checker, Match
from resolver.errors import InputError, InputProblem, NotFound
from resolver.normalize.region import localize_phones
from resolver.records import Entity, Record

router = APIRouter(prefix="/v1", tags=["check"])


async def get_checker(services: ServicesDep) -> Checker:
    """The app's Checker: it keeps each account's live records in memory for fast checks."""
    checker = services.checker
    if checker is None:
        checker = services.checker = Checker(services.store, services.models)
    return checker


CheckerDep = Annotated[Checker, Depends(get_checker)]
Limit = Annotated[int, Query(ge=1, le=100, description="most matches to return")]
MinScore = Annotated[float | None, Query(gt=0, lt=1, description="match probability floor; default: the "
                                                                    "model's review threshold")]


_NO_ID = "0"  # an unsaved record may have no id yet; the readers want one, so it gets a stand-in


def _unsaved(body: object, entity: Entity, index: int | None) -> Record:
    """A record to check; its id (if any) only keeps a stored copy of itself out of the answer."""
    if isinstance(body, dict) and body.get("id") in (None, ""):
        record = record_from_body({**body, "id": _NO_ID}, entity, index=index)
        return replace(record, record_id="")
    return record_from_body(body, entity, index=index)


def _out(m: Match) -> MatchOut:
    return MatchOut.model_validate(_match_json(m))


def _match_json(m: Match) -> dict[str, Any]:
    """A match as `MatchOut` writes it, as a plain dict (the hot routes answer with `json_response`)."""
    return {"record_id": m.record_id, "match_probability": round(m.match_probability, 6),
            "match_weight": round(m.match_weight, 4),
            "explanation": [{"field": c.field, "level": c.level, "gamma": c.gamma, "match_weight": c.match_weight}
                            for c in m.contributions]}


@router.get(
    "/{entity:entity}/{record_id}/duplicates", response_model=DuplicatesOut,
    summary="Scored duplicates of a stored record (the red frame on a contact card)",
    responses=problem_responses(e404="contact 3180009 is not stored in this account"),
)
def duplicates(entity: EntityDep, account: AccountDep, checker: CheckerDep, services: ServicesDep,
               record_id: Annotated[str, Path(min_length=1, max_length=128, examples=["3180001"])],
               limit: Limit = 10, min_score: MinScore = None) -> Response:
    model = services.model_for(account, entity)  # its champion (thresholds from MLflow tags) or the default
    found = checker.duplicates_of(account, entity, record_id, threshold=min_score, limit=limit, model=model)
    if found is None:
        raise NotFound(f"{entity} {record_id} is not stored in this account")
    return json_response({"record_id": record_id, "threshold": min_score or model.review_threshold,
                          "model_version": model.version, "matches": [_match_json(m) for m in found]})


@router.post(
    "/{entity:entity}/check", response_model=CheckOut,
    summary="Existing records an unsaved one would duplicate (\"this phone already exists\" on create)",
    description="Answered from the key index of the account's records, never by scanning the base. The "
                "record is not stored.",
    responses=problem_responses(e413="the request body is larger than the limit of 65,536 bytes",
                                e422="phones[0]: Input should be a valid string"),
)
async def check(entity: EntityDep, account: AccountDep, checker: CheckerDep, services: ServicesDep,
                body: Annotated[dict[str, Any], Body(openapi_examples=RECORD_EXAMPLES)],
                limit: Limit = 10, min_score: MinScore = None) -> Response:
    # The usual check is a millisecond of pure Python on data in memory: it runs here, on the event loop
    # (a thread hop and the interpreter lock's hand-offs cost more). Whatever needs the store (the account's
    # region or champion not looked up lately, records written since the last check, a probe with an id)
    # runs on the thread pool, so the loop never waits on I/O.
    region = services.cached_region(account)
    if region is None:
        region = await run_in_threadpool(services.region, account)
    record = localize_phones(_unsaved(body, entity, None), region)
    model = services.cached_model(account, entity)  # its champion (thresholds from MLflow tags) or the default
    if model is None:
        model = await run_in_threadpool(services.model_for, account, entity)
    found = checker.check_in_memory(account, record, threshold=min_score, limit=limit, model=model)
    if found is None:
        found = await run_in_threadpool(checker.check, account, record, threshold=min_score, limit=limit,
                                        model=model)
    return json_response({"threshold": min_score or model.review_threshold, "model_version": model.version,
                          "matches": [_match_json(m) for m in found]})


@router.post(
    "/{entity:entity}/check:batch", response_model=CheckBatchOut,
    summary="Check the rows of an import file against the base before loading it",
    description="Each row is checked alone; a malformed row is reported in `rejected` with its index and reason. "
                "No checkable row: 422.",
    responses=problem_responses(e413="the request body is larger than the limit of 50,000,000 bytes",
                                e422="records: at most 10000 records per batch"),
)
def check_batch(entity: EntityDep, account: AccountDep, checker: CheckerDep, services: ServicesDep,
                body: CheckBatchIn, limit: Limit = 5, min_score: MinScore = None) -> CheckBatchOut:
    if len(body.records) > services.settings.max_batch:
        raise InputError.one(f"at most {services.settings.max_batch} records per batch, got {len(body.records)}",
                             field="records")
    model = services.model_for(account, entity)  # its champion (thresholds from MLflow tags) or the default
    results, rejected = [], []
    region = services.region(account)
    for i, item in enumerate(body.records):
        try:
            record = localize_phones(_unsaved(item, entity, i), region)
        except InputError as exc:
            rejected += [Rejected(index=i, field=p.field, reason=p.reason) for p in exc.problems]
            continue
        found = checker.check(account, record, threshold=min_score, limit=limit, model=model)
        results.append(RowMatches(index=i, record_id=record.record_id or None, matches=[_out(m) for m in found]))
    if not results:  # as a batch upsert: nothing checkable is a bad request, not an empty answer
        raise InputError([InputProblem(r.reason, field=r.field, item=r.index) for r in rejected]
                         or [InputProblem("the batch holds no records", field="records")])
    return CheckBatchOut(threshold=min_score or model.review_threshold, model_version=model.version,
                         results=results, rejected=rejected)
