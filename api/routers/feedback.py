"""Reviewers' decisions: store them (suppression at once) and list the account's log."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import jwt
from fastapi import APIRouter, Body, Depends, Header, Query

from api.deps import AccountDep, EntitySegment, ServicesDep
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


def widget_user(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_auth_token: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> str | None:
    """The amoCRM user behind a widget token (its `user_id` claim); None for an API key.

    Runs after `current_account` has verified the token (signature, exp, nbf), so only the signature
    is checked again here: a token that expired in between still names the user who sent it.
    """
    secret = services.settings.jwt_secret
    if authorization is not None or x_auth_token is None or not secret:
        return None
    try:
        claims = jwt.decode(x_auth_token, secret, algorithms=["HS256"],
                            options={"verify_exp": False, "verify_nbf": False})
    except jwt.InvalidTokenError:
        return None
    user = claims.get("user_id")
    # amoCRM sends ids as numbers; bool is an int to Python but never an id
    if isinstance(user, bool) or not isinstance(user, int | str) or not str(user).strip():
        return None
    return str(user).strip()


WidgetUserDep = Annotated[str | None, Depends(widget_user)]


@router.post(
    "/feedback", status_code=201, response_model=FeedbackStored,
    summary="Store reviewers' decisions; a pair marked not_duplicate disappears from every answer at once",
    description="One decision or `{\"decisions\": [...]}`, all stored or none, committed before the answer. A "
                "pair decision names two records; a group-member decision (`group_id`, `record_id`) stands for "
                "one pair decision per other member of the group. A `not_duplicate` splits the stored groups "
                "at once (the largest part keeps the group id) and leaves `/duplicates` and `check`; a "
                "`duplicate` or an `undo` regroups the two records' groups at once too. The account is the "
                "caller's; `reviewer` "
                "defaults to the widget token's user.",
    responses=problem_responses(e404="no contact group ct-c7c8647279e0 in this account",
                                e422="decisions.1.right_id: must differ from left_id"),
)
def post_feedback(account: AccountDep, services: ServicesDep, user: WidgetUserDep,
                  body: Annotated[FeedbackBody, Body(openapi_examples=FEEDBACK_EXAMPLES)]) -> FeedbackStored:
    decisions: list[Decision] = []
    for index, item in feedback_items(body, max_items=services.settings.max_batch):
        if isinstance(item, MemberDecisionIn):
            decisions += member_decisions(
                services.store, account, entity=item.entity, group_id=item.group_id, record_id=item.record_id,
                decision=item.decision, reviewer=item.reviewer or user, decided_at=item.at,
                field_prefix="" if index is None else f"decisions.{index}.", item=index)
        else:
            decisions.append(item.to_decision(default_reviewer=user))
    stored = record_decisions(services.store, account, decisions)
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
