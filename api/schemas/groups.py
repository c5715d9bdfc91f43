"""Bodies of the groups router: groups of a scan, their details and merge plans, merge reports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Contribution, RecordId
from resolver.records import Entity

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

