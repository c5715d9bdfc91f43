"""What a route needs, as Annotated dependencies: tenant, services, entity, and the size limits of input.

The tenant check lives here and nowhere else. The limits are here too because routes and
schemas rely on them: `RequestLimits` (installed by `create_app`) refuses oversized bodies and
sets the per-request string limit that `BoundedStr` and `long_string_problems` read.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar

import jwt
from fastapi import Depends, Header, HTTPException, Path, Request
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem, status_title
from api.metrics import Metrics
from api.services import Services
from api.settings import Settings
from resolver.accounts import account_exists, account_for_key
from resolver.errors import InputProblem
from resolver.records import Entity

EntitySegment = Literal["contacts", "companies"]
_ENTITY: dict[str, Entity] = {"contacts": "contact", "companies": "company"}
_BEARER = "bearer "
# RFC 6750 §3: a 401 names the scheme; `invalid_token` when credentials were sent but are no good
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="crm-dedup"'}
_INVALID = {"WWW-Authenticate": 'Bearer realm="crm-dedup", error="invalid_token"'}
_JWT_LEEWAY_SECONDS = 5  # clock skew between amoCRM's servers and ours
_T = TypeVar("_T")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the account, and whether a widget token (and which amoCRM user) vouched for it."""

    account: str
    widget: bool = False  # authenticated by the amoCRM widget's token, not an API key
    widget_user: str | None = None  # that token's `user_id` claim, verified with it


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


def current_caller(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <API key>`")] = None,
    x_auth_token: Annotated[str | None, Header(description="amoCRM widget's one-time JWT (HS256)")] = None,
) -> Caller:
    """The caller: an account from an API key, or from the amoCRM widget's signed token (with its user).

    `Authorization` wins when both headers are sent. Failed attempts count towards the per-address
    limit (`AuthFailures`).
    """
    return guarded(request, lambda: _authenticate(services, authorization, x_auth_token),
                   presented=authorization is not None or x_auth_token is not None)


CallerDep = Annotated[Caller, Depends(current_caller)]


def current_account(caller: CallerDep) -> str:
    """The caller's account.

    Every route that reads or writes data takes this and passes it down; the store's queries
    all filter on it, so no route can reach another account's rows.
    """
    return caller.account


def _authenticate(services: Services, authorization: str | None, x_auth_token: str | None) -> Caller:
    if authorization is not None:
        if not authorization.lower().startswith(_BEARER):
            raise HTTPException(401, "Authorization must be `Bearer <API key>`", headers=_INVALID)
        key = authorization[len(_BEARER):].strip()
        if not key:
            raise HTTPException(401, "Authorization: the API key after `Bearer` is empty", headers=_INVALID)
        account = account_for_key(services.store, key)
        if account is None:
            admin = services.settings.admin_token
            if admin and hmac.compare_digest(key.encode(), admin.encode()):
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
    secret = settings.jwt_secret
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


def _account_from_token(services: Services, token: str) -> Caller:
    claims = widget_claims(services.settings, token)
    raw = claims["account_id"]
    # amoCRM puts the account's numeric id here; bool is an int to Python but never an id
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).strip():
        raise HTTPException(401, "X-Auth-Token is invalid: account_id must be a number or a string",
                            headers=_INVALID)
    account = str(raw).strip()
    if not account_exists(services.store, account):
        raise HTTPException(403, f"account {account} is not registered with this service")
    user = claims.get("user_id")
    # amoCRM sends ids as numbers; bool is an int to Python but never an id
    if isinstance(user, bool) or not isinstance(user, int | str) or not str(user).strip():
        user = None
    return Caller(account, widget=True, widget_user=None if user is None else str(user).strip())


AccountDep = Annotated[str, Depends(current_account)]


def entity_of(entity: Annotated[EntitySegment, Path(description="`contacts` or `companies`")]) -> Entity:
    return _ENTITY[entity]


EntityDep = Annotated[Entity, Depends(entity_of)]


# -- input limits ----------------------------------------------------------------------------------

_max_field_chars: ContextVar[int] = ContextVar(
    "crm_dedup_max_field_chars", default=Settings.model_fields["max_field_chars"].default)


def max_field_chars() -> int:
    """The longest string the current request may carry in one field (settings.max_field_chars)."""
    return _max_field_chars.get()


def _bounded(value: str) -> str:
    limit = _max_field_chars.get()
    if len(value) > limit:  # characters, not bytes: "Я" counts as one
        raise PydanticCustomError("string_too_long", "String should have at most {max_length} characters",
                                  {"max_length": limit})
    return value


BoundedStr = Annotated[str, AfterValidator(_bounded)]
"""A `str` for request models, no longer than settings.max_field_chars.

A longer one fails validation like any other bad field: 422 problem+json whose `errors` entry
names the field (`records.3.name`). The limit is read per request, so it follows the app's settings.
"""


def long_string_problems(value: Any, *, field: str = "", item: int | None = None,
                         max_chars: int | None = None) -> list[InputProblem]:
    """Every string (or key) in parsed JSON longer than the limit, one problem each, by dotted path.

    For free-form parts a model cannot type with `BoundedStr`, such as amoCRM's
    `custom_fields_values`. Raise `InputError(problems)` for a whole request, or reject one
    batch item with them (`item` is its index).

    Example:
        >>> long_string_problems({"values": [{"value": "x" * 20}]}, field="custom_fields_values.0",
        ...                      max_chars=10)[0].field
        'custom_fields_values.0.values.0.value'
    """
    limit = max_field_chars() if max_chars is None else max_chars
    problems: list[InputProblem] = []
    stack: list[tuple[str, Any]] = [(field, value)]
    while stack:  # iterative: nesting depth is the client's choice
        path, node = stack.pop()
        if isinstance(node, str):
            if len(node) > limit:
                problems.append(InputProblem(f"{len(node)} characters, at most {limit} allowed",
                                             field=path or None, item=item))
        elif isinstance(node, Mapping):
            for key, child in reversed(list(node.items())):
                key = str(key)
                if len(key) > limit:
                    problems.append(InputProblem(f"a key of {len(key)} characters, at most {limit} allowed",
                                                 field=path or None, item=item))
                    continue
                stack.append((f"{path}.{key}" if path else key, child))
        elif isinstance(node, list | tuple):
            stack.extend((f"{path}.{i}" if path else str(i), child) for i, child in reversed(list(enumerate(node))))
    return problems


class BodyTooLarge(HTTPException):
    """A request body over settings.max_body_bytes (RFC 9110 §15.5.14: 413 Content Too Large)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit:,} bytes")


class RequestLimits:
    """ASGI middleware: refuse bodies over `max_body_bytes`; set the string limit for this request.

    A declared Content-Length over the limit is refused before the app runs. A chunked body has
    no length, so its bytes are counted as the app reads them and reading stops with
    `BodyTooLarge` (413 problem+json) as soon as the count passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_field_chars: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_field_chars = max_field_chars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _max_field_chars.set(self.max_field_chars)
        try:
            await self._limited(scope, receive, send)
        finally:
            _max_field_chars.reset(token)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        answered = False

        async def receive_counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def send_watched(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_counted, send_watched)
        except BodyTooLarge:
            # FastAPI turns it into a 413 itself when it reads the body; this is for other readers
            if answered:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = BodyTooLarge(self.max_body_bytes)
        await problem(413, status_title(413), str(exc.detail))(scope, receive, send)
