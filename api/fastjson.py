"""JSON answers of the hot endpoints, written by orjson straight from plain dicts.

FastAPI validates a returned model against `response_model` and serializes it through pydantic: for a
check that is a third of the server's own work per request. The hot routes build plain dicts of the
declared shape and answer with `json_response`; `response_model` stays on them for the OpenAPI
document, and tests compare these answers with the models (tests/api/test_check_answers.py).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def _fallback(value: Any) -> Any:
    """NumPy scalars (a re-ranker's output) as Python numbers; anything else is a bug to see."""
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(payload: Any, status_code: int = 200) -> Response:
    """`payload` as an application/json response (non-finite floats become null, as pydantic writes them)."""
    return Response(orjson.dumps(payload, default=_fallback), status_code=status_code, media_type="application/json")
