"""Shared pieces of the API's bodies: the entity path segment, id/text/time field types, problems (RFC 9457)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError
from starlette.convertors import Convertor, register_url_convertor

from api.errors import status_title
from api.limits import BOUNDED_STR_SCHEMA, bounded, storable

PROBLEM_MEDIA_TYPE = "application/problem+json"

# --- the entity path segment ----------------------------------------------------------------------


class _EntitySegment(Convertor[str]):
    """Paths `/v1/{entity:entity}/…` match only `contacts` and `companies`.

    Without it `GET /v1/{entity}/{record_id}` would also claim `/v1/groups/…` and `/v1/jobs/…` (a
    router included earlier wins) and answer them with a 422 about the entity. Registered here, at
    import, because every router that uses it imports `api.schemas` (which imports this module) first.
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


def problem_responses(**details: str) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: each status (`e404="…"`) as a Problem with an example detail; 401 always.

    Titles are the ones the error handlers send (`api.errors.status_title`), so the example is the answer.
    """
    details = {"e401": "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token", **details}
    out: dict[int | str, dict[str, Any]] = {}
    for key, detail in details.items():
        status = int(key.removeprefix("e"))
        title = status_title(status)
        example = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        out[status] = {"model": Problem, "description": title, "content": {PROBLEM_MEDIA_TYPE: {
            "schema": {"$ref": "#/components/schemas/Problem"}, "example": example}}}
    return out



# --- field types --------------------------------------------------------------------------------


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
                                                                        max_length=128, pattern=r"^[^\s/]+$"),
                     AfterValidator(storable)]
Text = Annotated[str, BeforeValidator(_number_text), AfterValidator(bounded), WithJsonSchema(BOUNDED_STR_SCHEMA)]
"""A string (or a number, read as its digits) of a request body: at most max_field_chars, storable."""
Timestamp = Annotated[datetime, BeforeValidator(_utc), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
     "description": "ISO 8601 (UTC when no offset is given) or unix seconds"})]


# --- explanations (groups' pairs and check matches) -----------------------------------------------


class Contribution(BaseModel):
    """How much one compared field moved a pair's match weight, and at which level it agreed."""

    field: str = Field(description="a compared field, or `reviewers`: the change the re-ranker trained on "
                                   "reviewers' decisions made (only ever negative)")
    level: str
    gamma: int = Field(description="Splink's comparison level; -1 when the field is missing on a side, or for "
                                   "`reviewers`")
    match_weight: float = Field(description="log2 Bayes factor this field adds to the pair's match weight")

