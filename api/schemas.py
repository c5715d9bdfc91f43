"""Request and response bodies of the API, apart from stored rows; every one carries an OpenAPI example."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError
from starlette.convertors import Convertor, register_url_convertor

from resolver.errors import InputError, InputProblem
from resolver.ingest.amocrm import record_from_amocrm
from resolver.records import Decision, DecisionKind, Entity, Record
from resolver.suppression import StoredDecision

PROBLEM_MEDIA_TYPE = "application/problem+json"

# ==================================================================================================
# The entity path segment, problems (RFC 9457), and the bodies of the records, groups and jobs
# routers. Other routers' models go after this block, under a header of their own.
# ==================================================================================================

# --- the entity path segment ----------------------------------------------------------------------


class _EntitySegment(Convertor[str]):
    """Paths `/v1/{entity:entity}/…` match only `contacts` and `companies`.

    Without it `GET /v1/{entity}/{record_id}` would also claim `/v1/groups/…` and `/v1/jobs/…` (a
    router included earlier wins) and answer them with a 422 about the entity. Registered here, at
    import, because every router that uses it imports this module first.
    """

    regex = "contacts|companies"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("entity", _EntitySegment())


# --- problems -------------------------------------------------------------------------------------


class ProblemItem(BaseModel):
    """One thing wrong with a request: the batch item (0-based) and the field at fault."""

    index: int | None = Field(None, description="0-based item of a batch; null for a single body")
    field: str | None = Field(None, description="the field at fault, as a path: `phones[1]`, `absorbed_ids[0]`")
    reason: str


class Problem(BaseModel):
    """An error as RFC 9457 problem details (`application/problem+json`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Invalid input", "status": 422,
        "detail": "item 1, field updated_at: expected unix seconds (a number), got 'вчера'",
        "errors": [{"index": 1, "field": "updated_at", "reason": "expected unix seconds (a number), got 'вчера'"}],
    }]})

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None


_TITLES = {401: "Unauthorized", 404: "Not found", 409: "Conflict", 422: "Invalid input"}


def problem_responses(**details: str) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: each status (`e404="…"`) as a Problem with an example detail; 401 always."""
    details = {"e401": "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token", **details}
    out: dict[int | str, dict[str, Any]] = {}
    for key, detail in details.items():
        status = int(key.removeprefix("e"))
        example = {"type": "about:blank", "title": _TITLES[status], "status": status, "detail": detail}
        out[status] = {"model": Problem, "description": _TITLES[status], "content": {PROBLEM_MEDIA_TYPE: {
            "schema": {"$ref": "#/components/schemas/Problem"}, "example": example}}}
    return out


# --- records --------------------------------------------------------------------------------------


def _id_text(value: object) -> object:
    # CRM ids arrive as JSON numbers (amoCRM) or strings (other CRMs); both mean the same id
    if isinstance(value, bool):
        raise PydanticCustomError("id_type", "expected an id (a string or an integer), got a boolean")
    return str(value) if isinstance(value, int) else value


def _number_text(value: object) -> object:
    # phones kept in number fields arrive as 79161234567; the digits are the value
    if isinstance(value, bool):
        raise PydanticCustomError("string_type", "expected a string, got a boolean")
    return str(value) if isinstance(value, int) else value


def _utc(value: object) -> object:
    # an ISO time without an offset is taken as UTC, as amoCRM's unix seconds are
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


RecordId = Annotated[str, BeforeValidator(_id_text), StringConstraints(strip_whitespace=True, min_length=1,
                                                                        max_length=128, pattern=r"^[^\s/]+$")]
Text = Annotated[str, BeforeValidator(_number_text)]
Timestamp = Annotated[datetime, BeforeValidator(_utc), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
     "description": "ISO 8601 (UTC when no offset is given) or unix seconds"})]


_FLAT_EXAMPLE: dict[str, Any] = {
    "id": "3180001", "name": "Петров Иван", "phones": ["8 916 123-45-67", "+7 (495) 765-43-21 доб. 12"],
    "emails": ["I.Petrov@romashka.ru"], "company": "ООО «Ромашка»", "updated_at": "2024-10-27T03:33:20Z",
    "responsible_user_id": "504141", "lead_ids": ["7310001"], "open_lead_ids": ["7310001"],
    "extra": {"birthday": "01.02.1990"},
}


class FlatRecord(BaseModel):
    """A contact or company in the flat shape (any CRM); unknown keys are refused, to catch typos."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_FLAT_EXAMPLE]})

    id: RecordId | None = Field(None, description="the CRM's id; the path's id when omitted (PUT)")
    name: str | None = None
    phones: list[Text] = Field(default_factory=list, description="as written: `8 916 123-45-67`, `+7 (916) …`")
    emails: list[str] = Field(default_factory=list)
    company: str | None = Field(None, description="a contact's company name as written")
    company_ids: list[RecordId] = Field(default_factory=list)
    inn: Text | None = Field(None, description="a company's taxpayer id (ИНН)")
    website: str | None = None
    position: str | None = None
    responsible_user_id: RecordId | None = None
    lead_ids: list[RecordId] = Field(default_factory=list)
    open_lead_ids: list[RecordId] = Field(default_factory=list, description="deals not won or lost yet")
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = Field(None, description="an older update never overwrites a newer one")
    deleted: bool = False
    extra: dict[str, Text] = Field(default_factory=dict, description="the account's own fields by config name")

    def to_record(self, entity: Entity) -> Record:
        assert self.id is not None  # record_from_body fills it or refuses the body
        return Record(
            entity=entity, record_id=self.id, name=self.name, phones=tuple(self.phones), emails=tuple(self.emails),
            company_name=self.company, company_ids=tuple(self.company_ids), lead_ids=tuple(self.lead_ids),
            open_lead_ids=tuple(self.open_lead_ids), inn=self.inn, website=self.website, position=self.position,
            responsible_user_id=self.responsible_user_id, created_at=self.created_at, updated_at=self.updated_at,
            deleted=self.deleted, extra=dict(self.extra), raw=self.model_dump(mode="json", exclude_defaults=True),
        )


_AMOCRM_EXAMPLE: dict[str, Any] = {
    "id": 3180001, "name": "Петров Иван", "responsible_user_id": 504141, "created_at": 1700000000,
    "updated_at": 1730000000, "is_deleted": False,
    "custom_fields_values": [
        {"field_id": 100001, "field_name": "Телефон", "field_code": "PHONE",
         "values": [{"value": "8 916 123-45-67", "enum_code": "MOB"}]},
        {"field_id": 100002, "field_name": "Email", "field_code": "EMAIL",
         "values": [{"value": "I.Petrov@romashka.ru", "enum_code": "WORK"}]},
    ],
    "_embedded": {"companies": [{"id": 5120001}], "leads": [{"id": 7310001, "status_id": 142}]},
}


class AmoCrmRecord(BaseModel):
    """A contact or company as amoCRM API v4 returns it (`GET /api/v4/contacts/{id}`); other keys are ignored."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [_AMOCRM_EXAMPLE]})

    id: int | None = Field(None, description="the path's id when omitted (PUT)")
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    responsible_user_id: int | None = None
    created_at: int | None = Field(None, description="unix seconds")
    updated_at: int | None = Field(None, description="unix seconds")
    is_deleted: bool | None = None
    custom_fields_values: list[dict[str, Any]] | None = Field(
        None, description="field_code PHONE, EMAIL, WEB, POSITION, ADDRESS; the field named ИНН")
    embedded: dict[str, Any] | None = Field(None, alias="_embedded", description="`companies` and `leads`")


# Keys only an amoCRM API v4 object has: a body with any of them is read as one, anything else as
# the flat shape (whose unknown keys are refused, so a typo is not taken for an amoCRM object).
_AMOCRM_KEYS = frozenset({
    "custom_fields_values", "_embedded", "_links", "first_name", "last_name", "is_deleted", "account_id",
    "group_id", "created_by", "updated_by", "closest_task_at", "is_unsorted",
})
RECORD_SCHEMA: dict[str, Any] = {
    "title": "Record", "description": "a flat record or an amoCRM API v4 object",
    "oneOf": [FlatRecord.model_json_schema(), AmoCrmRecord.model_json_schema(by_alias=True)],
}
RecordBody = Annotated[dict[str, Any], WithJsonSchema(RECORD_SCHEMA)]
RECORD_EXAMPLES: dict[str, dict[str, Any]] = {
    "flat": {"summary": "the flat shape", "value": _FLAT_EXAMPLE},
    "amocrm": {"summary": "an amoCRM API v4 contact", "value": _AMOCRM_EXAMPLE},
}


def record_from_body(body: object, entity: Entity, *, index: int | None = None,
                     record_id: str | None = None) -> Record:
    """A record from a request body of either shape; InputError names the item and every bad field.

    `record_id` is the path's id (PUT): it fills a missing body id, and a different body id is refused.
    """
    if not isinstance(body, dict):
        raise InputError.one(f"expected a {entity} object, got {type(body).__name__}", item=index)
    if record_id is not None:
        given = body.get("id")
        if given is not None and str(given).strip() != record_id:
            raise InputError.one(f"id {given!r} differs from the id in the path, {record_id!r}", field="id",
                                 item=index)
        body = {**body, "id": record_id}
    if not _AMOCRM_KEYS.isdisjoint(body):
        try:
            return record_from_amocrm(body, entity, index=index or 0)
        except InputError as exc:  # record_from_amocrm counts items from 0; a single body has none
            raise InputError([replace(p, item=index) for p in exc.problems]) from None
    try:
        flat = FlatRecord.model_validate(body)
    except ValidationError as exc:
        raise InputError([InputProblem(e["msg"], field=_field_path(e["loc"]), item=index)
                          for e in exc.errors()]) from None
    if flat.id is None:
        raise InputError.one("missing id", field="id", item=index)
    return flat.to_record(entity)


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


class BatchIn(BaseModel):
    """Up to `max_batch` records (10,000 by default) of one entity, each in either shape."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"records": [
        {"id": "3180001", "name": "Петров Иван", "phones": ["8 916 123-45-67"], "updated_at": 1730000000},
        _AMOCRM_EXAMPLE | {"id": 3180002, "name": "Новый контакт по звонку с +79161234567 из UIS"},
    ]}]})

    # Items are checked one by one (record_from_body), so one malformed record rejects only itself
    records: list[Annotated[Any, WithJsonSchema(RECORD_SCHEMA)]]


class Rejected(BaseModel):
    """A batch item that was not stored, and why."""

    index: int | None = Field(description="0-based position in `records`")
    field: str | None
    reason: str


class BatchOut(BaseModel):
    """What a batch upsert stored; `rejected` lists every problem of the items left out."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "stored": 2, "rejected": [{"index": 1, "field": "phones[0]", "reason": "Input should be a valid string"}],
    }]})

    stored: int
    rejected: list[Rejected]


class RecordOut(BaseModel):
    """A stored record: phones in E.164 and emails folded, as matching sees them."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "entity": "contact", "record_id": "3180001", "name": "Петров Иван",
        "phones": ["+79161234567", "+74957654321"], "emails": ["i.petrov@romashka.ru"],
        "responsible_user_id": "504141", "company_ids": ["5120001"], "lead_ids": ["7310001"],
        "open_lead_ids": ["7310001"], "created_at": "2023-11-14T22:13:20Z", "updated_at": "2024-10-27T03:33:20Z",
        "deleted": False, "merged_into": None,
    }]})

    entity: Entity
    record_id: str
    name: str | None
    phones: list[str]
    emails: list[str]
    responsible_user_id: str | None
    company_ids: list[str]
    lead_ids: list[str]
    open_lead_ids: list[str]
    created_at: datetime | None
    updated_at: datetime | None
    deleted: bool
    merged_into: str | None = Field(description="the survivor this record was merged into, if any")

    @classmethod
    def from_row(cls, entity: Entity, row: dict[str, Any]) -> RecordOut:
        lists = {k: row[k] or [] for k in ("phones", "emails", "company_ids", "lead_ids", "open_lead_ids")}
        return cls.model_validate({**row, **lists, "entity": entity})


class RecordDeleted(BaseModel):
    """The record is marked deleted: it leaves scans, checks and open groups."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"entity": "contact", "record_id": "3180003", "deleted": True}]})

    entity: Entity
    record_id: str
    deleted: bool


# --- groups ---------------------------------------------------------------------------------------

_GROUP_EXAMPLE: dict[str, Any] = {
    "group_id": "ct-c7c8647279e0", "entity": "contact", "group_score": 0.9516, "size": 3, "needs_review": True,
    "review_reasons": ["3180001 and 3180002 are linked only by a shared phone"], "status": "open",
    "survivor_id": "3180001", "record_ids": ["3180001", "3180002", "3180004"],
    "names": ["Иван Петров", "Петров Иван", "Новый контакт по звонку с +79161234567"],
}


class GroupOut(BaseModel):
    """A group of the last scan: records judged to be one person or company."""

    model_config = ConfigDict(json_schema_extra={"examples": [_GROUP_EXAMPLE]})

    group_id: str = Field(description="stable across rescans")
    entity: Entity
    group_score: float = Field(description="match probability of the group's weakest link")
    size: int
    needs_review: bool
    review_reasons: list[str]
    status: Literal["open", "merged"]
    survivor_id: str
    record_ids: list[str] = Field(description="the survivor first; an open group lists only live records")
    names: list[str | None] = Field(default_factory=list, description="the records' names, in record_ids order")


class GroupPage(BaseModel):
    """One page of groups, best first; pass `next_cursor` as `cursor` for the next (null: the last page)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_GROUP_EXAMPLE], "next_cursor": "WzAuOTUxNiwgImN0LWM3Yzg2NDcyNzllMCJd"}]})

    items: list[GroupOut]
    next_cursor: str | None


class GroupCount(BaseModel):
    """How many groups (and records in them) share one entity, status and needs_review."""

    entity: Entity
    status: Literal["open", "merged"]
    needs_review: bool
    groups: int
    records: int


class GroupsSummary(BaseModel):
    """Counts of the groups `GET /v1/groups` lists under the same filters: the total and its parts."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "groups": 14, "records": 31, "counts": [
            {"entity": "contact", "status": "open", "needs_review": True, "groups": 5, "records": 12},
            {"entity": "contact", "status": "open", "needs_review": False, "groups": 9, "records": 19}]}]})

    groups: int
    records: int
    counts: list[GroupCount] = Field(description="by entity, status and needs_review; only non-empty parts")


class Contribution(BaseModel):
    """How much one compared field moved a pair's match weight, and at which level it agreed."""

    field: str = Field(description="a compared field, or `reviewers`: the change the re-ranker trained on "
                                   "reviewers' decisions made (only ever negative)")
    level: str
    gamma: int = Field(description="Splink's comparison level; -1 when the field is missing on a side, or for "
                                   "`reviewers`")
    match_weight: float = Field(description="log2 Bayes factor this field adds to the pair's match weight")


class PairOut(BaseModel):
    """Two members the model scored, with the per-field explanation (Splink's names)."""

    left_id: str
    right_id: str
    match_probability: float
    match_weight: float
    contributions: list[Contribution]


class MemberOut(BaseModel):
    """A member of a group as a reviewer sees it."""

    record_id: str
    name: str | None
    phones: list[str]
    emails: list[str]
    is_survivor: bool
    merged_into: str | None
    deleted: bool


class KeptValues(BaseModel):
    """What the merged record should carry: the survivor's values first."""

    name: str | None
    phones: list[str]
    emails: list[str]


class MergePlan(BaseModel):
    """The survivor (an open deal first, then the most recently updated, then the lowest id) and the rest."""

    survivor_id: str
    survivor_reason: str
    merge_ids: list[str]
    responsible_user_id: str | None
    lead_ids: list[str]
    company_ids: list[str]
    keep: KeptValues


class PairDecisionInForce(BaseModel):
    """A reviewer's decision in force on two members (the latest one on the pair, not undone)."""

    left_id: str
    right_id: str
    decision: Literal["duplicate", "not_duplicate"]


class GroupDetail(BaseModel):
    """A group with its members, the scored pairs among them, reviewers' decisions on them and its merge plan."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "group_id": "ct-04984fc0a41b", "entity": "contact", "group_score": 0.9995, "size": 2, "status": "open",
        "survivor_id": "401", "needs_review": False, "review_reasons": [],
        "members": [
            {"record_id": "401", "name": "Сергей Орлов", "phones": [], "emails": ["s.orlov@yandex.ru"],
             "is_survivor": True, "merged_into": None, "deleted": False},
            {"record_id": "402", "name": "Орлов Сергей Петрович", "phones": ["+79035551122"],
             "emails": ["s.orlov@yandex.ru"], "is_survivor": False, "merged_into": None, "deleted": False},
        ],
        "pairs": [{"left_id": "401", "right_id": "402", "match_probability": 0.9995, "match_weight": 11.06,
                   "contributions": [
                       {"field": "name", "level": "Exact match on name_norm", "gamma": 8, "match_weight": 0.45},
                       {"field": "email", "level": "shares a email at most 3 names have", "gamma": 3,
                        "match_weight": 27.24}]}],
        "merge_plan": {"survivor_id": "401", "survivor_reason": "lowest id", "merge_ids": ["402"],
                       "responsible_user_id": None, "lead_ids": [], "company_ids": [],
                       "keep": {"name": "Сергей Орлов", "phones": ["+79035551122"], "emails": ["s.orlov@yandex.ru"]}},
    }]})

    group_id: str
    entity: Entity
    group_score: float
    size: int
    status: Literal["open", "merged"]
    survivor_id: str
    needs_review: bool
    review_reasons: list[str]
    members: list[MemberOut]
    pairs: list[PairOut]
    merge_plan: MergePlan
    decisions: list[PairDecisionInForce] = Field(
        default_factory=list, description="decisions in force between members: pairs confirmed `duplicate` "
        "(a `not_duplicate` pair is split apart at once, so it is seen here only in a merged group)")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> GroupDetail:
        members = [m | {"phones": m["phones"] or [], "emails": m["emails"] or []} for m in row["members"]]
        return cls.model_validate(row | {"members": members})


class MergeReport(BaseModel):
    """The merge the widget made in the CRM: the record kept and the records merged into it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"survivor_id": "401", "absorbed_ids": ["402"]}]})

    survivor_id: RecordId
    absorbed_ids: list[RecordId] = Field(min_length=1)


class MergeResult(BaseModel):
    """The group as merged; a repeated report answers the same."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "group_id": "ct-04984fc0a41b", "entity": "contact", "status": "merged", "survivor_id": "401",
        "absorbed_ids": ["402"]}]})

    group_id: str
    entity: Entity
    status: Literal["merged"]
    survivor_id: str
    absorbed_ids: list[str] = Field(description="every member merged into the survivor so far")


# --- jobs -----------------------------------------------------------------------------------------


class ScanRequest(BaseModel):
    """Which entity to scan; null scans contacts and then companies."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"entity": "contact"},
                                                                              {"entity": None}]})

    entity: Entity | None = None


class JobResult(BaseModel):
    """Counts of a finished scan (both entities added up when both were scanned)."""

    records: int
    pairs: int
    groups: int
    seconds: float


class JobOut(BaseModel):
    """A background job and how far it got."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "job_id": "6f1c2b9a0d6e4f5b8a7c3d2e1f0a9b8c", "kind": "scan", "entity": "contact", "status": "done",
        "percent": 100.0, "created_at": "2026-11-24T10:00:00Z", "finished_at": "2026-11-24T10:00:04Z",
        "result": {"records": 3000, "pairs": 410, "groups": 212, "seconds": 3.9}, "error": None,
    }]})

    job_id: str
    kind: Literal["scan", "retrain"]
    entity: Entity | None
    status: Literal["queued", "running", "done", "failed"]
    percent: float = Field(ge=0, le=100)
    created_at: datetime
    finished_at: datetime | None
    result: JobResult | None
    error: str | None


# ==================================================================================================
# Feedback: reviewers' decisions on pairs and group members (api/routers/feedback.py, `crm-dedup feedback`)
# ==================================================================================================

Reviewer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
DecisionGroupId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

_PAIR_DECISION_EXAMPLE: dict[str, Any] = {
    "entity": "contact", "left_id": "3180001", "right_id": "3180002", "decision": "not_duplicate",
    "reviewer": "anna", "at": "2026-11-24T10:00:00Z",
}
_MEMBER_DECISION_EXAMPLE: dict[str, Any] = {
    "entity": "contact", "group_id": "ct-c7c8647279e0", "record_id": "3180004", "decision": "not_duplicate",
}


class PairDecisionIn(BaseModel):
    """A reviewer's word on two records: `not_duplicate`, `duplicate`, or `undo` (withdraws the one in force).

    The same shape as a line of a feedback JSONL file. `group_id` notes where the reviewer saw the pair.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_PAIR_DECISION_EXAMPLE]})

    entity: Entity
    left_id: RecordId
    right_id: RecordId
    decision: DecisionKind
    reviewer: Reviewer | None = Field(None, description="default: the widget token's user, else none")
    at: Timestamp | None = Field(None, description="when the reviewer decided; default: when it is stored")
    group_id: DecisionGroupId | None = None

    @field_validator("right_id")
    @classmethod
    def _two_records(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("left_id") == value:
            raise PydanticCustomError("same_record", "must differ from left_id: a record is no duplicate of itself")
        return value

    def to_decision(self, default_reviewer: str | None = None) -> Decision:
        return Decision.of(self.entity, self.left_id, self.right_id, self.decision,
                           reviewer=self.reviewer or default_reviewer, decided_at=self.at, group_id=self.group_id)


class MemberDecisionIn(BaseModel):
    """`record_id` is (not) a duplicate of the other members of its group: one pair decision per other member."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_MEMBER_DECISION_EXAMPLE]})

    entity: Entity
    group_id: DecisionGroupId
    record_id: RecordId
    decision: Literal["not_duplicate", "duplicate"]
    reviewer: Reviewer | None = Field(None, description="default: the widget token's user, else none")
    at: Timestamp | None = None


FEEDBACK_SCHEMA: dict[str, Any] = {
    "title": "Feedback",
    "description": "one pair decision, one group-member decision, or `{\"decisions\": [...]}` of either",
    "oneOf": [
        PairDecisionIn.model_json_schema(), MemberDecisionIn.model_json_schema(),
        {"type": "object", "required": ["decisions"], "additionalProperties": False,
         "properties": {"decisions": {"type": "array", "items": {"oneOf": [
             PairDecisionIn.model_json_schema(), MemberDecisionIn.model_json_schema()]}}}},
    ],
}
FeedbackBody = Annotated[dict[str, Any], WithJsonSchema(FEEDBACK_SCHEMA)]
FEEDBACK_EXAMPLES: dict[str, dict[str, Any]] = {
    "pair": {"summary": "two records are not one person", "value": _PAIR_DECISION_EXAMPLE},
    "member": {"summary": "a member of a group is not a duplicate of the others", "value": _MEMBER_DECISION_EXAMPLE},
    "batch": {"summary": "several at once (all stored or none)", "value": {"decisions": [
        _PAIR_DECISION_EXAMPLE, {"entity": "company", "left_id": "5120001", "right_id": "5120002",
                                 "decision": "duplicate"}]}},
    "undo": {"summary": "withdraw a decision", "value": {
        "entity": "contact", "left_id": "3180001", "right_id": "3180002", "decision": "undo"}},
}


def feedback_items(body: object, *, max_items: int) -> list[tuple[int | None, PairDecisionIn | MemberDecisionIn]]:
    """The decisions of a POST /v1/feedback body as (batch index or None, item); InputError names every bad field.

    An item with `record_id` (or with `group_id` and no pair ids) is a group-member decision, any other a
    pair decision. Fields are named by path: `left_id` for a single decision, `decisions.3.left_id` in a batch.
    """
    if not isinstance(body, dict):
        raise InputError.one(f"expected a decision object, got {type(body).__name__}", field="body")
    if "decisions" not in body:
        return [(None, _feedback_item(body, prefix="", index=None))]
    extra = sorted(set(body) - {"decisions"})
    items = body["decisions"]
    problems = [InputProblem("not allowed beside `decisions`", field=key) for key in extra]
    if not isinstance(items, list) or not items:
        problems.append(InputProblem("expected a non-empty list of decisions", field="decisions"))
    elif len(items) > max_items:
        problems.append(InputProblem(f"at most {max_items} decisions per request, got {len(items)}",
                                     field="decisions"))
    if problems:
        raise InputError(problems)
    out: list[tuple[int | None, PairDecisionIn | MemberDecisionIn]] = []
    for i, item in enumerate(items):
        try:
            out.append((i, _feedback_item(item, prefix=f"decisions.{i}.", index=i)))
        except InputError as exc:
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return out


def _feedback_item(item: object, *, prefix: str, index: int | None) -> PairDecisionIn | MemberDecisionIn:
    if not isinstance(item, dict):
        raise InputError.one(f"expected a decision object, got {type(item).__name__}",
                             field=prefix.rstrip(".") or "body", item=index)
    member = "record_id" in item or ("group_id" in item and not {"left_id", "right_id"} & set(item))
    model: type[PairDecisionIn | MemberDecisionIn] = MemberDecisionIn if member else PairDecisionIn
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        raise InputError([InputProblem(e["msg"], field=prefix + ".".join(str(p) for p in e["loc"]), item=index)
                          for e in exc.errors()]) from None


class DecisionOut(BaseModel):
    """A decision as the log holds it; `seq` numbers the account's decisions from 1, in the order received."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"seq": 17, **_PAIR_DECISION_EXAMPLE,
                                                               "group_id": None}]})

    seq: int
    entity: Entity
    left_id: str = Field(description="the smaller id of the pair (ids compared as text)")
    right_id: str
    decision: DecisionKind
    reviewer: str | None
    at: datetime
    group_id: str | None

    @classmethod
    def of(cls, stored: StoredDecision) -> DecisionOut:
        d = stored.decision
        assert d.decided_at is not None  # the store stamps every decision it appends
        return cls(seq=stored.seq, entity=d.entity, left_id=d.left_id, right_id=d.right_id, decision=d.decision,
                   reviewer=d.reviewer, at=d.decided_at, group_id=d.group_id)


class FeedbackStored(BaseModel):
    """What POST /v1/feedback stored (committed before this answer): a group-member decision counts one per pair."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "stored": 1, "decisions": [{"seq": 17, **_PAIR_DECISION_EXAMPLE, "group_id": None}]}]})

    stored: int
    decisions: list[DecisionOut]


class FeedbackPage(BaseModel):
    """One page of the account's decisions, oldest first; pass `next_cursor` as `cursor` (null: the last page)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"seq": 17, **_PAIR_DECISION_EXAMPLE, "group_id": None}], "next_cursor": "MTc"}]})

    items: list[DecisionOut]
    next_cursor: str | None
