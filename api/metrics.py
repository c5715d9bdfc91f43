"""Prometheus metrics of one API process: requests by route template, latency, store sizes, models.

Refused champions (api/services.py) are counted by entity and a fixed reason, never by account.

Written out in the text exposition format 0.0.4
(https://prometheus.io/docs/instrumenting/exposition_formats/) by hand: four metric families
do not need a client library. Each uvicorn worker keeps its own counters; Prometheus sums
the workers' series. Nothing here carries an account's name or data: routes are templates
(`/v1/groups/{group_id}`, never the id) and store sizes are summed over accounts.

Store sizes are written only for the operator's scraper (`render(store_totals=True)`, which the
route allows for the metrics or admin token): watched over time, the totals would let one tenant
infer the size and growth of the others (its own records are known to it, the rest is the others').
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolver.errors import StoreError
from resolver.linkage import Model
from resolver.records import ENTITIES, Entity
from resolver.store.interface import Persistence
from training.artifacts import REFUSAL_REASONS, RefusalReason

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STORE_SIZES_TTL = 10.0  # seconds; a scrape every few seconds must not turn into COUNT queries every few seconds
UNMATCHED = "unmatched"  # the route label of a path no route serves: raw paths would be unbounded
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

@dataclass(frozen=True)
class StoreSizes:
    """Live records, last-scan groups (by status) and last-scan pairs per entity, over all accounts."""

    records: dict[Entity, int]
    groups: dict[Entity, dict[str, int]]
    pairs: dict[Entity, int]


def read_store_sizes(store: Persistence) -> StoreSizes:
    """Count what the store holds; cheap COUNT queries over all accounts (summed: no account shows through)."""
    records: dict[Entity, int] = {}
    groups: dict[Entity, dict[str, int]] = {}
    pairs: dict[Entity, int] = {}
    for entity in ENTITIES:
        records[entity], by_status, pairs[entity] = store.entity_totals(entity)
        groups[entity] = {"open": 0} | by_status
    return StoreSizes(records=records, groups=groups, pairs=pairs)


@dataclass
class _Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: float = 0.0
    count: int = 0

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1  # stored per bucket; made cumulative when written out
                break
        self.total += seconds
        self.count += 1


class Metrics:
    """The counters one process keeps, and their text for `GET /metrics`."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()  # observe() runs on the event loop, render() in the thread pool
        self._requests: Counter[tuple[str, str, str]] = Counter()
        self._latency: dict[str, _Histogram] = {}
        self._sizes: tuple[float, StoreSizes] | None = None
        # every (entity, reason) from the start, so a first refusal is an increase rate() can see
        self._refused: Counter[tuple[str, str]] = Counter({(e, r): 0 for e in ENTITIES for r in REFUSAL_REASONS})

    def model_refused(self, entity: Entity, reason: RefusalReason) -> None:
        """Count one champion refused (api/services.py); labels are fixed sets, never an account."""
        with self._lock:
            self._refused[(entity, reason)] += 1

    def observe(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        method = method if method in _METHODS else "other"
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            self._latency.setdefault(route, _Histogram()).observe(seconds)

    def store_sizes(self, store: Persistence) -> StoreSizes:
        """Store sizes, counted at most once per STORE_SIZES_TTL seconds."""
        now = self._clock()
        with self._lock:
            cached = self._sizes
        if cached is not None and now - cached[0] < STORE_SIZES_TTL:
            return cached[1]
        sizes = read_store_sizes(store)
        with self._lock:
            self._sizes = (now, sizes)
        return sizes

    def render(self, *, store: Persistence, models: Mapping[Entity, Model], store_totals: bool = False) -> str:
        """Every metric in the Prometheus text format.

        The store's gauges (sizes over all accounts, `crm_dedup_store_up`) only with `store_totals`;
        the sizes are left out if the store fails.
        """
        with self._lock:
            requests = sorted(self._requests.items())
            latency = sorted((route, _Histogram(list(h.buckets), h.total, h.count))
                             for route, h in self._latency.items())
            refused = sorted(self._refused.items())
        lines: list[str] = []
        _family(lines, "crm_dedup_http_requests_total", "counter",
                "HTTP requests answered, by method, route template and status.",
                ((f"{{{_labels(method=m, route=r, status=s)}}}", n) for (m, r, s), n in requests))
        _family(lines, "crm_dedup_http_request_duration_seconds", "histogram",
                "Time from receiving a request to the end of its answer, by route template.",
                _histogram_samples(latency))
        sizes: StoreSizes | None = None
        if store_totals:
            try:
                sizes = self.store_sizes(store)
            except StoreError as exc:
                logger.warning("metrics: store sizes unavailable: %s", exc)
            _family(lines, "crm_dedup_store_up", "gauge", "1 if the store answered the size queries.",
                    [("", int(sizes is not None))])
        if sizes is not None:
            _family(lines, "crm_dedup_records", "gauge", "Live records (not deleted, not merged), all accounts.",
                    ((f"{{{_labels(entity=e)}}}", n) for e, n in sizes.records.items()))
            _family(lines, "crm_dedup_groups", "gauge", "Groups of the last scans by status, all accounts.",
                    ((f"{{{_labels(entity=e, status=s)}}}", n)
                     for e, by_status in sizes.groups.items() for s, n in by_status.items()))
            _family(lines, "crm_dedup_pairs", "gauge", "Scored pairs of the last scans, all accounts.",
                    ((f"{{{_labels(entity=e)}}}", n) for e, n in sizes.pairs.items()))
        _family(lines, "crm_dedup_model_info", "gauge", "The model version serving each entity (always 1).",
                ((f"{{{_labels(entity=e, version=m.version)}}}", 1) for e, m in sorted(models.items())))
        _family(lines, "crm_dedup_model_refused_total", "counter",
                "Registry champions refused because their files could not be used (the shipped default "
                "served instead), by entity and reason.",
                ((f"{{{_labels(entity=e, reason=r)}}}", n) for (e, r), n in refused))
        return "\n".join(lines) + "\n"


def _family(lines: list[str], name: str, kind: str, help_text: str,
            samples: Iterable[tuple[str, float]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    # a histogram's samples carry their own suffix (_bucket, _sum, _count) in the label part
    lines.extend(f"{name}{labels} {_number(value)}" for labels, value in samples)


def _histogram_samples(latency: list[tuple[str, _Histogram]]) -> Iterable[tuple[str, float]]:
    for route, h in latency:
        cumulative = 0
        for bound, n in zip(LATENCY_BUCKETS, h.buckets, strict=True):
            cumulative += n
            yield f"_bucket{{{_labels(route=route, le=_number(bound))}}}", cumulative
        yield f"_bucket{{{_labels(route=route, le='+Inf')}}}", h.count
        yield f"_sum{{{_labels(route=route)}}}", h.total
        yield f"_count{{{_labels(route=route)}}}", h.count


def _labels(**labels: str) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


def _escape(value: str) -> str:
    # the exposition format escapes exactly these three in label values
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(value) if isinstance(value, float) else str(int(value))


def route_template(scope: Scope, templates: Sequence[tuple[re.Pattern[str], str]] = ()) -> str:
    """The path template of the route that served a request, else of the first of `templates` it matches.

    `templates` are for requests answered before routing (a CORS preflight, a body refused for
    its size), which never learn their route; a path nothing matches is UNMATCHED.
    """
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return _CONVERTOR.sub(r"{\1}", path)  # "/v1/{entity:entity}" -> "/v1/{entity}", as OpenAPI writes it
    raw_path = scope.get("path", "")
    return next((template for pattern, template in templates if pattern.match(raw_path)), UNMATCHED)


def openapi_templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """(regex, template) for every path in the app's OpenAPI schema, in route order."""
    try:
        paths = app.openapi()["paths"]
    except Exception:  # metrics must never fail a request; the label falls back to UNMATCHED
        logger.warning("metrics: no OpenAPI schema to name routes answered before routing", exc_info=True)
        return []
    return [(compile_path(template)[0], template) for template in paths]


class MetricsMiddleware:
    """Times and counts every HTTP request; installed outermost so refusals (413, CORS) count too."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self._templates: list[tuple[re.Pattern[str], str]] | None = None  # built on first need: routes are final

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # stays so when the app raises before answering (the error handler sends a 500)

        async def send_watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_watched)
        finally:
            if "route" not in scope and self._templates is None:
                self._templates = openapi_templates(scope.get("app"))
            self.metrics.observe(method=scope["method"], route=route_template(scope, self._templates or ()),
                                 status=status, seconds=time.perf_counter() - started)
