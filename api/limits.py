"""Limits on what one request may carry, applied where the input arrives.

- `RequestLimits`, the ASGI middleware `create_app` installs: a body over its route's limit is
  refused with 413 as soon as its declared length or its counted bytes pass it (a batch route may
  carry `max_body_bytes`, any other route `max_record_body_bytes`); a route that needs an account
  has its credentials checked before a byte of the body is read; and it sets this request's
  field limits, which the two checks below read.
- `BoundedStr` (and the validators `bounded`, `storable`): for request models. A string over `max_field_chars`,
  or one the store cannot hold (a lone UTF-16 surrogate) or that is no text (NUL), fails
  validation like any other bad field: 422 naming it, or one rejected batch item.
- `value_problems`: the same checks over free-form JSON (an amoCRM object, a whole record body),
  plus lists and objects over `max_list_items` and nesting deeper than `MAX_DEPTH`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Annotated, Any

from fastapi import HTTPException
from fastapi.routing import APIRoute
from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import problem, status_title
from api.settings import Settings
from resolver.errors import InputProblem

__all__ = [
    "BATCH_PATHS", "BOUNDED_STR_SCHEMA", "MAX_DEPTH", "VALUES_PER_RECORD", "BodyTooLarge", "BoundedStr",
    "RequestLimits", "bounded", "max_field_chars", "max_list_items", "storable", "text_problem",
    "value_problems",
]

logger = logging.getLogger(__name__)

# Paths whose POST body is a list of items (up to max_batch of them): they may carry max_body_bytes.
# Every other route carries one record, one check or one decision: max_record_body_bytes.
# amoCRM webhooks batch many entities in one form body; amocrm/webhooks.py caps them at its own limit (2 MB)
BATCH_PATHS = re.compile(r"/v1/(contacts|companies)(:batch|/check:batch)|/v1/feedback|/amocrm/webhooks/.*")
# Parsing JSON holds the interpreter (no other request is served meanwhile): 48 MB of `0,0,0,…` took
# 5 s. A batch body's values are counted as its bytes arrive (commas and opening brackets, a cheap
# upper bound) and the body is refused once they pass max_batch * VALUES_PER_RECORD: a real amoCRM
# contact has 30 to 150, so a 10,000-record batch parses in well under a second.
VALUES_PER_RECORD = 300
MAX_DEPTH = 32  # an amoCRM object nests 4 deep; deeper is no record, and deep trees cost every reader
_MAX_PROBLEMS = 20  # per value: enough to fix a record in one pass, not a million entries for a hostile one

# -- field limits of the current request ----------------------------------------------------------

_field_chars: ContextVar[int] = ContextVar(
    "crm_dedup_max_field_chars", default=Settings.model_fields["max_field_chars"].default)
_list_items: ContextVar[int] = ContextVar(
    "crm_dedup_max_list_items", default=Settings.model_fields["max_list_items"].default)


def max_field_chars() -> int:
    """The longest string the current request may carry in one field (settings.max_field_chars)."""
    return _field_chars.get()


def max_list_items() -> int:
    """The longest list or object inside one record of the current request (settings.max_list_items)."""
    return _list_items.get()


# U+D800..U+DFFF only ever come in pairs in UTF-16; JSON's \ud800 escape can still carry one alone,
# and UTF-8 (so DuckDB) cannot encode it
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text (a NUL, a lone surrogate), or None. Linear time."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    char, at = found.group(), found.start()
    if char == "\x00":
        return f"a NUL character (U+0000) at character {at}: not text"
    return f"a lone surrogate U+{ord(char):04X} at character {at}: not Unicode text (surrogates come in pairs)"


def storable(value: str) -> str:
    """A pydantic validator: `value` if it is storable text (`text_problem`), else a validation error."""
    reason = text_problem(value)
    if reason is not None:
        raise PydanticCustomError("string_unstorable", reason)
    return value


def bounded(value: str) -> str:
    """A pydantic validator: `value` if it is storable and at most max_field_chars long."""
    limit = _field_chars.get()
    if len(value) > limit:  # characters, not bytes: "Я" counts as one
        raise PydanticCustomError("string_too_long", "String should have at most {max_length} characters",
                                  {"max_length": limit})
    return storable(value)


# what OpenAPI shows: the default limit (a server may set another, and says so in its 422)
BOUNDED_STR_SCHEMA: dict[str, Any] = {"type": "string", "maxLength": _field_chars.get()}
BoundedStr = Annotated[str, AfterValidator(bounded), WithJsonSchema(BOUNDED_STR_SCHEMA)]
"""A `str` for request models, no longer than settings.max_field_chars, and storable.

A longer one fails validation like any other bad field: 422 problem+json whose `errors` entry
names the field (`records.3.name`). The limit is read per request, so it follows the app's settings.
"""


def value_problems(value: Any, *, field: str = "", item: int | None = None, max_chars: int | None = None,
                   max_items: int | None = None, brackets: bool = False) -> list[InputProblem]:
    """Every string, key or number in parsed JSON that is too long or not storable text, every list or
    object with too many entries, and nesting deeper than MAX_DEPTH; one problem each, by path.

    For free-form parts a model cannot type (amoCRM's `custom_fields_values`, a whole record body).
    `item` is a batch item's index; `brackets` writes list positions as `phones[1]` (the record
    paths' style) instead of `phones.1`. At most 20 problems are listed. Time is linear in the value.

    Example:
        >>> [str(p) for p in value_problems({"values": [{"value": "x" * 20}]}, field="cf", max_chars=10)]
        ['field cf.values.0.value: 20 characters, at most 10 allowed']
    """
    limit = max_field_chars() if max_chars is None else max_chars
    most = max_list_items() if max_items is None else max_items
    too_many_digits = 10 ** limit
    problems: list[InputProblem] = []

    def add(reason: str, path: str) -> None:
        problems.append(InputProblem(reason, field=path or None, item=item))

    stack: list[tuple[str, Any, int]] = [(field, value, 0)]
    while stack and len(problems) < _MAX_PROBLEMS:  # iterative: nesting depth is the client's choice
        path, node, depth = stack.pop()
        if isinstance(node, str):
            if len(node) > limit:
                add(f"{len(node)} characters, at most {limit} allowed", path)
            elif (reason := text_problem(node)) is not None:
                add(reason, path)
        elif isinstance(node, int) and not isinstance(node, bool):
            if abs(node) >= too_many_digits:  # a number field read as text (phones, ids) is a string too
                add(f"a number of more than {limit} digits", path)
        elif isinstance(node, Mapping | list | tuple):
            if depth >= MAX_DEPTH:
                add(f"nested more than {MAX_DEPTH} levels deep", path)
            elif len(node) > most:
                add(f"{len(node)} entries, at most {most} allowed", path)
            elif isinstance(node, Mapping):
                for key, child in reversed(list(node.items())):
                    key = str(key)
                    if len(key) > limit:
                        add(f"a key of {len(key)} characters, at most {limit} allowed", path)
                    elif (reason := text_problem(key)) is not None:
                        add(f"a key with {reason}", path)
                    else:
                        stack.append((f"{path}.{key}" if path else key, child, depth + 1))
            else:
                step = "{}[{}]" if brackets else "{}.{}"
                stack.extend((step.format(path, i) if path else str(i), child, depth + 1)
                             for i, child in reversed(list(enumerate(node))))
    return problems[:_MAX_PROBLEMS]


# -- bodies and credentials --------------------------------------------------------------------------

class BodyTooLarge(HTTPException):
    """A request body over its route's limit (RFC 9110 §15.5.14: 413 Content Too Large)."""

    def __init__(self, limit: int, detail: str | None = None) -> None:
        super().__init__(413, detail or f"the request body is larger than the limit of {limit:,} bytes")


def _too_many_values(budget: int) -> BodyTooLarge:
    return BodyTooLarge(budget, f"the request body holds more than {budget:,} JSON values (at most "
                                f"{VALUES_PER_RECORD} a record on average)")


class RequestLimits:
    """ASGI middleware: per-route body limits, credentials before the body, this request's field limits.

    1. The limit is the route's: `max_body_bytes` for a batch route (BATCH_PATHS), else
       `max_record_body_bytes`. A declared Content-Length over it is refused with 413 before the
       app runs; a chunked body is counted as it is read, and reading stops with 413 once it passes.
       A batch body also stops with 413 once it holds more than max_batch * VALUES_PER_RECORD values.
    2. When the app first asks for a body byte, the router has picked the route. If that route
       takes `marker` (the credentials dependency), the credentials are checked then, before the byte is
       read (`authenticate` is a coroutine: a store lookup runs on a worker thread), and a refusal (401 / 403
       problem+json with its WWW-Authenticate) leaves the body unread. `authenticate` keeps the
       verified caller in the request's state, where the route's own dependency finds it.
    """

    def __init__(self, app: ASGIApp, *, settings: Settings,
                 authenticate: Callable[..., Awaitable[object]] | None = None,
                 marker: Callable[..., Any] | None = None) -> None:
        self.app = app
        self.batch_limit = settings.max_body_bytes
        self.batch_values = settings.max_batch * VALUES_PER_RECORD
        self.record_limit = min(settings.max_record_body_bytes, settings.max_body_bytes)
        self.max_field_chars = settings.max_field_chars
        self.max_list_items = settings.max_list_items
        self.authenticate = authenticate
        self.marker = marker or authenticate  # the dependency that tells a route needs credentials
        self._needs_account: dict[int, bool] = {}  # by id(route): routes live as long as the app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chars, items = _field_chars.set(self.max_field_chars), _list_items.set(self.max_list_items)
        try:
            await self._limited(scope, receive, send)
        finally:
            _field_chars.reset(chars)
            _list_items.reset(items)

    def body_limit(self, method: str, path: str) -> tuple[int, int | None]:
        """The largest body `method path` may carry, in bytes and (for a batch) in JSON values."""
        if method == "POST" and BATCH_PATHS.fullmatch(path):
            return self.batch_limit, self.batch_values
        return self.record_limit, None  # 64 KB hold too few values to matter

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, budget = self.body_limit(scope["method"], scope["path"])
        values = 0
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(BodyTooLarge(limit), scope, receive, send)
            return
        has_body = (declared.isdigit() and int(declared) > 0) or "transfer-encoding" in headers
        received = 0
        checked = not has_body
        answered = False

        async def receive_checked() -> Message:
            nonlocal received, checked, values
            if not checked:
                checked = True
                await self._check_credentials(scope, headers)  # raises the refusal; the body stays unread
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if received > limit:
                    raise BodyTooLarge(limit)
                if budget is not None:  # an upper bound: separators inside strings count too
                    values += body.count(b",") + body.count(b"[") + body.count(b"{")
                    if values > budget:
                        raise _too_many_values(budget)
            return message

        async def send_watched(message: Message) -> None:
            nonlocal answered
            answered = answered or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_checked, send_watched)
        except HTTPException as exc:
            # FastAPI answers these itself when it reads the body; this is for other readers
            if answered or not isinstance(exc, BodyTooLarge):
                raise
            await _refuse(exc, scope, receive, send)

    async def _check_credentials(self, scope: Scope, headers: Headers) -> None:
        """Raise the refusal the route's account dependency would give, without touching the body."""
        route = scope.get("route")  # set by the router before the route runs
        if self.authenticate is None or not isinstance(route, APIRoute) or not self._route_needs_account(route):
            return
        services = scope["app"].state.services
        try:
            # a coroutine: it answers a cached key on the event loop and takes the store to a thread itself
            await self.authenticate(scope, services, headers.get("authorization"), headers.get("x-auth-token"))
        except HTTPException:
            raise
        except Exception as exc:  # not a refusal: the route's dependency meets it again and reports it
            logger.warning("credentials could not be checked before the body of %s %s: %r", scope["method"],
                           scope["path"], exc)
            return

    def _route_needs_account(self, route: APIRoute) -> bool:
        needs = self._needs_account.get(id(route))
        if needs is None:
            needs = self._needs_account[id(route)] = _depends_on(route, self.marker)
        return needs


def _depends_on(route: APIRoute, call: Callable[..., Any] | None) -> bool:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if dependant.call is call:
            return True
        stack.extend(dependant.dependencies)
    return False


async def _refuse(exc: HTTPException, scope: Scope, receive: Receive, send: Send) -> None:
    await problem(exc.status_code, status_title(exc.status_code), str(exc.detail),
                  headers=getattr(exc, "headers", None))(scope, receive, send)
