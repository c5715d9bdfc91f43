"""The whole-base scan: store -> Splink pairs -> constrained groups -> merge plans -> store.

One flow for the CLI's `scan`, `dedupe` (a file in a throw-away store) and, later, the API's
scan job. Progress is reported per step through an optional `progress(done, total)` callback.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import pyarrow as pa

from resolver.entities import ExtraField, spec_for
from resolver.groups import Edge, assign_group_ids, build_groups, review_reasons
from resolver.linkage import Model, Progress, contributions, predict_pairs, train_settings
from resolver.merge_plan import plan_merge
from resolver.records import Entity, FieldContribution, Record
from resolver.store import Store

logger = logging.getLogger(__name__)

# Five or more records in one group is rare for real duplicates and common for false groups
LARGE_GROUP_SIZE = 5
_NORMALIZE_CHUNK = 5_000


@dataclass(frozen=True)
class ScanResult:
    """What a scan did: counts and time per step (seconds)."""

    scan_id: str
    entity: Entity
    model_version: str
    n_records: int
    n_pairs: int
    n_groups: int
    n_grouped_records: int
    seconds: dict[str, float]


def ingest(store: Store, *, account_id: str, entity: Entity, records: Sequence[Record],
           progress: Progress | None = None) -> int:
    """Normalize and upsert records; all of them in one transaction (nothing half-written)."""
    spec = spec_for(entity)
    rows = []
    for start in range(0, len(records), _NORMALIZE_CHUNK):
        rows.extend(spec.normalize(r) for r in records[start:start + _NORMALIZE_CHUNK])
        if progress:
            progress(min(start + _NORMALIZE_CHUNK, len(records)), len(records))
    return store.upsert_records(account_id, spec, records, rows)


def fit_model(store: Store, *, account_id: str, base: Model, extras: Sequence[ExtraField],
              progress: Progress | None = None) -> Model:
    """A model trained (without labels) on this account's data, for comparisons the base lacks.

    Used when an account adds its own fields: the shipped model knows only the standard ones.
    Thresholds are the base model's.
    """
    spec = spec_for(base.entity)
    table = store.scan_input(account_id, spec, extras)
    settings = train_settings(table, spec, extras, progress=progress)
    version = f"{base.version}+fitted:{'+'.join(e.name for e in extras)}"
    return Model(entity=base.entity, version=version, settings=settings, review_threshold=base.review_threshold,
                 auto_merge_threshold=base.auto_merge_threshold, extras=tuple(extras),
                 meta={"fitted_on": account_id, "trained_on_records": table.num_rows})


def scan(store: Store, *, account_id: str, model: Model, cannot_link: Collection[tuple[str, str]] = (),
         progress: Progress | None = None) -> ScanResult:
    """Score the whole base of one account and entity, group it and store pairs and groups.

    `cannot_link` are pairs reviewers separated: such pairs never share a group.
    """
    spec = spec_for(model.entity)
    steps, seconds = 5, {}
    started = datetime.now(UTC)
    t0 = time.perf_counter()

    def step(name: str, i: int) -> None:
        nonlocal t0
        now = time.perf_counter()
        seconds[name] = round(now - t0, 3)
        t0 = now
        if progress:
            progress(i, steps)

    table = store.scan_input(account_id, spec, model.extras)
    step("read", 1)
    pairs = predict_pairs(table, model, threshold=model.review_threshold)
    step("predict", 2)
    explained, edges = _explain(pairs, model)
    step("explain", 3)
    components = build_groups(edges, threshold=model.review_threshold, cannot_link=cannot_link)
    ids = assign_group_ids(model.entity, components, store.group_membership(account_id, model.entity))
    details = store.record_details(account_id, model.entity, [m for c in components for m in c.members])
    groups = []
    for group_id, comp in zip(ids, components, strict=True):
        plan = plan_merge([details[m] for m in comp.members])
        reasons = review_reasons(comp, explained, auto_merge_threshold=model.auto_merge_threshold,
                                 large_group_size=LARGE_GROUP_SIZE)
        groups.append({"group_id": group_id, "group_score": comp.score, "members": comp.members,
                       "needs_review": bool(reasons), "review_reasons": reasons,
                       "survivor_id": plan["survivor_id"], "merge_plan": plan})
    step("group", 4)
    pair_rows = pa.table({
        "left_id": pairs.column("left_id"),
        "right_id": pairs.column("right_id"),
        "match_weight": pairs.column("match_weight"),
        "match_probability": pairs.column("match_probability"),
        "contributions": pa.array(
            [json.dumps([asdict(c) for c in explained[k]], ensure_ascii=False) for k in _keys(pairs)], pa.string()),
    })
    result = ScanResult(
        scan_id=uuid.uuid4().hex, entity=model.entity, model_version=model.version, n_records=table.num_rows,
        n_pairs=pairs.num_rows, n_groups=len(groups), n_grouped_records=sum(len(g["members"]) for g in groups),
        seconds=seconds,
    )
    store.save_scan(
        account_id=account_id, entity=model.entity, pairs=pair_rows, groups=groups,
        scan={"scan_id": result.scan_id, "started_at": started, "finished_at": datetime.now(UTC),
              "model_version": model.version, "review_threshold": model.review_threshold,
              "auto_merge_threshold": model.auto_merge_threshold, "n_records": table.num_rows},
    )
    step("save", 5)
    logger.info("scan %s of %s/%s: %d records, %d pairs, %d groups in %s", result.scan_id, account_id,
                model.entity, result.n_records, result.n_pairs, result.n_groups, seconds)
    return result


def _keys(pairs: pa.Table) -> list[tuple[str, str]]:
    return list(zip(pairs.column("left_id").to_pylist(), pairs.column("right_id").to_pylist(), strict=True))


def _explain(pairs: pa.Table, model: Model) -> tuple[dict[tuple[str, str], list[FieldContribution]], list[Edge]]:
    labels = model.level_labels()
    explained: dict[tuple[str, str], list[FieldContribution]] = {}
    edges = []
    for row in pairs.to_pylist():
        key = (row["left_id"], row["right_id"])
        explained[key] = contributions(row, model, labels)
        edges.append(Edge(row["left_id"], row["right_id"], float(row["match_probability"])))
    return explained, edges

