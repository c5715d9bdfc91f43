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

__all__ = ["PARALLEL_MIN_BYTES", "default_workers", "normalized_batches"]

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


def normalized_batches(batches: Iterable[list[Record]], entity: Entity, *,
                       workers: int = 0) -> Iterator[tuple[list[Record], list[dict[str, Any]]]]:
    """(records, their normalized rows) per batch, in the batches' order; `workers` 0 normalizes here."""
    spec = spec_for(entity)
    if workers <= 0:
        for batch in batches:
            yield batch, [spec.normalize(r) for r in batch]
        return
    columns = [c.name for c in spec.columns]
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    pending: deque[tuple[list[Record], Future[list[tuple[Any, ...]]]]] = deque()
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        try:
            for batch in batches:
                inputs = [(r.name, r.phones, r.emails, r.company_name, r.inn, r.website) for r in batch]
                pending.append((batch, pool.submit(_normalize, entity, inputs)))
                while len(pending) > workers * _AHEAD or (pending and pending[0][1].done()):
                    done, future = pending.popleft()
                    yield done, [dict(zip(columns, values, strict=True)) for values in future.result()]
            while pending:
                done, future = pending.popleft()
                yield done, [dict(zip(columns, values, strict=True)) for values in future.result()]
        finally:
            for _, future in pending:
                future.cancel()


def _normalize(entity: Entity, inputs: list[_Inputs]) -> list[tuple[Any, ...]]:
    """In a worker: the spec's columns of each record, as tuples (smaller to send back than dicts)."""
    spec = spec_for(entity)
    columns = [c.name for c in spec.columns]
    out = []
    for name, phones, emails, company, inn, website in inputs:
        row = spec.normalize(Record(entity=entity, record_id="", name=name, phones=phones, emails=emails,
                                    company_name=company, inn=inn, website=website))
        out.append(tuple(row.get(c) for c in columns))
    return out
