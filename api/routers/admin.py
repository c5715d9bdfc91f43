"""The operator's API: create accounts and their API keys, list and revoke keys, while the service runs.

Guarded by one admin token from the environment (CRM_DEDUP_ADMIN_TOKEN); without it every route
here answers 404. The admin token opens these routes only, and an account's API key never opens
them: the two never stand in for each other (api/deps.py refuses the admin token on tenant routes).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Path, Request

from api.deps import ServicesDep, bearer_token, guarded, is_secret
from api.schemas.admin import AccountIn, AccountName, KeyIn, KeyList, KeyOut, NewKeyOut, admin_responses
from resolver.accounts import INITIAL_LABEL, KEY_ID, create_key, list_keys, register_account, revoke_key

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm-dedup admin"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="crm-dedup admin", error="invalid_token"'}


def admin(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <admin token>` (CRM_DEDUP_ADMIN_TOKEN)")] = None,
) -> None:
    """Let the request through only with the admin token; failures count towards the per-address limit."""
    expected = services.settings.admin_token
    if expected is None:
        raise HTTPException(404, "the admin API is off: set CRM_DEDUP_ADMIN_TOKEN (32+ characters) to turn it on")

    def check() -> None:
        if authorization is None:
            raise HTTPException(401, "send `Authorization: Bearer <admin token>` (CRM_DEDUP_ADMIN_TOKEN)",
                                headers=_CHALLENGE)
        if not is_secret(bearer_token(authorization) or "", expected):
            raise HTTPException(401, "not the admin token (an account's API key does not open /v1/admin)",
                                headers=_INVALID)

    guarded(request, check, presented=authorization is not None)


router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[Depends(admin)])

AccountPath = Annotated[AccountName, Path(description="the account's name", examples=["acme"])]
KeyIdPath = Annotated[str, Path(pattern=f"^{KEY_ID.pattern}$", description="a key's id, from the key list",
                                examples=["key_3f9a0c1b7d2e"])]


@router.post(
    "/accounts", status_code=201, response_model=NewKeyOut,
    summary="Create an account with its first API key (shown once)",
    responses=admin_responses(e409="account 'acme' already exists",
                              e422="name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'"),
)
def create_account(services: ServicesDep, body: Annotated[AccountIn, Body()]) -> NewKeyOut:
    label = INITIAL_LABEL if body.label is None else body.label
    key_id, key = register_account(services.store, body.name, label=label)
    return NewKeyOut(account_id=body.name, key_id=key_id, label=label or None, key=key)


@router.post(
    "/accounts/{account_id}/keys", status_code=201, response_model=NewKeyOut,
    summary="Give an account one more API key (shown once); its other keys keep working",
    responses=admin_responses(e422="label: String should have at most 100 characters"),
)
def create_account_key(services: ServicesDep, account_id: AccountPath,
                       body: Annotated[KeyIn | None, Body()] = None) -> NewKeyOut:
    label = body.label if body else None
    key_id, key = create_key(services.store, account_id, label)
    info = next(k for k in list_keys(services.store, account_id) if k.key_id == key_id)
    return NewKeyOut(account_id=account_id, key_id=key_id, label=info.label, key=key)


@router.get(
    "/accounts/{account_id}/keys", response_model=KeyList,
    summary="An account's API keys, revoked ones included (never the keys themselves)",
    responses=admin_responses(e422="account_id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'"),
)
def list_account_keys(services: ServicesDep, account_id: AccountPath) -> KeyList:
    return KeyList(items=[KeyOut.of(k) for k in list_keys(services.store, account_id)])


@router.delete(
    "/accounts/{account_id}/keys/{key_id}", response_model=KeyOut,
    summary="Revoke an API key: refused from the next request on; revoking it again changes nothing",
    responses=admin_responses(e422="key_id: String should match pattern '^key_[0-9a-f]{12}$'"),
)
def revoke_account_key(services: ServicesDep, account_id: AccountPath, key_id: KeyIdPath) -> KeyOut:
    return KeyOut.of(revoke_key(services.store, account_id, key_id))
