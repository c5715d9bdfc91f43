"""The reviewer's page at /ui: static HTML, JS and CSS that call the public API like any other client."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, RedirectResponse
from pydantic import BaseModel

from api.deps import ServicesDep

router = APIRouter(tags=["review page"], include_in_schema=False)

# files("api") is the installed package (editable or not): the page ships as package data (pyproject.toml)
_UI_DIR = Path(str(files("api") / "ui"))
_MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# The page loads only its own files and calls only its own API, so the policy allows nothing else: no inline
# script or style (dom.js sets styles through the CSSOM, which a policy does not block), no framing (a
# reviewer's clicks cannot be hijacked by a page that frames this one), no <base> or foreign form targets.
# `data:` images: the blank favicon in index.html.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                           "form-action 'self'")
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "X-Content-Type-Options": "nosniff",
    # the API key travels in the URL fragment, which browsers never send; no Referer at all is safer still
    "Referrer-Policy": "no-referrer",
    # the page is a handful of small files that change with the package: revalidate instead of caching stale ones
    "Cache-Control": "no-cache",
}


class PageSettings(BaseModel):
    """What the page needs to know that the API does not say elsewhere; no secrets."""

    mlflow_ui_url: str


@router.get("/ui")
def ui_root() -> RedirectResponse:
    # the page's assets and API calls are relative to /ui/, so the page lives at the slash; a relative
    # redirect keeps a path prefix a proxy may put in front
    return RedirectResponse("ui/", status_code=307, headers=PAGE_HEADERS)


@router.get("/ui/")
def ui_index() -> FileResponse:
    return _asset("index.html")


@router.get("/ui/settings.json", response_model=PageSettings)
def ui_settings(services: ServicesDep, response: Response) -> PageSettings:
    response.headers.update(PAGE_HEADERS)
    return PageSettings(mlflow_ui_url=services.settings.mlflow_ui_url)


@router.get("/ui/{name}")
def ui_asset(name: Annotated[str, PathParam(max_length=64, pattern=r"^[a-z0-9_-]+\.[a-z]+$")]) -> FileResponse:
    return _asset(name)


def _asset(name: str) -> FileResponse:
    # the pattern above allows no "/" or "..": only files lying directly in the ui directory are served
    path = _UI_DIR / name
    media_type = _MEDIA_TYPES.get(path.suffix)
    if media_type is None or not path.is_file():
        raise HTTPException(404, f"no file {name} on the review page")
    return FileResponse(path, media_type=media_type, headers=PAGE_HEADERS)
