"""The account's models: retrain from reviewers' decisions (a job), and which model and thresholds serve now."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AccountDep, ServicesDep
from api.routers.jobs import ALREADY_QUEUED, ONE_JOB_RULE, JobRunnerDep, answer_for
from api.schemas import JobOut, problem_responses
from resolver.records import Entity
from training.artifacts import RefusalReason

# the other list endpoints (/v1/groups, /v1/feedback) take the plural path word: accept both
_EntityWord = Literal["contact", "company", "contacts", "companies"]
_SINGULAR: dict[_EntityWord, Entity] = {"contact": "contact", "company": "company",
                                       "contacts": "contact", "companies": "company"}

router = APIRouter(prefix="/v1", tags=["models"])


class RetrainRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"entity": "contact"}]})

    entity: Entity | None = Field(default=None, description="null: contacts, then companies")


class RefusedOut(BaseModel):
    """A champion the service would not load: it serves the shipped default instead."""

    registry_version: int = Field(description="the version `champion` points at")
    reason: RefusalReason = Field(
        description="missing_file, too_large, not_json (e.g. a pickle), invalid (wrong fields or a re-ranker kind "
                    "outside the allow-list), legacy_pickle (only the old reranker.joblib), thresholds")
    detail: str


class CurrentModelOut(BaseModel):
    """The model the account's answers come from."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "entity": "contact", "source": "registry", "version": "crm-dedup-acme-contact@v3",
        "registered_model": "crm-dedup-acme-contact", "registry_version": 3,
        "review_threshold": 0.6, "auto_merge_threshold": 0.9, "reranker": True, "refused": None}]})

    entity: Entity
    source: Literal["shipped default", "registry"]
    version: str
    registered_model: str | None
    registry_version: int | None
    review_threshold: float
    auto_merge_threshold: float
    reranker: bool = Field(description="whether the version carries a re-ranker trained on reviewers' labels")
    refused: RefusedOut | None = Field(
        default=None, description="set when the account's champion could not be loaded: why, and which version")


@router.post(
    "/models/retrain", response_model=JobOut, status_code=202,
    summary="Retrain the account's model from its base and reviewers' decisions; returns the job to follow",
    description="Progress at `GET /v1/jobs/{id}`. The new version becomes the champion only if it is not "
                "worse than the current one on the same held-out labels; `GET /v1/models/current` shows the "
                "version in use. " + ONE_JOB_RULE,
    responses={200: {"model": JobOut, "description": ALREADY_QUEUED},
               **problem_responses(e422="entity: Input should be 'contact' or 'company'")},
)
def submit_retrain(account: AccountDep, runner: JobRunnerDep, response: Response,
                   body: Annotated[RetrainRequest | None, Body()] = None) -> JobOut:
    job, created = runner.submit_retrain(account, body.entity if body else None)
    return answer_for(job, created, response)


@router.get(
    "/models/current", response_model=CurrentModelOut,
    summary="The model and thresholds the account's checks and scans use now",
    responses=problem_responses(e422="entity: Input should be 'contact', 'company', 'contacts' or 'companies'"),
)
def current_model(
    account: AccountDep, services: ServicesDep,
    entity: Annotated[_EntityWord,
                      Query(description="contact or company (contacts / companies also work)")] = "contact",
) -> CurrentModelOut:
    singular = _SINGULAR[entity]
    served = services.served(account, singular)
    return CurrentModelOut(entity=singular, source=served.source, version=served.model.version,
                           registered_model=served.registered_model, registry_version=served.version_number,
                           review_threshold=served.model.review_threshold,
                           auto_merge_threshold=served.model.auto_merge_threshold,
                           reranker=served.reranker is not None,
                           refused=RefusedOut(registry_version=served.refused.version, reason=served.refused.reason,
                                              detail=served.refused.detail) if served.refused else None)
