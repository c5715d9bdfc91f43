"""Every error the API returns, as RFC 9457 problem+json; stack traces go to the log, never out."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, TypedDict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from amocrm.errors import AmoError
from resolver.errors import Conflict, CrmDedupError, InputError, ModelError, NotFound, StoreError

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_STATUS: dict[type[CrmDedupError], tuple[int, str]] = {
    InputError: (422, "Invalid input"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    ModelError: (503, "Model unavailable"),
    StoreError: (503, "Store unavailable"),
    AmoError: (502, "amoCRM error"),  # amoCRM refused or failed a call made for this request
}


class ProblemEntry(TypedDict):
    """One entry of a problem's `errors`: the batch item at fault (if any), the field, and why."""

    index: int | None
    field: str | None
    reason: str


def problem(status: int, title: str, detail: str, *, errors: list[ProblemEntry] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json response (RFC 9457: type, title, status, detail, plus `errors` for batches)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(loc: tuple[Any, ...]) -> tuple[int | None, str]:
    """(index, field) of a pydantic error location: ("body", "records", 3, "name") -> (3, "records.3.name").

    The index is the first list position on the path: the batch item at fault.
    """
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else loc)
    index = next((p for p in parts if isinstance(p, int)), None)
    return index, ".".join(str(p) for p in parts) or "body"


_UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's detail (fastapi.routing)
_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
           405: "Method not allowed", 413: "Content too large", 422: "Invalid input", 500: "Internal error"}


def status_title(status: int) -> str:
    """The problem `title` of an HTTP status, the same on every Python version."""
    if status in _TITLES:
        return _TITLES[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into problem+json."""

    @app.exception_handler(CrmDedupError)
    async def _domain(_: Request, exc: CrmDedupError) -> JSONResponse:
        status, title = next((v for k, v in _STATUS.items() if isinstance(exc, k)), (500, "Internal error"))
        if isinstance(exc, InputError):
            errors = [ProblemEntry(index=p.item, field=p.field, reason=p.reason) for p in exc.problems]
            return problem(status, title, str(exc), errors=errors)
        if status >= 500:
            logger.error("%s", exc, exc_info=exc)
        return problem(status, title, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[ProblemEntry] = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":  # its loc is ("body", character offset), not a field
                reason = f"not valid JSON: {err.get('ctx', {}).get('error', 'decode error')}"
                errors.append(ProblemEntry(index=None, field="body", reason=reason))
                continue
            index, field = _loc(tuple(err.get("loc", ())))
            errors.append(ProblemEntry(index=index, field=field, reason=err.get("msg", "invalid")))
        first = errors[0] if errors else ProblemEntry(index=None, field="body", reason="invalid")
        return problem(422, "Invalid input", f"{first['field']}: {first['reason']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = str(exc.detail)
        if exc.status_code == 400 and detail == _UNPARSABLE_BODY:
            # FastAPI's answer to a JSON body it cannot even decode (not UTF-8): the same 422 as
            # malformed JSON, with the decoder's reason instead of a sentence that names none
            reason = f"not valid JSON: {exc.__cause__}" if exc.__cause__ else "not valid JSON"
            return problem(422, "Invalid input", f"body: {reason}",
                           errors=[ProblemEntry(index=None, field="body", reason=reason)])
        if exc.status_code == 404 and detail == "Not Found":  # the router's own, with nothing to say
            detail = f"no such path: {request.url.path}"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem(exc.status_code, status_title(exc.status_code), detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal error", "the server failed to answer; the error is logged")
