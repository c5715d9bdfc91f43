"""Groups of the last scans: a cursor-paginated list, one group explained, and the merges the widget reports."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from api.deps import AccountDep, CallerDep, EntitySegment, ServicesDep
from api.routers.widget import purge_expired, require_may_act
from api.schemas import (
    GroupCount,
    GroupDetail,
    GroupOut,
    GroupPage,
    GroupsSummary,
    MergeReport,
    MergeResult,
    problem_responses,
)
from resolver.errors import InputError, NotFound
from resolver.records import PLURAL, Entity

router = APIRouter(prefix="/v1", tags=["groups"])

_SINGULAR: dict[str, Entity] = {plural: entity for entity, plural in PLURAL.items()}  # type: ignore[misc]
GroupIdPath = Annotated[str, Path(max_length=64, description="stable across rescans", examples=["ct-04984fc0a41b"])]
# the filters GET /v1/groups and GET /v1/groups/summary share
EntityFilter = Annotated[EntitySegment | None, Query(description="`contacts` or `companies`; both when absent")]
MinScore = Annotated[float | None, Query(ge=0, le=1, description="lowest group_score")]
MaxScore = Annotated[float | None, Query(ge=0, le=1, description="highest group_score")]
StatusFilter = Annotated[Literal["open", "merged"] | None, Query(description="any when absent")]
NeedsReview = Annotated[bool | None, Query(description="only groups a person should (not) look at")]


@router.get(
    "/groups", response_model=GroupPage,
    summary="Groups sorted by score (best first), cursor-paginated",
    description="Filters combine; `status=open` leaves out groups already merged, and an open group lists only "
                "records not deleted or merged since the scan. Pass `next_cursor` back as `cursor` for the next "
                "page, with the same filters.",
    responses=problem_responses(e422="cursor: not a cursor this API returned"),
)
def list_groups(
    account: AccountDep,
    services: ServicesDep,
    entity: EntityFilter = None,
    min_score: MinScore = None,
    max_score: MaxScore = None,
    status: StatusFilter = None,
    needs_review: NeedsReview = None,
    cursor: Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> GroupPage:
    rows = services.store.groups_page(
        account, entity=_SINGULAR[entity] if entity else None, min_score=min_score, max_score=max_score,
        status=status, needs_review=needs_review, after=_decode_cursor(cursor) if cursor else None, limit=limit + 1)
    items = [GroupOut.model_validate(r) for r in rows[:limit]]
    more = len(rows) > limit
    return GroupPage(items=items, next_cursor=_encode_cursor(items[-1]) if more else None)


# declared before /groups/{group_id}, which would otherwise take "summary" for a group id
@router.get(
    "/groups/summary", response_model=GroupsSummary,
    summary="How many groups (and records in them) the same filters list: what is left to review",
    description="Takes the filters of `GET /v1/groups` and counts what that list would hold, by entity, status "
                "and needs_review. `?status=open&needs_review=true` is the review queue's length.",
    responses=problem_responses(e422="max_score: Input should be less than or equal to 1"),
)
def summarize_groups(account: AccountDep, services: ServicesDep, entity: EntityFilter = None,
                     min_score: MinScore = None, max_score: MaxScore = None, status: StatusFilter = None,
                     needs_review: NeedsReview = None) -> GroupsSummary:
    rows = services.store.groups_summary(account, entity=_SINGULAR[entity] if entity else None, min_score=min_score,
                                         max_score=max_score, status=status, needs_review=needs_review)
    counts = [GroupCount.model_validate(r) for r in rows]
    return GroupsSummary(groups=sum(c.groups for c in counts), records=sum(c.records for c in counts), counts=counts)


@router.get(
    "/groups/{group_id}", response_model=GroupDetail,
    summary="One group: members, the scored pairs among them with per-field explanations, the merge plan",
    description="`survivor` makes the merge plan anew around another member (the reviewer's choice); the stored "
                "group does not change.",
    responses=problem_responses(e404="no group ct-04984fc0a41b in this account",
                                e422="survivor: record 999 is not a member of group ct-04984fc0a41b"),
)
def get_group(account: AccountDep, services: ServicesDep, group_id: GroupIdPath,
              survivor: Annotated[str | None, Query(min_length=1, max_length=128,
                                                    description="plan the merge around this member")] = None,
              ) -> GroupDetail:
    row = services.store.group(account, group_id, survivor_id=survivor)
    if row is None:
        raise NotFound(f"no group {group_id} in this account")
    return GroupDetail.from_row(row)


@router.post(
    "/groups/{group_id}/merged", response_model=MergeResult,
    summary="Record the merge the widget made: absorbed records leave all results",
    description="Every id must be a member of the group. A repeat answers the same; the same survivor with more "
                "absorbed members adds them; another survivor than the one already reported is a 409. The absorbed "
                "records' before-images are kept for undo (`GET /v1/merges`). A widget user not on the account's "
                "allow-list is refused (403); API keys are not.",
    responses=problem_responses(e403="amoCRM user 7 is not on this account's widget allow-list",
                                e404="no group ct-04984fc0a41b in this account",
                                e409="group ct-04984fc0a41b was merged into 401, not 402",
                                e422="absorbed_ids[0]: record 999 is not a member of group ct-04984fc0a41b"),
)
def report_merge(account: AccountDep, services: ServicesDep, caller: CallerDep, group_id: GroupIdPath,
                 body: MergeReport) -> MergeResult:
    require_may_act(services, caller, "reporting a merge")
    purge_expired(services, account)
    merged = services.store.record_merge(account, group_id, survivor_id=body.survivor_id,
                                         absorbed_ids=body.absorbed_ids, merged_by=caller.widget_user)
    return MergeResult.model_validate(merged)


# The cursor is the last item's (group_score, group_id), the sort key, so a page starts right
# after it even when groups before it were merged meanwhile. Opaque to clients: base64url JSON.

def _encode_cursor(last: GroupOut) -> str:
    return base64.urlsafe_b64encode(json.dumps([last.group_score, last.group_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        score, group_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(score, bool) or not isinstance(score, int | float) or not isinstance(group_id, str):
            raise ValueError(cursor)
    except (binascii.Error, UnicodeError, ValueError, TypeError) as exc:
        raise InputError.one("not a cursor this API returned", field="cursor") from exc
    return float(score), group_id
