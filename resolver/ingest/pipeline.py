"""Normalize record batches on both cores: worker processes normalize while this one reads and writes.

Normalizing is pure Python (one core at a time under the interpreter lock); reading the file and writing
the store are the main process's work. For a large file, `normalized_batches` hands each batch's values
to `workers` processes and gets the rows back in the batches' order. Only what normalization reads
crosses the process boundary (names, phones, emails, company, INN, site), not the raw entities.

amoCRM JSON goes further (`_json_tables`): this process only cuts the file into chunks of entity text
(jsonstream), and a worker decodes, parses and normalizes a chunk and sends back the store's rows as one
Arrow table (`duckdb_store.records_table`), which pickles as a few buffers instead of objects per record.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any, TypeAlias

import pyarrow as pa

from resolver.entities import spec_for
from resolver.errors import InputProblem
from resolver.ingest.amocrm import _Problems
from resolver.ingest.files import check_file
from resolver.ingest.jsonstream import (
    BATCH_RECORDS,
    add_problems,
    decode_located,
    iter_json_units,
    parse_located,
    raise_problems,
)
from resolver.ingest.tabular import iter_table_batches
from resolver.normalize.region import DEFAULT_REGION, localize_phones
from resolver.records import Entity, Record
from resolver.store.duckdb_store import records_table

__all__ = [
    "PARALLEL_MIN_BYTES", "Batch", "Columns", "default_workers", "normalized_batches",
    "normalized_file_batches", "rows_of",
]

# Below this a worker's start costs more than it saves.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
# batches in flight per worker: enough to keep it busy, few enough to bound memory
_AHEAD = 1

# entities a worker decodes at once: its objects, records and rows are its peak (318k import: tree 2.31 -> 2.04 GB)
_JSON_UNIT_RECORDS = BATCH_RECORDS // 2

_Inputs = tuple[str | None, tuple[str, ...], tuple[str, ...], str | None, str | None, str | None]


def default_workers(file_bytes: int) -> int:
    """Worker processes for a file of this size: none for a small one, else one per core (at most 2)."""
    if file_bytes < PARALLEL_MIN_BYTES:
        return 0
    return min(2, os.cpu_count() or 1) if (os.cpu_count() or 1) > 1 else 0


Columns = dict[str, list[Any]]
"""A batch's normalized rows turned around: the spec's column name -> values in the records' order."""

Batch: TypeAlias = tuple[list[Record], Columns] | pa.Table
"""(records, their normalized columns), or the store's rows of a batch built already (`records_table`)."""


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
                            workers: int | None = None) -> Iterator[Batch]:
    """Any input file (`ingest.read_records`' types) as batches for `scan.ingest_normalized`: amoCRM JSON as
    the store's rows (Arrow), tables as (records, normalized columns); `workers` None: `default_workers` for
    the file's size. The file's name and type are checked now (InputError); problems inside it are raised
    after its last batch."""
    is_json = check_file(path, column_map)
    if workers is None:
        workers = default_workers(path.stat().st_size)
    if is_json:
        return _json_tables(path, entity, extra_fields=extra_fields, keep_raw=keep_raw, region=region,
                            workers=workers)
    batches: Iterable[list[Record]] = iter_table_batches(path, entity, column_map=column_map,
                                                         extra_fields=extra_fields)
    if region != DEFAULT_REGION:
        batches = ([localize_phones(r, region) for r in batch] for batch in batches)
    return normalized_batches(batches, entity, workers=workers)


def _json_tables(path: Path, entity: Entity, *, extra_fields: Mapping[str, str] | None, keep_raw: bool, region: str,
                 workers: int) -> Iterator[pa.Table]:
    """amoCRM JSON / JSONL as the store's rows, a table per unit of `iter_json_units`; problems as
    `jsonstream.iter_amocrm_batches` raises them."""
    problems = _Problems(path.name, by_line=path.suffix.lower() == ".jsonl")
    work = partial(_json_table, entity, path.name, problems.by_line, dict(extra_fields or {}), keep_raw, region)
    units = ((None, unit) for unit in iter_json_units(path, entity, problems, batch_size=_JSON_UNIT_RECORDS))
    for _, (table, found) in _in_order(units, work, workers):
        if add_problems(problems, found):
            break
        if table.num_rows:
            yield table
    raise_problems(problems)


def _json_table(entity: Entity, source: str, by_line: bool, extra_fields: Mapping[str, str], keep_raw: bool,
                region: str, unit: list[tuple[int, object]]) -> tuple[pa.Table, list[InputProblem]]:
    """One unit of entities -> the store's rows of its records (one per id, the latest) and its problems."""
    located, texts = decode_located(unit, keep_raw=keep_raw)
    parsed, problems = parse_located(located, entity, source=source, by_line=by_line,
                                     extra_fields=extra_fields or None, keep_raw=keep_raw)
    records = [record for record, _ in parsed]
    if region != DEFAULT_REGION:
        records = [localize_phones(r, region) for r in records]
    columns = _normalize_records(entity, [_inputs(r) for r in records])
    # an entity from a chunk is stored as its text; one decoded alone as its object, encoded by the store
    raws = None if not texts else [texts.get(where) for _, where in parsed]
    return records_table(spec_for(entity), records, columns, raws), problems


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
