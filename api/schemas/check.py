"""Bodies of the check router: scored matches of a stored record, an unsaved one, or an import file's rows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Contribution
from api.schemas.records import Rejected

_MATCH_EXAMPLE: dict[str, Any] = {
    "record_id": "3180002", "match_probability": 0.9993, "match_weight": 10.5,
    "explanation": [
        {"field": "name", "level": "missing on one side", "gamma": -1, "match_weight": 0.0},
        {"field": "phone", "level": "shares a phone at most 3 names have", "gamma": 3, "match_weight": 24.1},
    ],
}


class MatchOut(BaseModel):
    """A stored record that may be the same person or company, with the per-field explanation."""

    model_config = ConfigDict(json_schema_extra={"examples": [_MATCH_EXAMPLE]})

    record_id: str
    match_probability: float = Field(description="Splink's match probability, 0..1")
    match_weight: float = Field(description="log2 Bayes factor: the prior plus every field's contribution")
    explanation: list[Contribution] = Field(description="each compared field: the level it agreed at, its weight")


class DuplicatesOut(BaseModel):
    """Stored records that one stored record may duplicate, best first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "record_id": "3180001", "threshold": 0.6, "model_version": "default-1", "matches": [_MATCH_EXAMPLE]}]})

    record_id: str
    threshold: float
    model_version: str
    matches: list[MatchOut]


class CheckOut(BaseModel):
    """Stored records that a record about to be saved may duplicate, best first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "threshold": 0.6, "model_version": "default-1", "matches": [_MATCH_EXAMPLE]}]})

    threshold: float
    model_version: str
    matches: list[MatchOut]


class CheckBatchIn(BaseModel):
    """Records to check in one call (an import file's rows), each answered on its own."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"records": [
        {"id": "row-2", "name": "Иван Петров", "phones": ["8 916 123-45-67"]},
        {"id": "row-3", "name": "Заявка от «Анна»", "emails": ["anna@mail.ru"]},
    ]}]})

    records: list[Any] = Field(description="rows of an import file, each in either record shape")


class RowMatches(BaseModel):
    """One checked row: its position in the batch, its id if it had one, its matches."""

    index: int
    record_id: str | None
    matches: list[MatchOut]


class CheckBatchOut(BaseModel):
    """The matches of every row of a batch, in the order sent."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "threshold": 0.6, "model_version": "default-1",
        "results": [{"index": 0, "record_id": "row-2", "matches": [_MATCH_EXAMPLE]}],
        "rejected": [{"index": 1, "field": "phones[0]", "reason": "Input should be a valid string"}]}]})

    threshold: float
    model_version: str
    results: list[RowMatches]
    rejected: list[Rejected]
