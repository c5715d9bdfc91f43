"""create_app(settings) -> the FastAPI service the CRM widget calls."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api import errors
from api.routers import check, groups, health, jobs, records
from api.services import Services
from api.settings import Settings

DESCRIPTION = """Duplicate contacts and companies of an amoCRM account, scored with Splink.

Authenticate with `Authorization: Bearer <API key>` (from `crm-dedup accounts create NAME`) or,
from the amoCRM widget, with its one-time `X-Auth-Token`. Every error is `application/problem+json`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` default to the environment (tests pass their own)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services.open(settings)
        try:
            yield
        finally:
            app.state.services.close()

    app = FastAPI(title="crm-dedup", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=settings.cors_origin_regex,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "X-Auth-Token", "Content-Type"],
    )
    errors.install(app)
    for module in (health, records, check, groups, jobs):
        app.include_router(module.router)
    return app
