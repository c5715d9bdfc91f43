"""The PostgreSQL store: the same `Store` methods on a database many processes and machines share.

`PostgresStore` subclasses the DuckDB `Store` and replaces only the layer under its methods: the
connection (a pool of psycopg 3 connections instead of one DuckDB file), how a statement runs
(`?`/`$name` parameters become psycopg's, and `sql/postgres/<name>.sql` replaces `sql/<name>.sql`
where the engines differ), bulk inserts (COPY instead of a registered Arrow table) and the steps
that use DuckDB-only SQL (the record upsert, the scan input). Every other method of the store,
and of its parts, is the shared code running the shared SQL.

Scoring stays in DuckDB: `scan_input` reads one account's live records into Arrow and builds the
linkage input in an in-process DuckDB, exactly as the DuckDB store does on its file.

Writes that other processes must see in order take PostgreSQL advisory locks held to commit:
the account's lock (decision numbers, job queueing) and the (account, entity) stamp lock (the
`ingested_at` every API worker's check index follows).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import duckdb
import psycopg
import pyarrow as pa
from psycopg_pool import ConnectionPool

from resolver.entities import EntitySpec, ExtraField
from resolver.errors import StoreError
from resolver.records import Entity, Group, Record
from resolver.store.base import Params, dialect_sql, load_sql, migrate, sql_name
from resolver.store.duckdb_store import (
    _ARROW_TYPES,
    MAX_FUTURE_SKEW,
    Store,
    _records_arrow,
    scan_table,
    with_account,
    with_extras,
)
from resolver.store.queue import JobQueue, LeaseLost

__all__ = ["PostgresStore", "is_postgres_url"]

logger = logging.getLogger(__name__)

_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(7305112026)"  # one migrating process at a time
_ANALYZE_ROWS = 2_000  # a write of at least this many rows refreshes the tables' statistics
_FETCH_ROWS = 20_000  # rows per round trip when a scan reads an account's records
_DOUBLE = re.compile(r"::DOUBLE\b", re.IGNORECASE)
# a string literal, a line comment, a `$name` parameter, a `?` parameter or a `%` (psycopg's escape char)
_TOKEN = re.compile(r"'(?:[^']|'')*'|--[^\n]*|\$([A-Za-z_]\w*)|\?|%")


def is_postgres_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def redacted(url: str) -> str:
    """`url` without its password: for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


@lru_cache(maxsize=1024)
def postgres_sql(sql: str, with_params: bool) -> str:
    """A statement of the shared SQL as PostgreSQL runs it (cached per text)."""
    name = sql_name(sql)
    text = (dialect_sql("postgres", name) if name else None) or sql
    text = _DOUBLE.sub("::DOUBLE PRECISION", text)
    if not with_params:
        return text

    def token(m: re.Match[str]) -> str:
        found = m.group(0)
        if found == "?":
            return "%s"
        if found == "%":
            return "%%"
        if m.group(1):
            return f"%({m.group(1)})s"
        return "" if found.startswith("--") else found.replace("%", "%%")

    return _TOKEN.sub(token, text)


class _Result:
    """A statement's rows, fetched whole: the connection goes back to the pool before the caller reads."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self.description = [(c.name,) for c in cur.description] if cur.description else None
        self._rows: list[Any] = cur.fetchall() if cur.description else []
        self._next = 0

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows


class _Tx:
    """What `transaction()` yields: statements on the transaction's connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = None, /) -> _Result:
        return _run(self.conn, sql, params)


def _run(conn: psycopg.Connection[Any], sql: str, params: Params) -> _Result:
    if params is not None and not isinstance(params, Mapping):
        params = list(params)
    with psycopg.ClientCursor(conn) as cur:
        cur.execute(postgres_sql(sql, params is not None), params)
        return _Result(cur)


class PostgresStore(JobQueue, Store):
    """One PostgreSQL database shared by every API worker, job worker and CLI call (see the module docstring).

    Statements run on a pooled connection in autocommit; `transaction()` pins one connection to the
    calling thread until it commits, and every statement of that thread runs inside it.
    """

    dialect = "postgres"

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        self.path = redacted(url)
        self._local = threading.local()
        self._lock = threading.RLock()  # kept for code that serialises on it; PostgreSQL orders writers itself
        try:
            self._pool = ConnectionPool(url, min_size=1, max_size=max_connections, open=True, timeout=30.0,
                                        kwargs={"autocommit": True}, configure=_configure,
                                        name="crm-dedup")
            self._pool.wait(timeout=30.0)
        except (psycopg.Error, Exception) as exc:  # the pool raises its own PoolTimeout
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self.migrate()

    def migrate(self) -> int:
        try:
            return migrate(self, lock=_MIGRATION_LOCK)
        except psycopg.Error as exc:
            raise StoreError(f"cannot migrate store {self.path}: {exc}") from exc

    def close(self) -> None:
        self._pool.close()

    # -- low level ------------------------------------------------------------------------------

    def _held(self) -> psycopg.Connection[Any] | None:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        return conn

    def _cursor(self) -> Any:
        raise NotImplementedError("the PostgreSQL store has no DuckDB cursor")

    def _execute(self, sql: str, params: Params = None, *, step: str = "") -> _Result:  # type: ignore[override]
        """Run one statement (inside this thread's transaction, if any); values only as parameters."""
        logger.debug("sql step %s", step or "-")
        try:
            held = self._held()
            if held is not None:
                return _run(held, sql, params)
            with self._pool.connection() as conn:
                return _run(conn, sql, params)
        except psycopg.Error as exc:
            raise StoreError(f"store query {step or 'failed'}: {exc}") from exc

    def _dicts(self, sql: str, params: Sequence[Any] | dict[str, Any], *, step: str) -> list[dict[str, Any]]:
        cur = self._execute(sql, params, step=step)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:  # type: ignore[override]
        """All or nothing on one connection, pinned to this thread until it commits; inside another
        transaction of this thread it joins that one (as the DuckDB store's does)."""
        held = self._held()
        if held is not None:
            yield _Tx(held)
            return
        with self._pool.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    self._check_lease()  # a job worker's writes count only while the job is still its own
                    yield _Tx(conn)
            finally:
                self._local.conn = None

    def records_version(self, account_id: str, entity: Entity) -> int | None:
        """None: other API and job workers write the records too; the check asks `records_changed_since`
        (an index range on (account_id, entity, ingested_at), empty when nothing changed)."""
        return None

    def _lock_account(self, account_id: str) -> None:
        """The account's lock until the transaction ends: its writers in every process take turns."""
        self._execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [f"account:{account_id}"],
                     step="lock_account")

    def _stamp(self, account_id: str, entity: Entity) -> datetime:
        """The `ingested_at` of a write (inside its transaction): later than every stamp of the account's
        entity, and held under the entity's lock until commit, so stamps rise in commit order across
        processes and machines (one clock: the database server's)."""
        self._execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", [f"stamp:{account_id}:{entity}"],
                     step="lock_stamp")
        row = self._execute(
            "SELECT greatest(clock_timestamp(), (SELECT max(ingested_at) + interval '1 microsecond' FROM records "
            "WHERE account_id = ? AND entity = ?))", [account_id, entity], step="stamp").fetchone()
        stamp: datetime = row[0]
        return stamp

    def _insert_arrow(self, table: str, rows: pa.Table) -> None:
        """COPY Arrow rows into `table` by column name, inside this thread's transaction."""
        conn = self._held()
        if conn is None:
            with self._transaction():
                self._insert_arrow(table, rows)
            return
        _copy(conn, table, rows)

    def update_job(self, account_id: str, job_id: str, *, status: str, percent: float,
                   result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """As `JobStore.update_job`; a worker updates its job only while it holds the lease (LeaseLost)."""
        lease = getattr(self._local, "lease", None)
        if lease is None or lease[0] != job_id:
            super().update_job(account_id, job_id, status=status, percent=percent, result=result, error=error)
            return
        finished = datetime.now(UTC) if status in ("done", "failed") else None
        done = status in ("done", "failed")
        rows = self._execute(
            "UPDATE jobs SET status = ?, percent = ?, finished_at = coalesce(?, finished_at), "
            "result = coalesce(?, result), error = coalesce(?, error), "
            "lease_until = CASE WHEN ? THEN NULL ELSE lease_until END "
            "WHERE account_id = ? AND job_id = ? AND worker = ? AND status = 'running' RETURNING job_id",
            [status, percent, finished, json.dumps(result) if result is not None else None, error, done,
             account_id, job_id, lease[1]], step="update_job").fetchall()
        if not rows:
            raise LeaseLost(f"job {job_id} is no longer leased to {lease[1]}")

    # -- records --------------------------------------------------------------------------------

    def upsert_records(self, account_id: str, spec: EntitySpec, records: Sequence[Record],
                       normalized: Sequence[dict[str, Any]] | Mapping[str, Sequence[Any]] | None = None) -> int:
        """As `Store.upsert_records`: the batch is COPied into a staging table, then the shared steps run."""
        if not records:
            return 0
        rows = normalized if normalized is not None else [spec.normalize(r) for r in records]
        try:
            table = _records_arrow(account_id, spec, records, rows)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise StoreError(
                f"records of {account_id}/{spec.entity} cannot be stored, nothing was written: {exc}") from exc
        return self.upsert_table(account_id, spec, table)

    def upsert_table(self, account_id: str, spec: EntitySpec, table: pa.Table) -> int:
        """As `Store.upsert_table`."""
        if not table.num_rows:
            return 0
        table = _newest_per_key(with_account(table, account_id))
        try:
            with self._transaction() as con:
                con.execute("CREATE TEMP TABLE stage (LIKE records INCLUDING DEFAULTS) ON COMMIT DROP")
                _copy(con.conn, "stage", table)
                con.execute("UPDATE stage SET ingested_at = ?", [self._stamp(account_id, spec.entity)])
                con.execute(load_sql("keep_merged_marks"))
                con.execute(load_sql("upsert_records"), {"skew_seconds": MAX_FUTURE_SKEW.total_seconds()})
                con.execute(load_sql("insert_new_records"))
                con.execute("DELETE FROM record_keys AS k USING stage AS s WHERE k.account_id = s.account_id "
                            "AND k.entity = s.entity AND k.record_id = s.record_id")
                con.execute(_record_keys_sql(spec))
                con.execute("DROP TABLE stage")  # not only at commit: a caller's transaction may upsert again
        except (psycopg.Error, StoreError) as exc:
            raise StoreError(f"upsert into {self.path} failed, nothing was written: {exc}") from exc
        self._analyze(table.num_rows, "records", "record_keys")
        return int(table.num_rows)

    def records_written(self, rows: int) -> None:
        self._analyze(rows, "records", "record_keys")

    def save_scan(self, *, account_id: str, entity: Entity, scan: dict[str, Any], pairs: pa.Table,
                  groups: Sequence[Group]) -> None:
        super().save_scan(account_id=account_id, entity=entity, scan=scan, pairs=pairs, groups=groups)
        self._analyze(pairs.num_rows + sum(len(g.record_ids) for g in groups), "pairs", "groups", "group_members")

    def _analyze(self, rows: int, *tables: str) -> None:
        """Fresh planner statistics after a bulk write: a table that just grew from nothing to thousands of
        rows is planned as empty until autovacuum gets to it (12 s instead of 20 ms for a groups export)."""
        if rows < _ANALYZE_ROWS or self._held() is not None:
            return
        try:
            self._execute(f"ANALYZE {', '.join(tables)}", step="analyze")
        except StoreError as exc:  # statistics are an optimisation: the write itself is done
            logger.warning("ANALYZE %s failed: %s", ", ".join(tables), exc)

    def scan_input(self, account_id: str, spec: EntitySpec, extras: Sequence[ExtraField] = ()) -> pa.Table:
        """As `Store.scan_input`: the account's live records are read into Arrow (in batches) and the
        linkage input is built from them in an in-process DuckDB, with the same SQL."""
        cols = ", ".join(f'"{c.name}"' for c in spec.columns)
        fields = [("unique_id", pa.string())] + [(c.name, _ARROW_TYPES[c.sql_type]) for c in spec.columns]
        fields.append(("extra", pa.map_(pa.string(), pa.string())))
        schema = pa.schema(fields)
        batches = []
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor(name="scan_input") as cur:
                cur.itersize = _FETCH_ROWS
                cur.execute(f"SELECT record_id AS unique_id, {cols}, extra FROM records WHERE account_id = %s "
                            "AND entity = %s AND NOT deleted AND merged_into IS NULL", [account_id, spec.entity])
                while chunk := cur.fetchmany(_FETCH_ROWS):
                    columns = [list(c) for c in zip(*chunk, strict=True)]
                    columns[-1] = [list(m.items()) if m else None for m in columns[-1]]
                    batches.append(pa.RecordBatch.from_arrays(
                        [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema))
        except psycopg.Error as exc:
            raise StoreError(f"store query scan_input: {exc}") from exc
        base = pa.Table.from_batches(batches, schema=schema)
        try:
            with duckdb.connect() as cur:
                cur.register("scan_rows", base)
                cur.execute("CREATE TEMP TABLE scan_base AS SELECT * FROM scan_rows")
                cur.unregister("scan_rows")
                table = scan_table(cur, spec)
        except duckdb.Error as exc:
            raise StoreError(f"store query scan_input: {exc}") from exc
        return with_extras(table, extras)


def _configure(conn: psycopg.Connection[Any]) -> None:
    """Every pooled connection reads and writes timestamps in UTC, as the DuckDB store does."""
    conn.execute("SET TIME ZONE 'UTC'")


def _copy(conn: psycopg.Connection[Any], table: str, rows: pa.Table) -> None:
    """COPY `rows` into `table` (its columns by name); maps (a record's extra fields) go as JSON."""
    names = rows.column_names
    columns = []
    for column in rows.columns:
        values = column.to_pylist()
        if pa.types.is_map(column.type):
            values = [None if v is None else json.dumps(dict(v), ensure_ascii=False) for v in values]
        columns.append(values)
    quoted = ", ".join(f'"{n}"' for n in names)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        for row in zip(*columns, strict=True):
            copy.write_row(row)


def _newest_per_key(table: pa.Table) -> pa.Table:
    """One row per record_id (the batch is one account and entity): the newest `updated_at`, as the DuckDB
    store's QUALIFY keeps; an unknown `updated_at` loses to a known one."""
    ids = table.column("record_id").to_pylist()
    if len(set(ids)) == len(ids):
        return table
    updated = table.column("updated_at").to_pylist()
    best: dict[str, int] = {}
    floor = datetime.min.replace(tzinfo=UTC)
    for i, record_id in enumerate(ids):
        j = best.get(record_id)
        if j is None or (updated[i] or floor) >= (updated[j] or floor):
            best[record_id] = i
    return table.take(sorted(best.values()))


def _record_keys_sql(spec: EntitySpec) -> str:
    """Step record_keys (PostgreSQL): as the DuckDB store's, with unnest in place of list lambdas."""
    parts = []
    for col in spec.key_columns:
        kind = next(c.sql_type for c in spec.columns if c.name == col)
        if kind.endswith("[]"):
            parts.append(f"SELECT '{col}:' || v FROM unnest(r.\"{col}\") AS v WHERE v IS NOT NULL")
        else:
            parts.append(f"SELECT '{col}:' || r.\"{col}\" WHERE r.\"{col}\" IS NOT NULL")
    keys = " UNION ALL ".join(parts)
    return (
        "INSERT INTO record_keys (account_id, entity, key, record_id) "
        "SELECT r.account_id, r.entity, k.key, r.record_id FROM records AS r "
        "JOIN stage AS s ON r.account_id = s.account_id AND r.entity = s.entity AND r.record_id = s.record_id "
        f"CROSS JOIN LATERAL ({keys}) AS k(key)"
    )
