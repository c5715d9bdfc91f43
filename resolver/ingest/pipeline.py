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
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from resolver.entities import spec_for
from resolver.records import Entity, Record

__all__ = ["PARALLEL_MIN_BYTES", "Columns", "default_workers", "normalized_batches", "rows_of"]

# Below this a worker's start costs more than it saves.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
# batches in flight per worker: enough to keep it busy, few enough to bound memory
_AHEAD = 2

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
    """
    if workers <= 0:
        for batch in batches:
            yield batch, _normalize(entity, [_inputs(r) for r in batch])
        return
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pending: deque[tuple[list[Record], Future[Columns]]] = deque()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            for batch in batches:
                pending.append((batch, pool.submit(_normalize, entity, [_inputs(r) for r in batch])))
                while len(pending) > workers * _AHEAD or (pending and pending[0][1].done()):
                    done, future = pending.popleft()
                    yield done, future.result()
            while pending:
                done, future = pending.popleft()
                yield done, future.result()
        finally:
            for _, future in pending:
                future.cancel()


def rows_of(columns: Columns) -> list[dict[str, Any]]:
    """The batch's rows as one dict per record (what `EntitySpec.normalize` gives)."""
    names = list(columns)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _inputs(r: Record) -> _Inputs:
    return (r.name, r.phones, r.emails, r.company_name, r.inn, r.website)


def _normalize(entity: Entity, inputs: list[_Inputs]) -> Columns:
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
