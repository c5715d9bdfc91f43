"""Bodies of the jobs and models routers: scan requests and background jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from resolver.records import Entity


class ScanRequest(BaseModel):
    """Which entity to scan; null scans contacts and then companies."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"entity": "contact"},
                                                                              {"entity": None}]})

    entity: Entity | None = None
    incremental: bool = Field(default=False, description=(
        "score only records written since the last scan (job kind `incremental_scan`); it runs as a full "
        "scan when that cannot give the same result, and its result says why"))


class JobResult(BaseModel):
    """Counts of a finished scan (both entities added up when both were scanned)."""

    records: int
    pairs: int
    groups: int
    seconds: float


class IncrementalScanResult(JobResult):
    """Counts of a finished incremental_scan job, and whether it could be incremental."""

    mode: Literal["full", "incremental"] = Field(
        description="incremental when every entity was scanned incrementally, else full")
    fallback: str | None = Field(description="why an entity was scanned fully (no earlier scan, model changed, ...)")


class ImportResult(JobResult):
    """Counts of a finished amoCRM import: pages and records read, then the scan's counts."""

    pages: int = Field(description="pages read from amoCRM")
    pulled: int = Field(description="records read from amoCRM")


class JobOut(BaseModel):
    """A background job and how far it got."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "job_id": "6f1c2b9a0d6e4f5b8a7c3d2e1f0a9b8c", "kind": "scan", "entity": "contact", "status": "done",
        "percent": 100.0, "created_at": "2026-11-24T10:00:00Z", "finished_at": "2026-11-24T10:00:04Z",
        "result": {"records": 3000, "pairs": 410, "groups": 212, "seconds": 3.9}, "error": None,
    }]})

    job_id: str
    kind: Literal["scan", "incremental_scan", "retrain", "import"]
    entity: Entity | None
    status: Literal["queued", "running", "done", "failed"]
    percent: float = Field(ge=0, le=100)
    created_at: datetime
    finished_at: datetime | None
    result: ImportResult | IncrementalScanResult | JobResult | None = Field(union_mode="left_to_right")
    error: str | None
