"""Bodies of the feedback router and `crm-dedup feedback`: reviewers' decisions on pairs and group members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from api.limits import storable
from api.schemas.common import RecordId, Timestamp
from resolver.errors import InputError, InputProblem
from resolver.records import Decision, DecisionKind, Entity
from resolver.suppression import StoredDecision

Reviewer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
                     AfterValidator(storable)]
DecisionGroupId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(storable)]

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
