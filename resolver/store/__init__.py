"""The persistence layer: records, decisions, scan results, jobs and accounts; all SQL lives in this package.

`Persistence` (`interface.py`) is the interface callers are typed against. `Store` is the embedded
DuckDB store (one file, one process); `PostgresStore` runs the same methods on a PostgreSQL database
several processes share; `open_store` picks one from a path or a URL. The parts are one module each:
the decision log (`decisions`), scan results and merges (`results`), jobs (`jobs`), accounts with
their API keys (`accounts`) and, on PostgreSQL, the workers' job queue (`queue`); they run on the
members `base.StoreBase` names. SQL text longer than a line is in `sql/*.sql`, with
`sql/postgres/*.sql` where PostgreSQL needs its own, and the schema in `sql/migrations/<dialect>/`.
Nothing outside this package runs SQL on the store or touches its connection.
"""

from __future__ import annotations

from pathlib import Path

from resolver.store.base import load_sql
from resolver.store.duckdb_store import MAX_FUTURE_SKEW, Store
from resolver.store.interface import Persistence
from resolver.store.postgres_store import PostgresStore, is_postgres_url

__all__ = ["MAX_FUTURE_SKEW", "Persistence", "PostgresStore", "Store", "is_postgres_url", "load_sql", "open_store"]


def open_store(target: str | Path, *, max_connections: int = 8) -> Store:
    """The store at `target`: a `postgresql://` URL (PostgreSQL, shared by many processes), else a DuckDB file
    path (or `:memory:`). Either is migrated to the newest schema on open."""
    if isinstance(target, str) and is_postgres_url(target):
        return PostgresStore(target, max_connections=max_connections)
    return Store(target)
