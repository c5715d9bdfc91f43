"""What the store's parts share: `load_sql`, the migrations and `StoreBase`, the members of a store they run on.

The parts (decisions, results, jobs) are written once for both backends: their SQL is the common
ground of DuckDB and PostgreSQL, with `?` and `$name` parameters. A backend's `_execute` runs it as
its engine wants it (PostgreSQL: `%s` placeholders, and `sql/postgres/<name>.sql` in place of
`sql/<name>.sql` where the two engines differ). Rows are inserted in bulk with `_insert_arrow`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from functools import cache
from importlib.resources import files
from typing import Any, Protocol

import duckdb
import psycopg
import pyarrow as pa

from resolver.records import Entity

logger = logging.getLogger(__name__)

Params = Sequence[Any] | Mapping[str, Any] | None
STORE_ERRORS = (duckdb.Error, psycopg.Error)  # what either engine raises; the store turns them into StoreError

# text of every SQL file loaded -> its name, so a backend can swap in its own version of the statement
_SQL_NAMES: dict[str, str] = {}
_MIGRATION = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


@cache
def load_sql(name: str) -> str:
    """The text of `resolver/store/sql/<name>.sql`."""
    text = (files("resolver.store") / "sql" / f"{name}.sql").read_text(encoding="utf-8")
    _SQL_NAMES[text] = name
    return text


def sql_name(text: str) -> str | None:
    """The name of the SQL file `text` was loaded from (None for SQL written inline)."""
    return _SQL_NAMES.get(text)


@cache
def dialect_sql(dialect: str, name: str) -> str | None:
    """`sql/<dialect>/<name>.sql` when that engine needs its own version of the statement, else None."""
    path = files("resolver.store") / "sql" / dialect / f"{name}.sql"
    return path.read_text(encoding="utf-8") if path.is_file() else None


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of `sql/migrations/<dialect>/NNNN_name.sql`, oldest first."""
    found = []
    for entry in (files("resolver.store") / "sql" / "migrations" / dialect).iterdir():
        match = _MIGRATION.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    if [v for v, _, _ in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations of {dialect} are not numbered 1..n: {[n for _, n, _ in found]}")
    return found


class Rows(Protocol):
    """What a statement returns on either backend: its columns and its rows."""

    @property
    def description(self) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    """The handle `transaction()` yields: statements run inside that transaction."""

    def execute(self, sql: str, params: Any = ..., /) -> Any: ...


class StoreBase(Protocol):
    """The members of a store that its parts (decisions, scan results, jobs) call; the store implements them.

    Each part subclasses this protocol, so mypy checks the calls it makes, and a store cannot be built
    while one is missing (a member without a body is abstract). The protocol sits last in the store's
    MRO, so the real methods always win. Their docstrings are on `Store` and `DecisionStore`.
    """

    dialect: str

    def _execute(self, sql: str, params: Params = None, *, step: str = "") -> Any: ...

    def _dicts(self, sql: str, params: Sequence[Any] | dict[str, Any], *, step: str) -> list[dict[str, Any]]: ...

    def _stamp(self, account_id: str, entity: Entity) -> datetime: ...

    def _insert_arrow(self, table: str, rows: pa.Table) -> None: ...

    def _lock_account(self, account_id: str) -> None: ...

    def _transaction(self) -> AbstractContextManager[Connection]: ...

    def record_details(self, account_id: str, entity: Entity, record_ids: Sequence[str]
                       ) -> dict[str, dict[str, Any]]: ...

    def links_in_force(self, account_id: str, entity: Entity, among: Sequence[str] | None = None
                       ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]: ...

    def _keep_before_images(self, con: Connection, account_id: str, entity: Entity, group_id: str,
                            survivor_id: str, absorbed_ids: Sequence[str], merged_by: str | None) -> None: ...


def migrate(store: StoreBase, *, lock: str = "") -> int:
    """Bring the store's schema to the newest version: each migration not yet applied, in order, each in
    one transaction with its row in `schema_version`. Returns the version now in force.

    `lock` is a statement run first in each transaction that keeps two processes from migrating at
    once (PostgreSQL's advisory lock); the version is read again under it.
    """
    store._execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, name VARCHAR NOT NULL, "
                  "applied_at TIMESTAMPTZ NOT NULL)", step="schema_version")
    version = 0
    for number, name, sql in migrations(store.dialect):
        with store._transaction() as con:
            if lock:
                con.execute(lock)
            row = con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            version = int(row[0])
            if number <= version:
                continue
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?, ?)", [number, name, datetime.now(UTC)])
            version = number
            logger.info("store schema migrated to version %d (%s)", number, name)
    return version
