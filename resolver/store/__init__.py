"""The persistence layer: records, decisions, scan results, jobs and accounts; all SQL lives in this package.

`Persistence` (`interface.py`) is the interface callers are typed against; `Store` is the embedded
DuckDB store (one file, one process). Its parts are one module each: the decision log (`decisions`),
scan results and merges (`results`), jobs (`jobs`) and accounts with their API keys (`accounts`);
they run on the members `base.StoreBase` names. SQL text longer than a line is in `sql/*.sql`.
Nothing outside this package runs SQL on the store or touches its connection.
"""

from resolver.store.base import load_sql
from resolver.store.duckdb_store import MAX_FUTURE_SKEW, Store
from resolver.store.interface import Persistence

__all__ = ["MAX_FUTURE_SKEW", "Persistence", "Store", "load_sql"]
