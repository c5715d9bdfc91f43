"""The amoCRM connection's routes: the OAuth redirect, the webhook receiver, the disable hook, the status.

The first three are called by amoCRM itself, so they carry no API key: the redirect is proven by its
one-time code, a webhook by the unguessable secret in its URL, the disable hook by its signature. The
work is in `amocrm/sync.py`; these routes parse, call and shape.
"""

from __future__ import annotations

import html
import logging
import re
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from amocrm.errors import AmoError
from amocrm.oauth import OAuthApp
from amocrm.sync import AmoSync, SyncSettings
from amocrm.webhooks import MAX_BODY_BYTES
from api.deps import AccountDep, ServicesDep
from api.jobs import JobRunner
from api.limits import BodyTooLarge
from api.routers.jobs import job_runner
from api.schemas import problem_responses
from api.services import Services
from resolver.errors import InputError, NotFound
from resolver.records import Entity
from resolver.store.amocrm import amo_store

logger = logging.getLogger(__name__)

router = APIRouter(tags=["amocrm"])

_NOT_CONFIGURED = "the amoCRM connection is not configured (CRM_DEDUP_AMOCRM_CLIENT_ID, _CLIENT_SECRET, " \
                  "_REDIRECT_URI, CRM_DEDUP_PUBLIC_URL, CRM_DEDUP_SECRET_KEY)"


_WEBHOOK_PATH = re.compile(r"(/amocrm/webhooks/[^/?\s]*/)[^/?\s]+")


class HideWebhookSecrets(logging.Filter):
    """Access log lines show `/amocrm/webhooks/ACCOUNT/***`: the secret in the URL is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "/amocrm/webhooks/" in a
                                                  for a in record.args):
            record.args = tuple(_WEBHOOK_PATH.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        return True


def hide_webhook_secrets() -> None:
    """Install the filter on uvicorn's access log (once per process)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, HideWebhookSecrets) for f in access.filters):
        access.addFilter(HideWebhookSecrets())


def open_sync(services: Services) -> AmoSync | None:
    """The process's AmoSync when the settings configure amoCRM, else None; duplicates come from the checker."""
    s = services.settings
    if not s.amocrm_enabled:
        return None
    hide_webhook_secrets()
    assert s.amocrm_client_id and s.amocrm_client_secret and s.amocrm_redirect_uri and s.public_url and s.secret_key

    def duplicates(account_id: str, entity: Entity, record_id: str) -> list[tuple[str, float]] | None:
        checker = services.checker
        if checker is None:
            return None
        # the account's champion and its review threshold, as the widget's /duplicates answers
        found = checker.duplicates_of(account_id, entity, record_id, model=services.model_for(account_id, entity))
        return None if found is None else [(m.record_id, m.match_probability) for m in found]

    settings = SyncSettings(
        app=OAuthApp(s.amocrm_client_id, s.amocrm_client_secret, s.amocrm_redirect_uri), public_url=s.public_url,
        secret_key=s.secret_key, base_url=s.amocrm_base_url, tag=s.amocrm_tag, write_back=s.amocrm_write_back,
        catchup_seconds=s.amocrm_catchup_seconds, rate=s.amocrm_rate, import_slice_pages=s.amocrm_import_slice_pages,
        max_retries=s.amocrm_max_retries, backoff_seconds=s.amocrm_backoff_seconds)
    return AmoSync(amo_store(services.store), settings, duplicates=duplicates)


def resume_imports(sync: AmoSync, runner: JobRunner) -> int:
    """At start: queue the import of every connected account whose import has pages left (a crash or a
    restart stopped it); it goes on from the last page stored. Returns how many were queued."""
    queued = 0
    for account_id in sync.store.amocrm_accounts():
        if sync.import_pending(account_id):
            runner.submit_import(account_id)
            queued += 1
    return queued


def _sync(services: Services) -> AmoSync:
    if services.amocrm is None:
        raise NotFound(_NOT_CONFIGURED)
    return services.amocrm


_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>crm-dedup</title></head>
<body>
<h1>{title_ru}</h1><p>{text_ru}</p>
<h1 lang="en">{title_en}</h1><p lang="en">{text_en}</p>
<p><a href="{link}">{link_text}</a></p>
</body></html>
"""
_PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'", "Cache-Control": "no-store",
                 "Referrer-Policy": "no-referrer"}


def _page(status: int, *, title_ru: str, text_ru: str, title_en: str, text_en: str, link: str) -> HTMLResponse:
    page = _PAGE.format(title_ru=html.escape(title_ru), text_ru=html.escape(text_ru), title_en=html.escape(title_en),
                        text_en=html.escape(text_en), link=html.escape(link, quote=True),
                        link_text="Страница проверки дублей / review page")
    return HTMLResponse(page, status_code=status, headers=_PAGE_HEADERS)


@router.get(
    "/amocrm/oauth/callback", response_class=HTMLResponse,
    summary="amoCRM's redirect after a user allows the integration: connect the account and start its import",
    description="Exchanges the code, reads the account, creates (or reconnects) the crm-dedup account named by "
                "amoCRM's account id, subscribes the webhooks and queues the initial import. Answers a short "
                "ru/en page linking to the review page.",
    responses={400: {"description": "the code was refused or the referer is not an amoCRM host"}},
)
def oauth_callback(
    request: Request, services: ServicesDep,
    code: Annotated[str, Query(min_length=1, max_length=2000)],
    referer: Annotated[str, Query(min_length=1, max_length=200, description="SUBDOMAIN.amocrm.ru")],
    state: Annotated[str | None, Query(max_length=500)] = None,
    client_id: Annotated[str | None, Query(max_length=200)] = None,
    from_widget: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    sync = _sync(services)
    review = f"{services.settings.public_url}/ui/"
    if client_id is not None and client_id != sync.settings.app.client_id:
        raise InputError.one("client_id is not this integration's", field="client_id")
    try:
        installed = sync.install(code, referer)
    except AmoError as exc:
        logger.warning("amoCRM install from %r failed: %s", referer[:100], exc)
        return _page(400, title_ru="Не удалось подключить amoCRM", title_en="amoCRM could not be connected",
                     text_ru=f"amoCRM отклонил подключение: {exc}. Установите интеграцию ещё раз.",
                     text_en=f"amoCRM refused the connection: {exc}. Install the integration again.", link=review)
    job, _ = job_runner(request, services).submit_import(installed.account_id)
    return _page(200, title_ru="amoCRM подключён", title_en="amoCRM is connected",
                 text_ru=f"Аккаунт {installed.subdomain} ({installed.account_id}) подключён: контакты и компании "
                         "загружаются, новые дубли будут помечены тегом.",
                 text_en=f"Account {installed.subdomain} ({installed.account_id}) is connected: contacts and "
                         f"companies are being imported (job {job['job_id']}); new duplicates will be tagged.",
                 link=review)


class WebhookAccepted(BaseModel):
    events: int = Field(description="record events in the delivery, queued")


async def _body(request: Request) -> bytes:
    """The body, refused once it passes the parser's limit (amoCRM's deliveries are far smaller)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge(MAX_BODY_BYTES, f"webhook body larger than {MAX_BODY_BYTES:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/amocrm/webhooks/{account_id}/{secret}", response_model=WebhookAccepted,
    summary="amoCRM's webhook (form-encoded): queued at once, handled by the sync worker",
    responses=problem_responses(e404="no such webhook", e422="webhook body names no account"),
)
async def webhook(request: Request, services: ServicesDep,
                  account_id: Annotated[str, Path(max_length=20)],
                  secret: Annotated[str, Path(max_length=100)]) -> WebhookAccepted:
    sync = _sync(services)
    body = await _body(request)
    # the check reads the store: off the event loop, as sync routes run
    from starlette.concurrency import run_in_threadpool

    return WebhookAccepted(events=await run_in_threadpool(sync.receive, account_id, secret, body))


@router.get(
    "/amocrm/disable", summary="amoCRM's hook when a user switches the integration off: tokens deleted, sync stops",
    responses=problem_responses(e404="no such amoCRM installation"),
)
def disable(services: ServicesDep, account_id: Annotated[str, Query(max_length=20)],
            signature: Annotated[str, Query(max_length=128)],
            client_uuid: Annotated[str, Query(max_length=64)] = "") -> dict[str, str]:
    _sync(services).disable(account_id, client_uuid, signature)
    return {"status": "uninstalled"}


class ImportOut(BaseModel):
    pages_done: int
    pages_estimated: int = Field(description="amoCRM lists carry no total: done plus one while pages are left")
    records: int
    finished: bool


class AmoStatusOut(BaseModel):
    """The account's amoCRM connection as an operator sees it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "account_id": "29000000", "subdomain": "acme", "status": "connected", "reason": None, "region": "RU",
        "write_back": True, "tag": "дубль", "installed_at": "2026-12-05T10:00:00Z",
        "status_at": "2026-12-05T10:00:00Z", "last_webhook_at": "2026-12-05T10:05:00Z",
        "last_catchup_at": "2026-12-05T10:04:00Z", "records_pulled": 2500,
        "import": {"pages_done": 12, "pages_estimated": 12, "records": 2500, "finished": True},
        "pending_write_backs": 0, "queued_events": 0}]})

    account_id: str
    subdomain: str
    status: str = Field(description="connected | needs_reinstall | uninstalled")
    reason: str | None
    region: str = Field(description="default phone region, from the account's country")
    write_back: bool
    tag: str
    installed_at: datetime
    status_at: datetime
    last_webhook_at: datetime | None
    last_catchup_at: datetime | None
    records_pulled: int
    import_: ImportOut = Field(alias="import")
    pending_write_backs: int
    queued_events: int


class AmoSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    write_back: bool | None = None
    tag: str | None = Field(default=None, min_length=1, max_length=50)


@router.get(
    "/v1/amocrm/status", response_model=AmoStatusOut, response_model_by_alias=True,
    summary="The account's amoCRM connection: connected or needs re-install, last webhook and catch-up, counts",
    responses=problem_responses(e404="account 29000000 has no amoCRM connection"),
)
def status(account: AccountDep, services: ServicesDep) -> AmoStatusOut:
    return AmoStatusOut.model_validate(_sync(services).status(account))


@router.put(
    "/v1/amocrm/settings", response_model=AmoStatusOut, response_model_by_alias=True,
    summary="Turn the account's write-back (tag + note in amoCRM) on or off, or change its tag",
    responses=problem_responses(e404="account 29000000 has no amoCRM connection", e422="tag: too long"),
)
def put_settings(account: AccountDep, services: ServicesDep, body: Annotated[AmoSettingsIn, Body()]) -> AmoStatusOut:
    sync = _sync(services)
    sync.status(account)  # NotFound before anything is written
    tag = body.tag.strip() if body.tag is not None else None
    if tag is not None and (not tag or not tag.isprintable()):
        raise InputError.one("a tag is 1-50 printable characters", field="tag")
    sync.store.set_amocrm_write_back(account, enabled=body.write_back, tag=tag)
    return AmoStatusOut.model_validate(sync.status(account))
