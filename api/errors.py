"""Every error the API returns, as RFC 9457 problem+json; stack traces go to the log, never out."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from resolver.errors import Conflict, CrmDedupError, InputError, ModelError, NotFound, StoreError

logger = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
_STATUS: dict[type[CrmDedupError], tuple[int, str]] = {
    InputError: (422, "Invalid input"),
    NotFound: (404, "Not found"),
    Conflict: (409, "Conflict"),
    ModelError: (503, "Model unavailable"),
    StoreError: (503, "Store unavailable"),
}


def problem(status: int, title: str, detail: str, *, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    """A problem+json response (RFC 9457: type, title, status, detail, plus `errors` for batches)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _loc(loc: tuple[Any, ...]) -> tuple[int | None, str]:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    index = next((p for p in parts if isinstance(p, int)), None)
    return index, ".".join(str(p) for p in parts if not isinstance(p, int)) or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into problem+json."""

    @app.exception_handler(CrmDedupError)
    async def _domain(_: Request, exc: CrmDedupError) -> JSONResponse:
        status, title = next((v for k, v in _STATUS.items() if isinstance(exc, k)), (500, "Internal error"))
        if isinstance(exc, InputError):
            errors = [{"index": p.item, "field": p.field, "reason": p.reason} for p in exc.problems]
            return problem(status, title, str(exc), errors=errors)
        if status >= 500:
            logger.error("%s", exc, exc_info=exc)
        return problem(status, title, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            index, field = _loc(tuple(err.get("loc", ())))
            errors.append({"index": index, "field": field, "reason": err.get("msg", "invalid")})
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        return problem(422, "Invalid input", f"{first['field']}: {first['reason']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
                  413: "Request too large"}
        return problem(exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail),
                       headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return problem(500, "Internal error", "the server failed to answer; the error is logged")
