"""The persistence layer: records, decisions, scan results, jobs and accounts; all SQL lives in this package.

`Store` is the embedded DuckDB store (one file, one process). Its parts are one module each: the
decision log (`decisions`), scan results and merges (`results`) and jobs (`jobs`); they run on the
members `base.StoreBase` names. SQL text longer than a line is in `sql/*.sql`.
"""

from resolver.store.base import load_sql
from resolver.store.decisions import GroupSplitter
from resolver.store.duckdb_store import MAX_FUTURE_SKEW, Store

__all__ = ["MAX_FUTURE_SKEW", "GroupSplitter", "Store", "load_sql"]
