"""The whole-base scan: store -> Splink pairs -> constrained groups -> merge plans -> store.

`scan_account` is the one scan flow: the CLI's `scan`, `dedupe` (a file in a throw-away store) and
`demo`, and the API's scan jobs call it with the model the account is served (resolved outside
`resolver/`, by training/serving.py, or the shipped default). Progress is reported per step through
optional `progress(done, total)` callbacks.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from resolver.entities import ExtraField, spec_for
from resolver.evidence import drop_common_identifiers, guard_pairs
from resolver.explain import contributions_json, explain_pairs, reviewers_contribution
from resolver.features import FeatureBuilder, rerank
from resolver.feedback import split_separated_groups
from resolver.groups import CONFIRMED_PROBABILITY, Edge, assign_group_ids, build_groups, describe_groups, ordered_pair
from resolver.incremental import StepTimer, incremental_scan, scan_state, scan_vals_table, value_columns
from resolver.linkage import Model, Progress, predict_pairs, train_settings
from resolver.pending import apply_pending
from resolver.records import PLURAL, Entity, Record
from resolver.store.interface import Persistence

logger = logging.getLogger(__name__)

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
    warnings: tuple[str, ...] = ()  # about the data, for the summary: an identifier field many records share
    mode: str = "full"  # or "incremental" (resolver/incremental.py)
    fallback: str | None = None  # an incremental scan asked for that ran as a full one: why
    n_changed: int | None = None  # incremental: records written since the last scan
    n_rescored: int | None = None  # incremental: pairs scored again (at or above the review threshold)


def ingest(store: Persistence, *, account_id: str, entity: Entity, records: Sequence[Record],
           progress: Progress | None = None) -> int:
    """Normalize and upsert records; all of them in one transaction (nothing half-written)."""
    spec = spec_for(entity)
    rows: list[dict[str, Any]] = []
    for start in range(0, len(records), _NORMALIZE_CHUNK):
        rows.extend(spec.normalize(r) for r in records[start:start + _NORMALIZE_CHUNK])
        if progress:
            progress(min(start + _NORMALIZE_CHUNK, len(records)), len(records))
    written = store.upsert_records(account_id, spec, records, rows)
    apply_pending(store, account_id, entity, records, rows)  # "create anyway" decisions waiting for a record
    return written


def ingest_batches(store: Persistence, *, account_id: str, entity: Entity, batches: Iterable[list[Record]],
                   progress: Progress | None = None, workers: int = 0) -> int:
    """Normalize and upsert a file's record batches (`ingest.iter_record_batches`) as one unit of work.

    `workers` processes normalize while this one reads and writes (`ingest.pipeline`). As `ingest_normalized`.
    """
    from resolver.ingest.pipeline import normalized_batches

    return ingest_normalized(store, account_id=account_id, entity=entity, progress=progress,
                             batches=normalized_batches(batches, entity, workers=workers))


def ingest_normalized(store: Persistence, *, account_id: str, entity: Entity,
                      batches: Iterable[tuple[list[Record], Mapping[str, Sequence[Any]]] | pa.Table],
                      progress: Progress | None = None) -> int:
    """Upsert (records, normalized columns) batches (`ingest.pipeline`) as one unit of work.

    Memory holds a batch at a time, not the file. All batches go in one transaction: a bad record late in
    the file (the readers raise after the last batch) or a failed write leaves the store as it was.
    Returns the number of distinct records written or kept.
    """
    spec = spec_for(entity)
    seen: set[str] = set()
    with store.bulk_transaction():
        for batch in batches:
            if isinstance(batch, pa.Table):  # the store's rows, built by a worker
                store.upsert_table(account_id, spec, batch)
                ids: list[str] = batch.column("record_id").to_pylist()
            else:
                records, columns = batch
                store.upsert_records(account_id, spec, records, columns)
                ids = [r.record_id for r in records]
            if store.open_pending(account_id, entity, datetime.now(UTC)):  # rare: rows only when one waits
                apply_pending(store, account_id, entity, *_pending_view(entity, batch))
            seen.update(ids)
            if progress:
                progress(len(seen), len(seen))
    store.records_written(len(seen))
    return len(seen)


def _pending_view(entity: Entity, batch: tuple[list[Record], Mapping[str, Sequence[Any]]] | pa.Table,
                  ) -> tuple[list[Record], list[dict[str, Any]]]:
    """What `apply_pending` reads of a batch: its records, and the normalized rows (of a table of store rows:
    ids, deletion, normalized phones and emails)."""
    from resolver.ingest.pipeline import rows_of

    if not isinstance(batch, pa.Table):
        records, columns = batch
        return records, rows_of(columns)
    records = [Record(entity=entity, record_id=i, deleted=bool(d)) for i, d in
               zip(batch.column("record_id").to_pylist(), batch.column("deleted").to_pylist(), strict=True)]
    return records, batch.select([c for c in ("phones", "emails") if c in batch.column_names]).to_pylist()


Phase = Callable[[str, int, int], AbstractContextManager[Progress]]
"""A step of `scan_account` starts: (label, index, count) -> a context giving that step's progress callback.

`index` of `count` steps: 2 when the account has its own fields (a model is fitted first), else 1.
"""


def scan_account(store: Persistence, *, account_id: str, model: Model, phase: Phase | None = None,
                 incremental: bool = False) -> ScanResult:
    """Scan one entity (`model.entity`) of an account with `model`, the one the account is served.

    An account with its own fields (`Store.extra_fields`) first gets the model fitted on its data
    (`fit_model`) unless the served model was trained with exactly those fields (the account's champion
    after `crm-dedup train`). Decisions in force always apply. `incremental`: score only what changed
    since the last scan (resolver/incremental.py) when that gives the same result; the result says
    which it was (`mode`, `fallback`).
    """
    steps = phase or _no_phase
    entity = model.entity
    extras = store.extra_fields(account_id, entity)
    # a model trained on this account with these fields (its champion) is used as is: fitting it
    # anew would drop what it learned from reviewers and its re-ranker
    needs_fit = bool(extras) and set(extras) != set(model.extras)
    count = 2 if needs_fit else 1
    if needs_fit:
        with steps(f"training {entity} model with {', '.join(e.name for e in extras)}", 0, count) as progress:
            model = fit_model(store, account_id=account_id, base=model, extras=extras, progress=progress)
    if incremental and not extras:
        with steps(f"scanning changed {PLURAL[entity]}", 0, 1) as progress:
            return incremental_scan(store, account_id=account_id, model=model, progress=progress)
    with steps(f"scanning {PLURAL[entity]}", count - 1, count) as progress:
        result = scan(store, account_id=account_id, model=model, progress=progress)
    if incremental:
        return replace(result, fallback="the account has its own fields")
    return result


@contextmanager
def _no_phase(label: str, index: int, count: int) -> Iterator[Progress]:
    yield lambda done, total: None


def fit_model(store: Persistence, *, account_id: str, base: Model, extras: Sequence[ExtraField],
              progress: Progress | None = None) -> Model:
    """A model trained (without labels) on this account's data, for comparisons the base lacks.

    Used when an account adds its own fields: the shipped model knows only the standard ones.
    Thresholds are the base model's.
    """
    spec = spec_for(base.entity)
    table, _ = drop_common_identifiers(store.scan_input(account_id, spec, extras), extras)
    settings = train_settings(table, spec, extras, progress=progress)
    version = f"{base.version}+fitted:{'+'.join(e.name for e in extras)}"
    return Model(entity=base.entity, version=version, settings=settings, review_threshold=base.review_threshold,
                 auto_merge_threshold=base.auto_merge_threshold, extras=tuple(extras),
                 meta={"fitted_on": account_id, "trained_on_records": table.num_rows})


def scan(store: Persistence, *, account_id: str, model: Model, cannot_link: Collection[tuple[str, str]] = (),
         must_link: Collection[tuple[str, str]] = (), progress: Progress | None = None) -> ScanResult:
    """Score the whole base of one account and entity, group it and store pairs and groups.

    The reviewers' decisions in force in the store always apply, whoever starts the scan: a pair
    marked `not_duplicate` is dropped and its records never share a group, even through a third
    record; a pair marked `duplicate` joins its records as a link of probability 1.0 even below the
    review threshold (unless a separation forbids it). `cannot_link` and `must_link` add pairs of
    the caller's own to those. Decisions that arrive while the scan runs split its groups once saved.
    """
    spec = spec_for(model.entity)
    started = datetime.now(UTC)
    step = StepTimer(progress, 5)
    seconds = step.seconds

    snapshot = store.scan_snapshot(account_id, model.entity)  # before the read: later writes are changes
    table, warnings = drop_common_identifiers(store.scan_input(account_id, spec, model.extras), model.extras)
    separated, confirmed = store.links_in_force(account_id, model.entity)
    separated |= {ordered_pair(p) for p in cannot_link}
    confirmed = (confirmed | {ordered_pair(p) for p in must_link}) - separated
    step("read", 1)
    # conflicts and values many share are weighed before reviewers' re-ranker (resolver/evidence.py)
    floor = min(model.review_threshold, spec.prediction_floor or model.review_threshold)
    # below the review threshold only the evidence rule can raise a pair, and only one the spec names:
    # the rest need not be compared down to the floor
    keep = spec.floor_pairs_sql() if floor < model.review_threshold else None
    predicted = predict_pairs(table, model, threshold=floor, prune_below=model.review_threshold, keep=keep)
    guarded = guard_pairs(table, predicted, spec,
                          threshold=model.review_threshold, comparisons=model.comparison_names,
                          places=[e.name for e in model.extras if e.kind == "address"])
    scored = apply_reranker(table, guarded, model)
    # separated pairs never group, but are stored (flagged) so that an undo regroups them at once
    is_separated = pa.array([k in separated for k in _keys(scored)], pa.bool_())
    pairs = scored.filter(pc.invert(is_separated))
    step("predict", 2)
    explained = explain_pairs(scored, model)
    edges = [Edge(a, b, p) for a, b, p in zip(pairs.column("left_id").to_pylist(), pairs.column("right_id").to_pylist(),
                                              pairs.column("match_probability").to_pylist(), strict=True)]
    live = set(table.column("unique_id").to_pylist())
    edges += [Edge(a, b, CONFIRMED_PROBABILITY) for a, b in sorted(confirmed) if a in live and b in live]
    step("explain", 3)
    components = build_groups(edges, threshold=model.review_threshold, cannot_link=separated,
                              strong=model.auto_merge_threshold)
    ids = assign_group_ids(model.entity, components, store.group_membership(account_id, model.entity))
    details = store.record_details(account_id, model.entity, [m for c in components for m in c.members])
    groups = describe_groups(model.entity, components, ids, details, explained,
                             auto_merge_threshold=model.auto_merge_threshold)
    step("group", 4)
    pair_rows = pa.table({
        "left_id": scored.column("left_id"),
        "right_id": scored.column("right_id"),
        "match_weight": scored.column("match_weight"),
        "match_probability": scored.column("match_probability"),
        "contributions": pa.array(
            [contributions_json(explained[k]) for k in _keys(scored)], pa.string()),
        "separated": is_separated,
    })
    result = ScanResult(
        scan_id=uuid.uuid4().hex, entity=model.entity, model_version=model.version, n_records=table.num_rows,
        n_pairs=pairs.num_rows, n_groups=len(groups), n_grouped_records=sum(len(g.record_ids) for g in groups),
        seconds=seconds, warnings=tuple(warnings),
    )
    # what the next incremental scan builds on (resolver/incremental.py), written with the results
    vals = scan_vals_table(table, value_columns(spec, model))
    with store.transaction():
        store.save_scan(
            account_id=account_id, entity=model.entity, pairs=pair_rows, groups=groups,
            scan={"scan_id": result.scan_id, "started_at": started, "finished_at": datetime.now(UTC),
                  "model_version": model.version, "review_threshold": model.review_threshold,
                  "auto_merge_threshold": model.auto_merge_threshold, "n_records": table.num_rows},
        )
        store.save_scan_state(account_id, model.entity,
                              scan_state(table, model, spec, scan_id=result.scan_id, snapshot=snapshot), vals)
    # a decision stored after the read above split the previous scan's groups, which were just
    # replaced: apply it to these (the feedback path and this one both run under the store's writer lock)
    late = split_separated_groups(store, account_id, model.entity)
    step("save", 5)
    logger.info("scan %s of %s/%s: %d records, %d pairs, %d groups in %s%s", result.scan_id, account_id,
                model.entity, result.n_records, result.n_pairs, result.n_groups, seconds,
                f"; {late} split by decisions made meanwhile" if late else "")
    return result


def apply_reranker(table: pa.Table, pairs: pa.Table, model: Model) -> pa.Table:
    """Splink's pairs with the model's re-ranker applied (resolver/features.py), if it has one.

    Probabilities and weights become the final ones, a `reviewers_weight` column keeps the change
    for the explanation, and pairs that fall below the review threshold leave.
    """
    reranker = model.reranker
    if reranker is None or pairs.num_rows == 0:
        return pairs
    keys = _keys(pairs)
    builder = FeatureBuilder(table, model, spec_for(model.entity), ids={i for k in keys for i in k})
    if not builder.space.fits(reranker):
        logger.warning("model %s: its re-ranker was trained on other features; scanning without it", model.version)
        return pairs
    splink_p = np.asarray(pairs.column("match_probability").to_numpy(zero_copy_only=False), dtype=np.float64)
    final = rerank(splink_p, reranker.predict(builder.build(keys).matrix))
    delta = [reviewers_contribution(a, b).match_weight for a, b in zip(splink_p.tolist(), final.tolist(), strict=True)]
    final = np.where(np.array(delta) == 0.0, splink_p, final)  # no visible change: Splink's own (as the check)
    weights = pairs.column("match_weight").to_numpy(zero_copy_only=False) + np.array(delta)
    out = pairs.set_column(pairs.schema.get_field_index("match_probability"), "match_probability", pa.array(final))
    out = out.set_column(out.schema.get_field_index("match_weight"), "match_weight", pa.array(weights))
    out = out.append_column("reviewers_weight", pa.array(delta, pa.float64()))
    return out.filter(pa.array(final >= model.review_threshold, pa.bool_()))


def _keys(pairs: pa.Table) -> list[tuple[str, str]]:
    return list(zip(pairs.column("left_id").to_pylist(), pairs.column("right_id").to_pylist(), strict=True))
