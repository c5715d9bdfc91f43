"""Reviewers' decisions: store them (suppression at once) and list the account's log."""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Body, Query

from api.deps import AccountDep, Caller, CallerDep, EntitySegment, ServicesDep
from api.schemas import (
    FEEDBACK_EXAMPLES,
    DecisionOut,
    FeedbackBody,
    FeedbackPage,
    FeedbackStored,
    MemberDecisionIn,
    feedback_items,
    problem_responses,
)
from resolver.errors import InputError
from resolver.records import PLURAL, Decision, Entity
from resolver.suppression import member_decisions, record_decisions, stored_decision

router = APIRouter(prefix="/v1", tags=["feedback"])

_SINGULAR: dict[str, Entity] = {plural: entity for entity, plural in PLURAL.items()}  # type: ignore[misc]


def reviewer_of(caller: Caller, named: str | None) -> str | None:
    """Who made a decision: with a widget token, always the token's verified user (`user_id`), whatever
    the body says (a body cannot speak for another amoCRM user); with an API key, the body's `reviewer`
    (a server-side integration names its reviewer)."""
    return caller.widget_user if caller.widget else named


@router.post(
    "/feedback", status_code=201, response_model=FeedbackStored,
    summary="Store reviewers' decisions; a pair marked not_duplicate disappears from every answer at once",
    description="One decision or `{\"decisions\": [...]}`, all stored or none, committed before the answer. A "
                "pair decision names two records; a group-member decision (`group_id`, `record_id`) stands for "
                "one pair decision per other member of the group. A `not_duplicate` splits the stored groups "
                "at once (the largest part keeps the group id) and leaves `/duplicates` and `check`; a "
                "`duplicate` or an `undo` regroups the two records' groups at once too. The account is the "
                "caller's. With the widget's "
                "X-Auth-Token the reviewer is the token's user (`user_id`) and a body `reviewer` is ignored; "
                "with an API key it is the body's `reviewer`, if any.",
    responses=problem_responses(e404="no contact group ct-c7c8647279e0 in this account",
                                e422="decisions.1.right_id: must differ from left_id"),
)
def post_feedback(account: AccountDep, services: ServicesDep, caller: CallerDep,
                  body: Annotated[FeedbackBody, Body(openapi_examples=FEEDBACK_EXAMPLES)]) -> FeedbackStored:
    decisions: list[Decision] = []
    for index, item in feedback_items(body, max_items=services.settings.max_batch):
        if isinstance(item, MemberDecisionIn):
            decisions += member_decisions(
                services.store, account, entity=item.entity, group_id=item.group_id, record_id=item.record_id,
                decision=item.decision, reviewer=reviewer_of(caller, item.reviewer), decided_at=item.at,
                field_prefix="" if index is None else f"decisions.{index}.", item=index)
        else:
            decisions.append(replace(item.to_decision(), reviewer=reviewer_of(caller, item.reviewer)))
    stored = record_decisions(services.store, account, decisions)
    if services.amocrm is not None:  # a record tagged in amoCRM may have lost its last match: its tag comes off
        for entity in {d.entity for d in decisions}:
            services.amocrm.recheck(account, entity, sorted({i for d in decisions if d.entity == entity
                                                             for i in (d.left_id, d.right_id)}))
    return FeedbackStored(stored=len(stored), decisions=[DecisionOut.of(s) for s in stored])


@router.get(
    "/feedback", response_model=FeedbackPage,
    summary="The account's decisions, oldest first (an export of the log), cursor-paginated",
    description="Every decision as received, undone ones and undos included; the latest on a pair is in force. "
                "Pass `next_cursor` back as `cursor` for the next page, with the same `entity`; decisions "
                "stored meanwhile come on later pages.",
    responses=problem_responses(e422="cursor: not a cursor this API returned"),
)
def list_feedback(
    account: AccountDep,
    services: ServicesDep,
    entity: Annotated[EntitySegment | None, Query(description="`contacts` or `companies`; both when absent")] = None,
    cursor: Annotated[str | None, Query(max_length=64, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> FeedbackPage:
    rows = services.store.decision_page(account, entity=_SINGULAR[entity] if entity else None,
                                        after_seq=_decode_cursor(cursor) if cursor else 0, limit=limit + 1)
    items = [DecisionOut.of(stored_decision(r)) for r in rows[:limit]]
    return FeedbackPage(items=items, next_cursor=_encode_cursor(items[-1].seq) if len(rows) > limit else None)


# The cursor is the last decision's seq: the log only grows at its end, so a page never skips or repeats.

def _encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not (text.isascii() and text.isdigit()):
            raise ValueError(cursor)
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InputError.one("not a cursor this API returned", field="cursor") from exc
    return int(text)
