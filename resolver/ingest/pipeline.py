"""Normalize record batches on both cores: worker processes normalize while this one reads and writes.

Normalizing is pure Python (one core at a time under the interpreter lock); reading the file and writing
the store are the main process's work. For a large file, `normalized_batches` hands each batch's values
to `workers` processes and gets the rows back in the batches' order. Only what normalization reads
crosses the process boundary (names, phones, emails, company, INN, site), not the raw entities.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from resolver.entities import spec_for
from resolver.ingest.files import check_file
from resolver.ingest.jsonstream import iter_amocrm_batches
from resolver.ingest.tabular import iter_table_batches
from resolver.normalize.region import DEFAULT_REGION, localize_phones
from resolver.records import Entity, Record

__all__ = [
    "PARALLEL_MIN_BYTES", "Columns", "default_workers", "normalized_batches",
    "normalized_file_batches", "rows_of",
]

# Below this a worker's start costs more than it saves.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
# batches in flight per worker: enough to keep it busy, few enough to bound memory
_AHEAD = 1

_Inputs = tuple[str | None, tuple[str, ...], tuple[str, ...], str | None, str | None, str | None]


def default_workers(file_bytes: int) -> int:
    """Worker processes for a file of this size: none for a small one, else one per core (at most 2)."""
    if file_bytes < PARALLEL_MIN_BYTES:
        return 0
    return min(2, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0


Columns = dict[str, list[Any]]
"""A batch's normalized rows turned around: the spec's column name -> values in the records' order."""


def normalized_batches(batches: Iterable[list[Record]], entity: Entity, *,
                       workers: int = 0) -> Iterator[tuple[list[Record], Columns]]:
    """(records, their normalized columns) per batch, in the batches' order; `workers` 0 normalizes here.

    Columns, not a dict per row: the store builds its Arrow table from them without turning rows around.
    Only what normalization reads goes to a worker, not the records.
    """
    work = partial(_normalize_records, entity)
    yield from _in_order(((batch, [_inputs(r) for r in batch]) for batch in batches), work, workers)


def normalized_file_batches(path: Path, entity: Entity, *, column_map: Mapping[str, Sequence[str]] | None = None,
                            extra_fields: Mapping[str, str] | None = None, keep_raw: bool = True,
                            region: str = DEFAULT_REGION,
                            workers: int | None = None) -> Iterator[tuple[list[Record], Columns]]:
    """Any input file (`ingest.read_records`' types) as (records, normalized columns) batches; `workers`
    None: `default_workers` for the file's size. The file's name and type are checked now (InputError)."""
    is_json = check_file(path, column_map)
    if workers is None:
        workers = default_workers(path.stat().st_size)
    # JSON is parsed here, not in the workers: sending them the decoded objects costs this process as much
    # as parsing them (measured), and the workers would spend more on top
    batches: Iterable[list[Record]] = (
        iter_amocrm_batches(path, entity, extra_fields=extra_fields, keep_raw=keep_raw) if is_json
        else iter_table_batches(path, entity, column_map=column_map, extra_fields=extra_fields))
    if region != DEFAULT_REGION:
        batches = ([localize_phones(r, region) for r in batch] for batch in batches)
    return normalized_batches(batches, entity, workers=workers)


def _in_order(items: Iterable[tuple[Any, Any]], work: Callable[[Any], Any], workers: int) -> Iterator[tuple[Any, Any]]:
    """(kept, work(payload)) for each (kept, payload), in order; on `workers` processes when more than 0.

    Only the payload travels to a worker; `kept` (what the result belongs to) stays here.
    """
    if workers <= 0:
        for kept, payload in items:
            yield kept, work(payload)
        return
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pending: deque[tuple[Any, Future[Any]]] = deque()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            for kept, payload in items:
                pending.append((kept, pool.submit(work, payload)))
                while len(pending) > workers * _AHEAD or (pending and pending[0][1].done()):
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def rows_of(columns: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """The batch's rows as one dict per record (what `EntitySpec.normalize` gives)."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _inputs(r: Record) -> _Inputs:
    return (r.name, r.phones, r.emails, r.company_name, r.inn, r.website)


def _normalize_records(entity: Entity, inputs: list[_Inputs]) -> Columns:
    """The spec's columns of each record (in a worker, or here)."""
    spec = spec_for(entity)
    columns: Columns = {c.name: [] for c in spec.columns}
    appends = [(c.name, columns[c.name].append) for c in spec.columns]
    for name, phones, emails, company, inn, website in inputs:
        row = spec.normalize(Record(entity=entity, record_id="", name=name, phones=phones, emails=emails,
                                    company_name=company, inn=inn, website=website))
        for column, append in appends:
            append(row.get(column))
    return columns
