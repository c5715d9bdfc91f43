"""Pick the reader for an input file by its extension."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from resolver.errors import InputError
from resolver.ingest.amocrm import read_amocrm_file
from resolver.ingest.jsonstream import BATCH_RECORDS, iter_amocrm_batches
from resolver.ingest.tabular import iter_table_batches, read_table
from resolver.records import Entity, Record

__all__ = ["check_file", "iter_record_batches", "read_records"]

_JSON_SUFFIXES = frozenset({".json", ".jsonl"})
# .txt and .tsv: Excel's "Unicode text" and tab-separated saves are delimited text too.
_TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".xlsx"})


def read_records(
    path: Path,
    entity: Entity,
    *,
    column_map: Mapping[str, Sequence[str]] | None = None,
    extra_fields: Mapping[str, str] | None = None,
    tz: str = "Europe/Moscow",
) -> list[Record]:
    """Read amoCRM JSON / JSONL or a CSV / XLSX table into records, chosen by the file's extension.

    `column_map` and `tz` apply to tables only; a column map given for a JSON file is an error
    rather than silently ignored. Raises InputError for a missing file or an unknown extension.
    """
    if check_file(path, column_map):
        return read_amocrm_file(path, entity, extra_fields=extra_fields)
    return read_table(path, entity, column_map=column_map, extra_fields=extra_fields, tz=tz)


def iter_record_batches(
    path: Path,
    entity: Entity,
    *,
    column_map: Mapping[str, Sequence[str]] | None = None,
    extra_fields: Mapping[str, str] | None = None,
    tz: str = "Europe/Moscow",
    batch_size: int = BATCH_RECORDS,
    keep_raw: bool = True,
) -> Iterator[list[Record]]:
    """As `read_records`, in batches of at most `batch_size` records: JSON is streamed (jsonstream.py).

    The file's name and type are checked now; problems inside it are raised (InputError, all of them)
    after its last batch, so the caller must write the batches as one unit (`scan.ingest_batches`).
    `keep_raw` False: JSON records come without `Record.raw` (a file deduplicated alone never reads it).
    """
    if check_file(path, column_map):
        return iter_amocrm_batches(path, entity, extra_fields=extra_fields, batch_size=batch_size,
                                   keep_raw=keep_raw)
    return iter_table_batches(path, entity, column_map=column_map, extra_fields=extra_fields, tz=tz,
                              batch_size=batch_size)


def check_file(path: Path, column_map: Mapping[str, Sequence[str]] | None) -> bool:
    """InputError for a file that cannot be read as records; True for amoCRM JSON, False for a table."""
    suffix = path.suffix.lower()
    if suffix not in _JSON_SUFFIXES | _TABLE_SUFFIXES:
        shown = suffix or "(no extension)"
        raise InputError.one(
            f"unsupported file type {shown}; expected .json, .jsonl, .csv or .xlsx", source=path.name
        )
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "file not found"
        raise InputError.one(reason, source=str(path))
    if suffix in _JSON_SUFFIXES:
        if column_map:
            raise InputError.one(
                "a column map applies to CSV and XLSX files, not to amoCRM JSON", source=path.name
            )
        return True
    return False
