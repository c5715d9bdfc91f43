"""Bodies of the records router: a record in the flat or the amoCRM API v4 shape, batches, stored records."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from api.limits import BoundedStr, value_problems
from api.schemas.common import RecordId, Text, Timestamp
from resolver.errors import InputError, InputProblem
from resolver.ingest.amocrm import record_from_amocrm
from resolver.records import Entity, Record

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
    name: BoundedStr | None = None
    phones: list[Text] = Field(default_factory=list, description="as written: `8 916 123-45-67`, `+7 (916) …`")
    emails: list[BoundedStr] = Field(default_factory=list)
    company: BoundedStr | None = Field(None, description="a contact's company name as written")
    company_ids: list[RecordId] = Field(default_factory=list)
    inn: Text | None = Field(None, description="a company's taxpayer id (ИНН)")
    website: BoundedStr | None = None
    position: BoundedStr | None = None
    responsible_user_id: RecordId | None = None
    lead_ids: list[RecordId] = Field(default_factory=list)
    open_lead_ids: list[RecordId] = Field(default_factory=list, description="deals not won or lost yet")
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = Field(None, description="an older update never overwrites a newer one")
    deleted: bool = False
    extra: dict[BoundedStr, Text] = Field(default_factory=dict, description="the account's own fields by config name")

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
    name: BoundedStr | None = None
    first_name: BoundedStr | None = None
    last_name: BoundedStr | None = None
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
    Every string of the body (free-form parts and keys we do not read included) must be storable
    text of at most max_field_chars, and every list or object inside it at most max_list_items long:
    the body is stored as received (`Record.raw`) and read by normalizers that must not see megabytes.
    """
    if not isinstance(body, dict):
        raise InputError.one(f"expected a {entity} object, got {type(body).__name__}", item=index)
    problems = value_problems(body, item=index, brackets=True)
    if problems:
        raise InputError(problems)
    if record_id is not None:
        given = body.get("id")
        if given is not None and str(given).strip() != record_id:
            raise InputError.one(f"id {given!r} differs from the id in the path, {record_id!r}", field="id",
                                 item=index)
        body = {**body, "id": record_id}
    if not _AMOCRM_KEYS.isdisjoint(body):
        try:
            record = record_from_amocrm(body, entity, index=index or 0)
        except InputError as exc:  # record_from_amocrm counts items from 0; a single body has none
            raise InputError([replace(p, item=index) for p in exc.problems]) from None
        return _ids_checked(record, index)
    try:
        flat = FlatRecord.model_validate(body)
    except ValidationError as exc:
        raise InputError([InputProblem(e["msg"], field=_field_path(e["loc"]), item=index)
                          for e in exc.errors()]) from None
    if flat.id is None:
        raise InputError.one("missing id", field="id", item=index)
    return flat.to_record(entity)


_MAX_ID_CHARS = 128  # as RecordId: amoCRM's ids are digits, but nothing else stops a 2,000-digit one


def _ids_checked(record: Record, index: int | None) -> Record:
    """The amoCRM record if its ids keep the rule flat ids keep (RecordId: at most 128 characters)."""
    ids = {"id": [record.record_id], "responsible_user_id": [record.responsible_user_id or ""],
           "_embedded.companies": list(record.company_ids), "_embedded.leads": list(record.lead_ids)}
    problems = [InputProblem(f"an id of {len(value)} characters, at most {_MAX_ID_CHARS} allowed", field=field,
                             item=index)
                for field, values in ids.items() for value in values if len(value) > _MAX_ID_CHARS]
    if problems:
        raise InputError(problems)
    return record


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
    scan_job_id: str | None = Field(default=None, description=(
        "the incremental scan queued for the batch (GET /v1/jobs/{job_id}); absent when none was (`scan=false`, "
        "or the base was never scanned)"))


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

