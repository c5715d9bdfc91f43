"""What a route needs, as Annotated dependencies; the tenant check lives here and nowhere else."""

from __future__ import annotations

from typing import Annotated, Literal

import jwt
from fastapi import Depends, Header, HTTPException, Path, Request

from api.services import Services
from resolver.accounts import account_exists, account_for_key
from resolver.records import Entity

EntitySegment = Literal["contacts", "companies"]
_ENTITY: dict[str, Entity] = {"contacts": "contact", "companies": "company"}
_BEARER = "bearer "


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_account(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <API key>`")] = None,
    x_auth_token: Annotated[str | None, Header(description="amoCRM widget's one-time JWT (HS256)")] = None,
) -> str:
    """The caller's account: from an API key, or from the amoCRM widget's signed token.

    Every route that reads or writes data takes this and passes it down; the store's queries
    all filter on it, so no route can reach another account's rows.
    """
    challenge = {"WWW-Authenticate": "Bearer"}
    if authorization:
        if not authorization.lower().startswith(_BEARER):
            raise HTTPException(401, "Authorization must be `Bearer <API key>`", headers=challenge)
        account = account_for_key(services.store, authorization[len(_BEARER):].strip())
        if account is None:
            raise HTTPException(401, "unknown API key", headers=challenge)
        return account
    if x_auth_token:
        return _account_from_token(services, x_auth_token)
    raise HTTPException(401, "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token",
                        headers=challenge)


def _account_from_token(services: Services, token: str) -> str:
    secret = services.settings.jwt_secret
    if not secret:
        raise HTTPException(401, "X-Auth-Token is not accepted: CRM_DEDUP_JWT_SECRET is not configured")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "account_id"]},
                            leeway=5)  # exp and nbf are checked by decode; 5 s for clock skew
    except jwt.ExpiredSignatureError:
        raise HTTPException(401, "X-Auth-Token has expired") from None
    except jwt.ImmatureSignatureError:
        raise HTTPException(401, "X-Auth-Token is not valid yet (nbf)") from None
    except jwt.InvalidTokenError as exc:
        raise HTTPException(401, f"X-Auth-Token is invalid: {exc}") from None
    account = str(claims["account_id"])
    if not account_exists(services.store, account):
        raise HTTPException(403, f"account {account} is not registered with this service")
    return account


AccountDep = Annotated[str, Depends(current_account)]


def entity_of(entity: Annotated[EntitySegment, Path(description="`contacts` or `companies`")]) -> Entity:
    return _ENTITY[entity]


EntityDep = Annotated[Entity, Depends(entity_of)]
