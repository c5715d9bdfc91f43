"""Readers that turn amoCRM API v4 JSON and CSV / XLSX files into records."""

from resolver.ingest.amocrm import read_amocrm, read_amocrm_file, record_from_amocrm
from resolver.ingest.files import iter_record_batches, read_records
from resolver.ingest.tabular import DEFAULT_COLUMN_MAP, TARGET_KEYS, parse_column_map, read_table

__all__ = [
    "DEFAULT_COLUMN_MAP",
    "TARGET_KEYS",
    "iter_record_batches",
    "parse_column_map",
    "read_amocrm",
    "read_amocrm_file",
    "read_records",
    "read_table",
    "record_from_amocrm",
]
