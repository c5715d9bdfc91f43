"""What the amoCRM widget acts with: groups among selected records, kept merges and their undo, who may
merge (the widget's settings), and "create anyway" decisions waiting for the new record."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from api.deps import AccountDep, Caller, CallerDep, EntityDep, EntitySegment, ServicesDep
from api.schemas import problem_responses
from api.schemas.widget import (
    AmongGroup,
    AmongIn,
    AmongOut,
    CreatedAnywayIn,
    CreatedAnywayOut,
    KeptMerge,
    MergesPage,
    Restored,
    WidgetSettingsIn,
    WidgetSettingsOut,
)
from api.services import Services
from resolver.errors import InputError, NotFound
from resolver.pending import PENDING_LIFETIME, add_pending
from resolver.records import PLURAL, Entity
from resolver.restore import CrmWriteError, CrmWriter, restore_merge

router = APIRouter(prefix="/v1", tags=["widget"])

_SINGULAR: dict[str, Entity] = {plural: entity for entity, plural in PLURAL.items()}  # type: ignore[misc]
_DEFAULTS = {"allowed_users": [], "entities": ["contacts", "companies"], "sound": True, "run_cap": 50,
             "updated_at": None, "updated_by": None}
MergeIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^mg_[0-9a-f]+$",
                                  examples=["mg_1f2e3d4c5b6a7980"])]
CrmWriters = Callable[[str], CrmWriter | None]
"""account -> the CRM writer of its amoCRM connection, None when the account has none (app.state.crm_writers)."""


def may_act(services: Services, caller: Caller) -> bool:
    """Whether the caller may search groups, merge and undo: an API key always; a widget token when no
    allow-list was saved yet, or when its user is on it."""
    if not caller.widget:
        return True
    saved = services.store.widget_settings(caller.account)
    return saved is None or (caller.widget_user is not None and caller.widget_user in saved["allowed_users"])


def require_may_act(services: Services, caller: Caller, what: str) -> None:
    """403 problem+json when the widget's user is not on the account's allow-list."""
    if not may_act(services, caller):
        raise HTTPException(403, f"amoCRM user {caller.widget_user or '(unknown)'} is not on this account's widget "
                            f"allow-list, so {what} is refused; an administrator adds users in the widget's settings")


def purge_expired(services: Services, account: str) -> None:
    """Drop the account's before-images older than the retention (on every list and report: no timer needed)."""
    services.store.purge_merge_images(datetime.now(UTC) - timedelta(days=services.settings.merge_retention_days),
                                      account)


@router.post(
    "/{entity:entity}/groups:among", response_model=AmongOut,
    summary="Open groups among the records selected in a list (or the whole account), best first",
    description="The list view's search: every open group of the last scan holding at least one of `record_ids` "
                "(up to 1,000 ids; absent or null: every open group of the account), with score, review reasons, "
                "members, survivor, merge plan and `safe` (an automatic run merges it: score at or above the "
                "account's auto-merge threshold and no review needed). Refused (403) for a widget user not on the "
                "account's allow-list.",
    responses=problem_responses(e403="amoCRM user 7 is not on this account's widget allow-list",
                                e422="record_ids: List should have at most 1000 items"),
)
def groups_among(entity: EntityDep, account: AccountDep, services: ServicesDep, caller: CallerDep,
                 body: AmongIn) -> AmongOut:
    require_may_act(services, caller, "searching duplicates")
    asked = None if body.record_ids is None else list(dict.fromkeys(body.record_ids))
    rows = services.store.groups_among(account, entity, asked, limit=body.limit + 1)
    threshold = services.served(account, entity).model.auto_merge_threshold
    chosen = set(asked or [])
    groups = [AmongGroup(**r, safe=not r["needs_review"] and r["group_score"] >= threshold,
                         selected_ids=[i for i in r["record_ids"] if i in chosen] if asked is not None
                         else list(r["record_ids"]))
              for r in rows[:body.limit]]
    return AmongOut(entity=entity, auto_merge_threshold=threshold, count=len(groups),
                    records=sum(len(g.record_ids) for g in groups), truncated=len(rows) > body.limit, groups=groups)


def _kept(services: Services, row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "expires_at": row["merged_at"] + timedelta(days=services.settings.merge_retention_days)}


@router.get(
    "/merges", response_model=MergesPage,
    summary="The merges reported in this account, newest first: one item per absorbed record, restorable",
    description="Kept for `merge_retention_days` (30 by default) after the merge; older ones are purged. Pass "
                "`next_cursor` back as `cursor` for the next page, with the same `entity`.",
    responses=problem_responses(e422="cursor: not a cursor this API returned"),
)
def list_merges(
    account: AccountDep, services: ServicesDep,
    entity: Annotated[EntitySegment | None, Query(description="`contacts` or `companies`; both when absent")] = None,
    cursor: Annotated[str | None, Query(max_length=256, description="`next_cursor` of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> MergesPage:
    purge_expired(services, account)
    rows = services.store.merges_page(account, entity=_SINGULAR[entity] if entity else None,
                                      after=_decode_cursor(cursor) if cursor else None, limit=limit + 1)
    items = [KeptMerge.model_validate(_kept(services, r)) for r in rows[:limit]]
    more = len(rows) > limit
    return MergesPage(items=items, next_cursor=_encode_cursor(items[-1]) if more else None)


def crm_writer(request: Request, account: str) -> CrmWriter:
    """The CRM writer of the account's amoCRM connection; 409 problem+json when it has none."""
    writers: CrmWriters | None = getattr(request.app.state, "crm_writers", None)
    writer = writers(account) if writers is not None else None
    if writer is None:
        raise HTTPException(409, f"account {account} has no amoCRM connection, so the record cannot be re-created; "
                            "connect the account to amoCRM (OAuth) first")
    return writer


@router.post(
    "/merges/{merge_id}/restore", response_model=Restored,
    summary="Undo one absorbed record: re-create it in amoCRM (API v4 create + links), keep it apart",
    description="Creates the record from its before-image (name, responsible user, custom fields, tags), links "
                "its deals and companies again, and records the pair (survivor, new record) as `not_duplicate`. "
                "amoCRM gives the record a new id (`restored_as`); amoCRM's own merge cannot be undone, this can. "
                "Once only: a second restore is a 409.",
    responses=problem_responses(e403="amoCRM user 7 is not on this account's widget allow-list",
                                e404="no kept merge mg_1f2e3d4c5b6a7980 in this account",
                                e409="account acme has no amoCRM connection",
                                e502="amoCRM refused to create the contact: 403"),
)
def restore(request: Request, account: AccountDep, services: ServicesDep, caller: CallerDep,
            merge_id: MergeIdPath) -> Restored:
    require_may_act(services, caller, "restoring a merged record")
    purge_expired(services, account)
    if services.store.merge_image(account, merge_id) is None:
        raise NotFound(f"no kept merge {merge_id} in this account")
    writer = crm_writer(request, account)
    try:
        restored = restore_merge(services.store, account, merge_id, writer, reviewer=caller.widget_user)
    except CrmWriteError as exc:
        raise HTTPException(502, str(exc)) from exc
    return Restored.model_validate(_kept(services, restored))


def _settings_out(services: Services, caller: Caller) -> WidgetSettingsOut:
    saved = services.store.widget_settings(caller.account)
    values = saved if saved is not None else _DEFAULTS
    return WidgetSettingsOut(configured=saved is not None, **values, user_id=caller.widget_user,
                             allowed=may_act(services, caller))


@router.get(
    "/widget/settings", response_model=WidgetSettingsOut,
    summary="The widget's settings (allow-list, sound, entities, run cap) and whether the caller may merge",
)
def get_widget_settings(services: ServicesDep, caller: CallerDep) -> WidgetSettingsOut:
    return _settings_out(services, caller)


@router.put(
    "/widget/settings", response_model=WidgetSettingsOut,
    summary="Save the widget's settings: the widget's onSave with an administrator's token, or an API key",
    responses=problem_responses(e403="only an amoCRM administrator saves the widget's settings",
                                e422="allowed_users.0: String should match pattern '^[0-9A-Za-z_-]+$'"),
)
def put_widget_settings(services: ServicesDep, caller: CallerDep, body: WidgetSettingsIn) -> WidgetSettingsOut:
    if caller.widget and not caller.widget_admin:
        raise HTTPException(403, "only an amoCRM administrator saves the widget's settings (the token's is_admin "
                            "is not true)")
    services.store.save_widget_settings(caller.account, allowed_users=list(dict.fromkeys(body.allowed_users)),
                                        entities=body.entities, sound=body.sound, run_cap=body.run_cap,
                                        by=caller.widget_user)
    return _settings_out(services, caller)


@router.post(
    "/{entity:entity}/created-anyway", response_model=CreatedAnywayOut, status_code=202,
    summary="\"Create anyway\": keep the new record apart from these once it arrives",
    description="The card had no id when the user chose to create it despite the matches. The decision waits (a "
                "day) for a record of this entity with one of the typed phones or emails that is not one of "
                "`record_ids`; when a sync or upsert brings it, `not_duplicate` is stored between it and each of "
                "them, by the widget's user.",
    responses=problem_responses(e404="no contact 999 in this account",
                                e409="this account already has 1000 create-anyway decisions waiting",
                                e422="name a typed phone or email"),
)
def created_anyway(entity: EntityDep, account: AccountDep, services: ServicesDep, caller: CallerDep,
                   body: CreatedAnywayIn) -> CreatedAnywayOut:
    if not body.phones and not body.emails:
        raise InputError.one("name a typed phone or email", field="phones")
    for record_id in body.record_ids:
        if services.store.record(account, entity, record_id) is None:
            raise NotFound(f"no {entity} {record_id} in this account")
    pending_id = add_pending(services.store, account, entity, record_ids=body.record_ids, phones=body.phones,
                             emails=body.emails, reviewer=caller.widget_user)
    return CreatedAnywayOut(pending_id=pending_id, expires_in_seconds=int(PENDING_LIFETIME.total_seconds()))


# The cursor is the last item's (merged_at, merge_id), the sort key; opaque to clients (base64url JSON).

def _encode_cursor(last: KeptMerge) -> str:
    return base64.urlsafe_b64encode(json.dumps([last.merged_at.isoformat(), last.merge_id]).encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, merge_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if not isinstance(stamp, str) or not isinstance(merge_id, str):
            raise ValueError(cursor)
        when = datetime.fromisoformat(stamp)
    except (binascii.Error, UnicodeError, ValueError, TypeError) as exc:
        raise InputError.one("not a cursor this API returned", field="cursor") from exc
    return when, merge_id
