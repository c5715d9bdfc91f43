"""Liveness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the store answers and the models are loaded")
def healthz(services: ServicesDep) -> dict[str, object]:
    services.store.execute("SELECT 1", step="healthz")
    return {"status": "ok", "models": {e: m.version for e, m in services.models.items()}}
