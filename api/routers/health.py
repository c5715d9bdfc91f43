"""Liveness, Prometheus metrics, and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from api.deps import AccountDep, MetricsDep, ServicesDep
from api.metrics import CONTENT_TYPE

router = APIRouter()  # tags per route: /v1/whoami belongs with accounts, not with health

_METRICS_EXAMPLE = """# HELP crm_dedup_http_requests_total HTTP requests answered, by method, route template and status.
# TYPE crm_dedup_http_requests_total counter
crm_dedup_http_requests_total{method="GET",route="/v1/groups",status="200"} 42
# HELP crm_dedup_records Live records (not deleted, not merged), all accounts.
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
    services.store.execute("SELECT 1", step="healthz")
    return {"status": "ok", "models": {e: m.version for e, m in services.models.items()}}


@router.get("/metrics", tags=["health"], response_class=PlainTextResponse,
            summary="Prometheus metrics: requests, latency, store sizes, model versions (no auth, no account data)",
            responses={200: {"content": {CONTENT_TYPE: {"example": _METRICS_EXAMPLE}}}})
def metrics(services: ServicesDep, metrics: MetricsDep) -> PlainTextResponse:
    return PlainTextResponse(metrics.render(store=services.store, models=services.models), media_type=CONTENT_TYPE)


@router.get("/v1/whoami", tags=["accounts"], summary="The account the credentials belong to",
            description="Check an API key or the widget's X-Auth-Token: 200 with the account, else 401 / 403.",
            responses={200: {"content": {"application/json": {"example": {"account_id": "acme"}}}}})
def whoami(account: AccountDep) -> dict[str, str]:
    return {"account_id": account}
