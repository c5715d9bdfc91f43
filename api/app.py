"""create_app(settings) -> the FastAPI service the CRM widget calls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.responses import Response

from amocrm.client import AmoClient
from amocrm.errors import NeedsReinstall
from amocrm.sync import AmoSync
from api import errors
from api.crm_writer import amocrm_writers
from api.deps import AuthFailures, check_before_body, current_caller
from api.jobs import JobRunner
from api.limits import RequestLimits
from api.metrics import Metrics, MetricsMiddleware
from api.routers import admin, amocrm, check, feedback, groups, health, jobs, models, records, ui, widget
from api.security_headers import NoSniffMiddleware
from api.services import Services
from api.settings import Settings

DESCRIPTION = """Duplicate contacts and companies of an amoCRM account, scored with Splink.

Authenticate with `Authorization: Bearer <API key>` (from `crm-dedup accounts create NAME`) or,
from the amoCRM widget, with its one-time `X-Auth-Token`. Every error is `application/problem+json`.
"""


class _ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight answered in problem+json like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        detail = bytes(response.body).decode() + f" (origin {request_headers.get('origin')})"
        return errors.problem(response.status_code, "CORS preflight refused", detail, headers=headers)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; `settings` default to the environment (tests pass their own)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = Services.open(settings, metrics=app.state.metrics)
        app.state.services.warm_in_background()
        sync = app.state.services.amocrm = amocrm.open_sync(app.state.services)
        if sync is not None:
            # imports a stopped process left half done go on from their last stored page
            importer = app.state.jobs = JobRunner(app.state.services)
            importer.start()
            amocrm.resume_imports(sync, importer)
            sync.submit_import = importer.submit_import
            sync.submit_scan = importer.submit_incremental_scan
            if getattr(app.state, "crm_writers", None) is None:  # tests may set their own
                app.state.crm_writers = amocrm_writers(_connected_client(sync))
            sync.start()
        try:
            yield
        finally:
            if sync is not None:
                sync.stop()  # first: its worker queues imports, which would start the runner again
            # the scan runner (api/routers/jobs.py starts it on first use) writes to the store:
            # let it finish or fail its job before the store closes under it
            runner = getattr(app.state, "jobs", None)
            if runner is not None:
                runner.stop()
            app.state.services.close()

    app = FastAPI(title="crm-dedup", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.metrics = Metrics()
    app.state.auth_failures = AuthFailures(  # failed authentications per client address (api/deps.py)
        limit=settings.auth_fail_limit, window_seconds=settings.auth_fail_window_seconds,
        max_addresses=settings.auth_fail_max_addresses)
    # add_middleware wraps what is already there, so the last added runs first:
    # metrics (counts everything) -> CORS (answers preflights) -> limits (body size per route, credentials
    # before the body is read, field limits) -> routes
    app.add_middleware(RequestLimits, settings=settings, authenticate=check_before_body, marker=current_caller)
    app.add_middleware(
        _ProblemCORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_origin_regex=settings.cors_origin_regex,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=["Authorization", "X-Auth-Token", "Content-Type"],
    )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(NoSniffMiddleware)  # outermost: refusals from the layers inside get it too
    errors.install(app)
    for module in (health, widget, records, check, groups, jobs, models, feedback, admin, ui, amocrm):
        app.include_router(module.router)
    return app


def _connected_client(sync: AmoSync) -> Callable[[str], AmoClient | None]:
    """Restore (api/routers/widget.py) writes through the account's amoCRM connection; None without one."""

    def client_for(account: str) -> AmoClient | None:
        try:
            return sync.client(account)
        except NeedsReinstall:
            return None

    return client_for
