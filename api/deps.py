"""What a route needs, as Annotated dependencies: tenant, services, entity.

The tenant check lives here and nowhere else. The limits of input live in `api.limits`:
`RequestLimits` calls `check_before_body` (this module's `current_caller`) before a body is read.

The dependencies are `async def`: FastAPI runs a plain `def` dependency on its thread pool, a hop
per dependency per request that cost more than a whole check answered from memory. The one that
may touch the store (an API key not in `Services.keys`, a widget token's account) goes to the
thread pool itself.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import jwt
from fastapi import Depends, Header, HTTPException, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from api.metrics import Metrics
from api.services import Services
from api.settings import Settings
from resolver.accounts import account_exists
from resolver.records import Entity

EntitySegment = Literal["contacts", "companies"]
_ENTITY: dict[str, Entity] = {"contacts": "contact", "companies": "company"}
_BEARER = "bearer "
# RFC 6750 §3: a 401 names the scheme; `invalid_token` when credentials were sent but are no good
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm-dedup"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="crm-dedup", error="invalid_token"'}
_JWT_LEEWAY_SECONDS = 5  # clock skew between amoCRM's servers and ours
_T = TypeVar("_T")


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the account, and whether a widget token (and which amoCRM user) vouched for it."""

    account: str
    widget: bool = False  # authenticated by the amoCRM widget's token, not an API key
    widget_user: str | None = None  # that token's `user_id` claim, verified with it
    widget_admin: bool = False  # that token's `is_admin` claim: the user is an amoCRM account administrator


class AuthFailures:
    """Failed authentications per client address in a sliding window, for `429 Too Many Requests`.

    After `limit` failures within `window_seconds` an address is refused (every credential, a good one
    too: otherwise guessing would go on) until its oldest counted failure leaves the window. Requests
    without credentials, and successful ones, are never counted. Memory is bounded: at most
    `max_addresses` addresses are tracked; a new one evicts the one that failed least recently.
    """

    def __init__(self, *, limit: int, window_seconds: float, max_addresses: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit  # 0: no limit
        self.window_seconds = window_seconds
        self.max_addresses = max_addresses
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()  # least recent failure first
        self._lock = threading.Lock()  # sync dependencies run on a thread pool

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try again; None when it may now."""
        if self.limit == 0:
            return None
        now = self.clock()
        with self._lock:
            times = self._failures.get(address)
            if times is None:
                return None
            self._expire(times, now)
            if not times:
                del self._failures[address]
                return None
            return times[0] + self.window_seconds - now if len(times) >= self.limit else None

    def failed(self, address: str) -> None:
        """Count one failed authentication from `address`."""
        if self.limit == 0:
            return
        now = self.clock()
        with self._lock:
            times = self._failures.pop(address, None) or deque(maxlen=self.limit)
            self._expire(times, now)
            times.append(now)
            self._failures[address] = times
            while len(self._failures) > self.max_addresses:
                self._failures.popitem(last=False)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window_seconds:
            times.popleft()


def bearer_token(authorization: str) -> str | None:
    """The token of `Authorization: Bearer <token>` ("" when empty), None for another scheme."""
    if not authorization.lower().startswith(_BEARER):
        return None
    return authorization[len(_BEARER):].strip()


def is_secret(given: str, expected: str | None) -> bool:
    """Whether `given` is the configured secret `expected` (never when that is unset or empty).

    Constant time: how much of a guess matched must not show in how long the answer takes.
    """
    return bool(expected) and hmac.compare_digest(given.encode(), str(expected).encode())


def client_address(request: Request) -> str:
    """The caller's address as the ASGI server reports it (behind a proxy: uvicorn's --proxy-headers)."""
    return request.client.host if request.client else "unknown"


def guarded(request: Request, authenticate: Callable[[], _T], *, presented: bool) -> _T:
    """Run `authenticate` unless the caller's address is over its failure limit; count its 401s.

    `presented`: whether credentials were sent at all (a request without any is not a guess).
    """
    failures: AuthFailures | None = getattr(request.app.state, "auth_failures", None)
    if failures is None:
        return authenticate()
    address = client_address(request)
    wait = failures.retry_after(address)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(429, f"too many failed authentications from {address}; try again in {seconds} s",
                            headers={"Retry-After": str(seconds)})
    try:
        return authenticate()
    except HTTPException as exc:
        if exc.status_code == 401 and presented:
            failures.failed(address)
        raise


async def current_caller(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <API key>`")] = None,
    x_auth_token: Annotated[str | None, Header(description="amoCRM widget's one-time JWT (HS256)")] = None,
) -> Caller:
    """The caller: an account from an API key, or from the amoCRM widget's signed token (with its user).

    `Authorization` wins when both headers are sent. Failed attempts count towards the per-address
    limit (`AuthFailures`).
    """
    prechecked = getattr(request.state, "caller", None)  # RequestLimits verified it before the body
    if isinstance(prechecked, Caller):
        return prechecked
    key = bearer_token(authorization) if authorization is not None else None
    account = services.keys.cached(key) if key else None
    if account is not None:  # a key looked up lately: no store query, so no thread hop either
        return guarded(request, lambda: Caller(account), presented=True)
    if authorization is None and x_auth_token is not None:  # the widget's token: its account seen lately?
        caller = guarded(request, lambda: _known_widget_caller(services, x_auth_token), presented=True)
        if caller is not None:
            return caller
    return await run_in_threadpool(guarded, request, lambda: _authenticate(services, authorization, x_auth_token),
                                   presented=authorization is not None or x_auth_token is not None)


CallerDep = Annotated[Caller, Depends(current_caller)]


async def check_before_body(scope: Scope, services: Services, authorization: str | None,
                            x_auth_token: str | None) -> None:
    """`current_caller` for `RequestLimits`, which checks credentials before a body byte is read.

    The same checks and the same failure count; the caller is kept in the request's state, so the
    route's dependency does not look the key up (or decode the token) a second time.
    """
    request = Request(scope)
    request.state.caller = await current_caller(request, services, authorization, x_auth_token)


async def current_account(caller: CallerDep) -> str:
    """The caller's account.

    Every route that reads or writes data takes this and passes it down; the store's queries
    all filter on it, so no route can reach another account's rows.
    """
    return caller.account


def _authenticate(services: Services, authorization: str | None, x_auth_token: str | None) -> Caller:
    if authorization is not None:
        key = bearer_token(authorization)
        if key is None:
            raise HTTPException(401, "Authorization must be `Bearer <API key>`", headers=_INVALID)
        if not key:
            raise HTTPException(401, "Authorization: the API key after `Bearer` is empty", headers=_INVALID)
        account = services.keys.account(services.store, key)
        if account is None:
            if is_secret(key, services.settings.admin_token):
                # the admin token manages accounts and keys; it never reads or writes an account's data
                raise HTTPException(401, "the admin token opens /v1/admin only; send an account's API key",
                                    headers=_INVALID)
            raise HTTPException(401, "unknown API key", headers=_INVALID)
        return Caller(account)
    if x_auth_token is not None:
        return _account_from_token(services, x_auth_token)
    raise HTTPException(401, "send `Authorization: Bearer <API key>` or the widget's X-Auth-Token",
                        headers=_CHALLENGE)


def widget_claims(settings: Settings, token: str) -> dict[str, Any]:
    """The verified claims of a widget token, or HTTPException 401 saying what is wrong with it.

    The one place a token is decoded: signature (HS256 only), `exp`, `nbf`, `iat` not in the future,
    `aud` when CRM_DEDUP_JWT_AUDIENCE is set, and a lifetime of at most jwt_max_lifetime_seconds.
    """
    secret = settings.widget_secret  # CRM_DEDUP_JWT_SECRET, else the amoCRM integration's secret
    if not secret:
        raise HTTPException(401, "X-Auth-Token is not accepted: CRM_DEDUP_JWT_SECRET is not configured",
                            headers=_CHALLENGE)
    try:
        # only HS256: a token may not pick its own algorithm ("none", or RS256 with our secret as a key)
        # amoCRM's tokens carry `aud`; PyJWT refuses any `aud` unless told which one to expect
        audience = settings.jwt_audience
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=["HS256"], audience=audience, leeway=_JWT_LEEWAY_SECONDS,
            options={"require": ["exp", "account_id"], "verify_aud": audience is not None})
    except jwt.ExpiredSignatureError:
        raise HTTPException(401, "X-Auth-Token has expired", headers=_INVALID) from None
    except jwt.ImmatureSignatureError as exc:
        detail = ("X-Auth-Token is not valid yet: issued in the future (iat)" if "(iat)" in str(exc)
                  else "X-Auth-Token is not valid yet (nbf)")
        raise HTTPException(401, detail, headers=_INVALID) from None
    except jwt.InvalidTokenError as exc:
        raise HTTPException(401, f"X-Auth-Token is invalid: {exc}", headers=_INVALID) from None
    # a long-lived token is a password that cannot be revoked: the widget's are minutes long
    start = int(claims["iat"]) if "iat" in claims else int(time.time())
    lifetime = int(claims["exp"]) - start
    longest = settings.jwt_max_lifetime_seconds
    if lifetime > longest + _JWT_LEEWAY_SECONDS:
        raise HTTPException(401, f"X-Auth-Token lifetime too long: valid for {lifetime} s, at most {longest} s "
                            "allowed", headers=_INVALID)
    return claims


def _widget_caller(services: Services, token: str) -> Caller:
    """The caller a widget token names (verified; whether its account exists is the caller's to check)."""
    claims = widget_claims(services.settings, token)
    raw = claims["account_id"]
    # amoCRM puts the account's numeric id here; bool is an int to Python but never an id
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip():
        raise HTTPException(401, "X-Auth-Token is invalid: account_id must be a number or a string",
                            headers=_INVALID)
    user = claims.get("user_id")
    # amoCRM sends ids as numbers; bool is an int to Python but never an id
    if isinstance(user, bool) or not isinstance(user, int | str) or not str(user).strip():
        user = None
    return Caller(str(raw).strip(), widget=True, widget_user=None if user is None else str(user).strip(),
                  widget_admin=claims.get("is_admin") is True)


def _known_widget_caller(services: Services, token: str) -> Caller | None:
    """`_widget_caller` when its account was seen to exist lately (no store query), else None."""
    caller = _widget_caller(services, token)
    return caller if services.known_account(caller.account) else None


def _account_from_token(services: Services, token: str) -> Caller:
    caller = _widget_caller(services, token)
    if not services.known_account(caller.account):
        if not account_exists(services.store, caller.account):
            raise HTTPException(403, f"account {caller.account} is not registered with this service")
        services.note_account(caller.account)
    return caller


AccountDep = Annotated[str, Depends(current_account)]


async def entity_of(entity: Annotated[EntitySegment, Path(description="`contacts` or `companies`")]) -> Entity:
    return _ENTITY[entity]


EntityDep = Annotated[Entity, Depends(entity_of)]
