"""Liveness, Prometheus metrics, and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from api.deps import AccountDep, MetricsDep, ServicesDep, bearer_token, is_secret
from api.metrics import CONTENT_TYPE
from api.schemas import problem_responses
from api.settings import Settings

router = APIRouter()  # tags per route: /v1/whoami belongs with accounts, not with health

_METRICS_EXAMPLE = """# HELP crm_dedup_http_requests_total HTTP requests answered, by method, route template and status.
# TYPE crm_dedup_http_requests_total counter
crm_dedup_http_requests_total{method="GET",route="/v1/groups",status="200"} 42
# HELP crm_dedup_records Live records (not deleted, not merged), all accounts. (metrics token only)
# TYPE crm_dedup_records gauge
crm_dedup_records{entity="contact"} 318000
# HELP crm_dedup_model_info The model version serving each entity (always 1).
# TYPE crm_dedup_model_info gauge
crm_dedup_model_info{entity="contact",version="default-1"} 1
"""


@router.get("/healthz", tags=["health"], summary="Liveness: the store answers and the models are loaded",
            responses={200: {"content": {"application/json": {"example": {
                "status": "ok", "models": {"contact": "default-1", "company": "default-1"}}}}}})
def healthz(services: ServicesDep) -> dict[str, object]:
    services.store.ping()
    return {"status": "ok", "models": {e: m.version for e, m in services.models.items()}}


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse,
            summary="Prometheus metrics: requests, latency, model versions; store sizes with the metrics token",
            description="Without credentials: this process's requests and latency by route template and the "
                        "models serving (no account data). With `Authorization: Bearer <CRM_DEDUP_METRICS_TOKEN>` "
                        "(or the admin token) also the store's live records, groups and pairs summed over all "
                        "accounts, which no tenant may see: over time they would tell one tenant the others' "
                        "sizes. Any other credential, an account's API key included, is 401.",
            responses={200: {"content": {CONTENT_TYPE: {"example": _METRICS_EXAMPLE}}},
                       **problem_responses(e401="not the metrics token: send none for process metrics")})
def metrics(request: Request, services: ServicesDep, metrics: MetricsDep) -> PlainTextResponse:
    totals = _scraper(request.headers.get("authorization"), services.settings)
    text = metrics.render(store=services.store, models=services.models, store_totals=totals)
    return PlainTextResponse(text, media_type=CONTENT_TYPE)


def _scraper(authorization: str | None, settings: Settings) -> bool:
    """True for the operator's scraper (the metrics or the admin token), False without credentials; else 401."""
    if authorization is None:
        return False
    token = bearer_token(authorization.strip())
    # the admin token (CRM_DEDUP_ADMIN_TOKEN) may read what the scraper reads
    if token and (is_secret(token, settings.metrics_token) or is_secret(token, settings.admin_token)):
        return True
    raise HTTPException(401, "not the metrics token: /metrics takes `Authorization: Bearer <CRM_DEDUP_METRICS_TOKEN>`"
                        ", or no credentials for process metrics only",
                        headers={"WWW-Authenticate": 'Bearer realm="crm-dedup-metrics", error="invalid_token"'})


@router.get("/v1/whoami", tags=["accounts"], summary="The account the credentials belong to",
            description="Check an API key or the widget's X-Auth-Token: 200 with the account, else 401 / 403.",
            responses={200: {"content": {"application/json": {"example": {"account_id": "acme"}}}}})
def whoami(account: AccountDep) -> dict[str, str]:
    return {"account_id": account}
