"""What a route needs, as Annotated dependencies: tenant, services, entity.

The tenant check lives here and nowhere else. The limits of input live in `api.limits`
(re-exported here for older imports): `RequestLimits` calls `current_account` before a body is read.
"""

from __future__ import annotations

from typing import Annotated, Literal

import jwt
from fastapi import Depends, Header, HTTPException, Path, Request

# the limits used to live here; re-exported for older imports
from api.limits import BodyTooLarge as BodyTooLarge
from api.limits import BoundedStr as BoundedStr
from api.limits import RequestLimits as RequestLimits
from api.limits import long_string_problems as long_string_problems
from api.limits import max_field_chars as max_field_chars
from api.metrics import Metrics
from api.services import Services
from resolver.accounts import account_exists, account_for_key
from resolver.records import Entity

EntitySegment = Literal["contacts", "companies"]
_ENTITY: dict[str, Entity] = {"contacts": "contact", "companies": "company"}
_BEARER = "bearer "
# RFC 6750 §3: a 401 names the scheme; `invalid_token` when credentials were sent but are no good
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm-dedup"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="crm-dedup", error="invalid_token"'}
_JWT_LEEWAY_SECONDS = 5  # clock skew between amoCRM's servers and ours


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


def current_account(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <API key>`")] = None,
    x_auth_token: Annotated[str | None, Header(description="amoCRM widget's one-time JWT (HS256)")] = None,
) -> str:
    """The caller's account: from an API key, or from the amoCRM widget's signed token.

    Every route that reads or writes data takes this and passes it down; the store's queries
    all filter on it, so no route can reach another account's rows. `Authorization` wins when
    both headers are sent.
    """
    if authorization is not None:
        if not authorization.lower().startswith(_BEARER):
            raise HTTPException(401, "Authorization must be `Bearer <API key>`", headers=_INVALID)
        key = authorization[len(_BEARER):].strip()
        if not key:
            raise HTTPException(401, "Authorization: the API key after `Bearer` is empty", headers=_INVALID)
        account = account_for_key(services.store, key)
        if account is None:
            raise HTTPException(401, "unknown API key", headers=_INVALID)
        return account
    if x_auth_token is not None:
        return _account_from_token(services, x_auth_token)
    raise HTTPException(401, "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token",
                        headers=_CHALLENGE)


def _account_from_token(services: Services, token: str) -> str:
    secret = services.settings.jwt_secret
    if not secret:
        raise HTTPException(401, "X-Auth-Token is not accepted: CRM_DEDUP_JWT_SECRET is not configured",
                            headers=_CHALLENGE)
    try:
        # only HS256: a token may not pick its own algorithm ("none", or RS256 with our secret as a key)
        # amoCRM's tokens carry `aud`; PyJWT refuses any `aud` unless told which one to expect
        audience = services.settings.jwt_audience
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=audience, leeway=_JWT_LEEWAY_SECONDS,
                            options={"require": ["exp", "account_id"], "verify_aud": audience is not None})
    except jwt.ExpiredSignatureError:
        raise HTTPException(401, "X-Auth-Token has expired", headers=_INVALID) from None
    except jwt.ImmatureSignatureError:
        raise HTTPException(401, "X-Auth-Token is not valid yet (nbf)", headers=_INVALID) from None
    except jwt.InvalidTokenError as exc:
        raise HTTPException(401, f"X-Auth-Token is invalid: {exc}", headers=_INVALID) from None
    raw = claims["account_id"]
    # amoCRM puts the account's numeric id here; bool is an int to Python but never an id
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip():
        raise HTTPException(401, "X-Auth-Token is invalid: account_id must be a number or a string",
                            headers=_INVALID)
    account = str(raw).strip()
    if not account_exists(services.store, account):
        raise HTTPException(403, f"account {account} is not registered with this service")
    return account


AccountDep = Annotated[str, Depends(current_account)]


def entity_of(entity: Annotated[EntitySegment, Path(description="`contacts` or `companies`")]) -> Entity:
    return _ENTITY[entity]


EntityDep = Annotated[Entity, Depends(entity_of)]
