"""The DuckDB store: connection, schema, idempotent record upsert and scan input; every query takes account_id.

All SQL execution goes through `Store`, so another backend (PostgreSQL) replaces DuckDB here
and nowhere else. SQL text lives in `resolver/store/sql/*.sql` where it is more than one line. `Store`
is composed of parts, one module each: the decision log (`decisions`), scan results and
merges (`results`), jobs (`jobs`) and accounts (`accounts`); they run on the members `base.StoreBase`
names. It implements `interface.Persistence`, which callers outside the package are typed against.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from resolver.entities import FEW_MAX, RARE_MAX, EntitySpec, ExtraField, normalize_extra
from resolver.errors import StoreError
from resolver.records import Entity, Record
from resolver.store.accounts import AccountStore
from resolver.store.amocrm import AmoStore
from resolver.store.base import STORE_ERRORS, load_sql, migrate
from resolver.store.decisions import DecisionStore
from resolver.store.jobs import JobStore
from resolver.store.merges import MergeStore
from resolver.store.results import ResultStore
from resolver.store.scanstate import ScanStateStore

__all__ = ["Store", "load_sql", "records_table", "with_account"]

logger = logging.getLogger(__name__)

# An `updated_at` later than the write's own time by more than this is clamped to that time: an older
# update never replaces a newer one, so a record claiming year 9999 would refuse every later update.
# Five minutes is well above the skew of NTP-synced clocks (the CRM's and ours), and far below the
# minutes-to-days between two real edits of one record, so no honest timestamp is ever touched.
MAX_FUTURE_SKEW = timedelta(minutes=5)

# DuckDB's memory during a file's import (`bulk_transaction`): room for a few batches and the upsert's joins
BULK_MEMORY_LIMIT = "768MB"

_BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("account_id", pa.string()),
    ("entity", pa.string()),
    ("record_id", pa.string()),
    ("name", pa.string()),
    ("responsible_user_id", pa.string()),
    ("company_ids", pa.list_(pa.string())),
    ("lead_ids", pa.list_(pa.string())),
    ("open_lead_ids", pa.list_(pa.string())),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")),
    ("deleted", pa.bool_()),
    ("ingested_at", pa.timestamp("us", tz="UTC")),
    ("raw", pa.string()),
    ("extra", pa.map_(pa.string(), pa.string())),
)
_ARROW_TYPES = {"VARCHAR": pa.string(), "VARCHAR[]": pa.list_(pa.string())}


class Store(DecisionStore, ResultStore, ScanStateStore, JobStore, AccountStore, AmoStore, MergeStore):
    """One DuckDB file (or `:memory:`) holding records, decisions and scan results.

    One connection per store; a lock serialises writers and the cursors readers take, because a
    DuckDB connection is not safe to share between threads without one.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._last_stamp: datetime | None = None
        # (account, entity) -> commits that wrote its records; see records_version
        self._records_versions: dict[tuple[str, Entity], int] = {}
        self.migrate()

    dialect = "duckdb"

    def migrate(self) -> int:
        """Apply the schema migrations this store lacks (`crm-dedup db upgrade`; also on open): its version."""
        try:
            return migrate(self)
        except duckdb.Error as exc:
            raise StoreError(f"cannot migrate store {self.path}: {exc}") from exc

    def close(self) -> None:
        for cur in self._cursors:
            cur.close()
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- low level ------------------------------------------------------------------------------

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor: DuckDB cursors are separate connections to one database, so
        readers on different threads run side by side (MVCC) instead of queueing on one lock."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
            self._cursors.append(cur)
        return cur

    def _execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                 step: str = "") -> duckdb.DuckDBPyConnection:
        """Run one statement on this thread's cursor; values only as parameters. Fetch from the result.

        Private to the store package: callers elsewhere use the typed methods (`interface.Persistence`).
        """
        logger.debug("sql step %s", step or "-")
        try:
            return self._cursor().execute(sql, params or [])
        except duckdb.Error as exc:
            raise StoreError(f"store query {step or 'failed'}: {exc}") from exc

    def _dicts(self, sql: str, params: Sequence[Any] | dict[str, Any], *, step: str) -> list[dict[str, Any]]:
        """Rows as dicts by column name (named `$params` go as a dict)."""
        cur = self._execute(sql, params, step=step)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def _stamp(self, account_id: str, entity: Entity) -> datetime:
        """The `ingested_at` of a write, taken inside its transaction: strictly increasing in commit order.

        The check's in-memory index reads the rows stamped after the newest it has seen; a stamp
        taken before the writer lock (or a clock stepping back) could commit behind one already
        seen and stay invisible to it. One process writes a DuckDB file, so one clock orders all stamps.
        """
        with self._lock:
            now = datetime.now(UTC)
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(microseconds=1)
            self._last_stamp = now
            stamped = getattr(self._local, "stamped", None)
            if stamped is not None:  # counted once the transaction commits (records_version)
                stamped.add((account_id, entity))
            else:
                self._bump_versions({(account_id, entity)})
            return now

    def _bump_versions(self, keys: set[tuple[str, Entity]]) -> None:
        for key in keys:
            self._records_versions[key] = self._records_versions.get(key, 0) + 1

    def records_version(self, account_id: str, entity: Entity) -> int | None:
        """A number that changes after every committed write of the account's records of `entity`.

        Only this process writes a DuckDB file, so an unchanged number means nothing new to read: the
        check skips its `records_changed_since` query (a scan of the account's rows) then.
        """
        return self._records_versions.get((account_id, entity), 0)

    def _lock_account(self, account_id: str) -> None:
        """Nothing to do: the writers of a DuckDB file take turns under `_lock` already."""

    def _insert_arrow(self, table: str, rows: pa.Table) -> None:
        """Insert Arrow rows into `table` by column name, inside the caller's transaction (one statement)."""
        con = self._cursor()
        con.register("incoming", rows)
        try:
            con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
        finally:
            con.unregister("incoming")

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: a failure inside leaves the store as it was. Writers take turns.

        Re-entrant: inside another transaction of this thread it joins that one (no BEGIN of its
        own), so store methods that are transactions themselves compose into a caller's unit of work.
        """
        with self._lock:
            cur = self._cursor()
            if getattr(self._local, "in_transaction", False):
                yield cur
                return
            cur.execute("BEGIN TRANSACTION")
            self._local.in_transaction = True
            self._local.stamped = set()
            try:
                yield cur
            except BaseException:
                self._local.in_transaction = False
                self._local.stamped = None
                cur.execute("ROLLBACK")
                raise
            else:
                self._local.in_transaction = False
                stamped, self._local.stamped = self._local.stamped, None
                cur.execute("COMMIT")
                self._bump_versions(stamped)  # after the commit: a reader seeing the new number sees the rows

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One unit of work: every store call this thread makes inside it commits together or not at all.

        Writers take turns (other threads' writes wait); readers on other threads keep reading the
        state before it. Nested calls join the outer one.
        """
        try:
            with self._transaction():
                yield
        except STORE_ERRORS as exc:
            raise StoreError(f"store transaction failed, nothing was written: {exc}") from exc

    @contextmanager
    def bulk_transaction(self) -> Iterator[None]:
        """`transaction` for a whole file's rows: DuckDB's memory is capped meanwhile (a file store only), so
        the rows the open transaction holds go to the file's blocks instead of growing with the file (318,000
        contacts: 1.7 -> 1.3 GB peak). Scans keep the default limit."""
        capped = self.dialect == "duckdb" and self.path != ":memory:"
        if capped:
            self._execute(f"SET memory_limit = '{BULK_MEMORY_LIMIT}'", step="bulk memory limit")
        try:
            with self.transaction():
                yield
        finally:
            if capped:
                self._execute("RESET memory_limit", step="bulk memory limit")

    def ping(self) -> None:
        """Raise StoreError unless the store answers a trivial query (liveness)."""
        self._execute("SELECT 1", step="ping").fetchall()

    # -- records --------------------------------------------------------------------------------

    def upsert_records(self, account_id: str, spec: EntitySpec, records: Sequence[Record],
                       normalized: Sequence[dict[str, Any]] | Mapping[str, Sequence[Any]] | None = None) -> int:
        """Insert or replace records by (account, entity, record_id); an older update never wins.

        An `updated_at` more than MAX_FUTURE_SKEW ahead of now is stored as now (a stored one that
        far ahead of this write, from before that rule, counts as unknown), so no record is frozen.

        `normalized` are the spec's columns per record (computed here when not given), or the same as
        column -> values in the records' order (a normalizing worker's batch). Returns the
        number of records written or kept. The whole batch is one transaction.
        """
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
        """As `upsert_records`, of rows built already (`records_table`, e.g. by a worker process that parsed
        and normalized them): no Python object per record in this process. `account_id` replaces the table's."""
        if not table.num_rows:
            return 0
        table = with_account(table, account_id)
        try:
            with self._transaction() as con:
                con.register("stage_arrow", table)
                # one row per key: a batch may carry a record twice; the newest copy is the one to keep (a
                # worker's batch is one per id already, and the window would double the cost of staging it)
                unique = pc.count_distinct(table.column("record_id")).as_py() == table.num_rows
                con.execute("CREATE OR REPLACE TEMP TABLE stage AS SELECT * FROM stage_arrow" + ("" if unique else
                            " QUALIFY row_number() OVER (PARTITION BY account_id, entity, record_id "
                            "ORDER BY updated_at DESC NULLS LAST) = 1"))
                con.unregister("stage_arrow")
                con.execute("UPDATE stage SET ingested_at = ?", [self._stamp(account_id, spec.entity)])
                con.execute("ALTER TABLE stage ADD COLUMN merged_into VARCHAR")
                con.execute(load_sql("keep_merged_marks"))
                con.execute(load_sql("upsert_records"), {"skew_seconds": MAX_FUTURE_SKEW.total_seconds()})
                con.execute(load_sql("insert_new_records"))
                con.execute("DELETE FROM record_keys AS k USING stage AS s WHERE k.account_id = s.account_id "
                            "AND k.entity = s.entity AND k.record_id = s.record_id")
                con.execute(_record_keys_sql(spec))
                con.execute("DROP TABLE stage")
        except duckdb.Error as exc:
            raise StoreError(f"upsert into {self.path} failed, nothing was written: {exc}") from exc
        return int(table.num_rows)

    def records_written(self, rows: int) -> None:
        """Nothing to do: DuckDB keeps no planner statistics to refresh."""

    def count_records(self, account_id: str, entity: Entity) -> int:
        row = self._execute(
            "SELECT count(*) FROM records WHERE account_id = ? AND entity = ? AND NOT deleted "
            "AND merged_into IS NULL", [account_id, entity], step="count_records").fetchone()
        return int(row[0]) if row else 0

    def scan_input(self, account_id: str, spec: EntitySpec, extras: Sequence[ExtraField] = ()) -> pa.Table:
        """Live records of one account and entity as the linkage input.

        Columns: unique_id (= record_id), the spec's normalized columns, `<col>_rare` and
        `<col>_few` for its frequency columns (values few different names share, over this base),
        and `x_<name>` per extra field (normalized here, so the field config can change).
        """
        cols = ", ".join(f'"{c.name}"' for c in spec.columns)
        with self._lock:  # temp tables are per cursor; one scan input is built at a time
            cur = self._con.cursor()
            try:
                cur.execute(
                    f"CREATE OR REPLACE TEMP TABLE scan_base AS SELECT record_id AS unique_id, {cols}, extra "
                    "FROM records WHERE account_id = ? AND entity = ? AND NOT deleted AND merged_into IS NULL",
                    [account_id, spec.entity])
                table = scan_table(cur, spec)
            except duckdb.Error as exc:
                raise StoreError(f"store query scan_input: {exc}") from exc
            finally:
                cur.close()
        return with_extras(table, extras)

    def record_details(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Display and merge-plan fields of the given records, by record_id."""
        if not record_ids:
            return {}
        cur = self._execute(
            "SELECT record_id, name, phones, emails, responsible_user_id, lead_ids, open_lead_ids, "
            "company_ids, updated_at, created_at FROM records "
            "WHERE account_id = ? AND entity = ? AND record_id IN (SELECT unnest(?::VARCHAR[]))",
            [account_id, entity, list(record_ids)], step="record_details")
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}

    def records_changed_since(self, account_id: str, spec: EntitySpec, since: datetime | None) -> list[dict[str, Any]]:
        """Records of the account and entity written after `since` (all of them when None), deleted ones too.

        Each row: unique_id (= record_id), the spec's normalized columns, deleted, merged_into,
        ingested_at. The real-time check keeps its in-memory copy of the base fresh with these.
        """
        cols = ", ".join(f'"{c.name}"' for c in spec.columns)
        sql = (f"SELECT record_id AS unique_id, {cols}, deleted, merged_into, ingested_at FROM records "
               "WHERE account_id = ? AND entity = ?")
        params: list[Any] = [account_id, spec.entity]
        if since is not None:
            sql += " AND ingested_at > ?"
            params.append(since)
        return self._dicts(sql, params, step="check_refresh")

    def entity_totals(self, entity: Entity) -> tuple[int, dict[str, int], int]:
        """(live records, last-scan groups by status, last-scan pairs) of `entity`, summed over all accounts.

        For the operator's metrics only: no tenant may see these (they would tell it the others' sizes).
        """
        row = self._execute("SELECT count(*) FROM records WHERE entity = ? AND NOT deleted AND merged_into IS NULL",
                            [entity], step="metrics_records").fetchone()
        groups = self._execute("SELECT status, count(*) FROM groups WHERE entity = ? GROUP BY status ORDER BY status",
                               [entity], step="metrics_groups").fetchall()
        pairs = self._execute("SELECT count(*) FROM pairs WHERE entity = ?", [entity], step="metrics_pairs").fetchone()
        return (int(row[0]) if row else 0, {str(status): int(n) for status, n in groups},
                int(pairs[0]) if pairs else 0)

    def set_extra_fields(self, account_id: str, entity: Entity, extras: Sequence[ExtraField]) -> None:
        """Replace the account's extra-field config for an entity."""
        with self._transaction() as con:
            con.execute("DELETE FROM account_fields WHERE account_id = ? AND entity = ?", [account_id, entity])
            for ef in extras:
                con.execute("INSERT INTO account_fields VALUES (?, ?, ?, ?, ?)",
                            [account_id, entity, ef.name, ef.kind, ef.source])

    def extra_fields(self, account_id: str, entity: Entity) -> list[ExtraField]:
        rows = self._execute(
            "SELECT name, kind, source FROM account_fields WHERE account_id = ? AND entity = ? ORDER BY name",
            [account_id, entity], step="extra_fields").fetchall()
        return [ExtraField(name, kind, source) for name, kind, source in rows]

    def accounts_with_records(self) -> list[str]:
        rows = self._execute("SELECT DISTINCT account_id FROM records ORDER BY 1", step="accounts").fetchall()
        return [r[0] for r in rows]

    def record(self, account_id: str, entity: Entity, record_id: str) -> dict[str, Any] | None:
        """One stored record as the API shows it (normalized phones and emails), deleted or not."""
        rows = self._dicts(
            "SELECT record_id, name, phones, emails, responsible_user_id, company_ids, lead_ids, open_lead_ids, "
            "created_at, updated_at, deleted, merged_into FROM records "
            "WHERE account_id = ? AND entity = ? AND record_id = ?", [account_id, entity, record_id], step="record")
        return rows[0] if rows else None

    def mark_deleted(self, account_id: str, entity: Entity, record_id: str) -> bool:
        """Mark a record deleted (it leaves scans and checks); False when the account has no such record.

        Like every write of a record it stamps `ingested_at`: the check's in-memory copy of the base
        follows the rows written since its last look by that column.
        """
        key = [account_id, entity, record_id]
        try:
            with self._transaction() as con:
                found = con.execute("UPDATE records SET deleted = true, ingested_at = ? WHERE account_id = ? "
                                    "AND entity = ? AND record_id = ? RETURNING record_id",
                                    [self._stamp(account_id, entity), *key]).fetchall()
                con.execute("DELETE FROM record_keys WHERE account_id = ? AND entity = ? AND record_id = ?", key)
        except STORE_ERRORS as exc:
            raise StoreError(f"store query mark_deleted: {exc}") from exc
        return bool(found)


def scan_table(cur: duckdb.DuckDBPyConnection, spec: EntitySpec) -> pa.Table:
    """The temp table `scan_base` (unique_id, the spec's columns, extra) on `cur` as the linkage input, with
    the frequency columns (value_frequency.sql) added; drops its temp tables. Both stores score in DuckDB."""
    query = "SELECT b.* EXCLUDE (extra), b.extra"
    joins = ""
    for i, col in enumerate(spec.frequency_columns):
        freq = load_sql("value_frequency").replace("{col}", col).replace("{name_col}", spec.name_column)
        cur.execute(f"CREATE OR REPLACE TEMP TABLE freq_{i} AS {freq}", {"rare_max": RARE_MAX, "few_max": FEW_MAX})
        query += f", f{i}.{col}_rare, f{i}.{col}_few"
        joins += f" LEFT JOIN freq_{i} AS f{i} USING (unique_id)"
    table = cur.sql(f"{query} FROM scan_base AS b{joins} ORDER BY b.unique_id").to_arrow_table()
    for i in range(len(spec.frequency_columns)):
        cur.execute(f"DROP TABLE freq_{i}")
    cur.execute("DROP TABLE scan_base")
    return table


def with_extras(table: pa.Table, extras: Sequence[ExtraField]) -> pa.Table:
    """`table` without its `extra` map, with an `x_<name>` column per extra field, normalized."""
    if not extras:  # no Python objects for 318,000 empty maps
        return table.drop_columns(["extra"])
    extra_col = table.column("extra").to_pylist()
    table = table.drop_columns(["extra"])
    for ef in extras:
        values = [normalize_extra(ef.kind, dict(m or {}).get(ef.name)) for m in extra_col]
        table = table.append_column(ef.column, pa.array(values, pa.string()))
    return table


def _record_keys_sql(spec: EntitySpec) -> str:
    """Step record_keys: the stored (newest) version of each staged record -> its blocking keys.

    Keys are the values the blocking rules join on (`spec.key_columns`), so the real-time check
    finds exactly the candidates a whole-base scan would pair the record with.
    """
    parts = []
    for col in spec.key_columns:
        kind = next(c.sql_type for c in spec.columns if c.name == col)
        values = f'r."{col}"' if kind.endswith("[]") else f'[r."{col}"]'
        parts.append(f"list_transform(list_filter(coalesce({values}, []), lambda v: v IS NOT NULL), "
                     f"lambda v: '{col}:' || v)")
    keys = "list_concat(" + ", ".join(parts) + ")" if len(parts) > 1 else parts[0]
    return (
        "INSERT INTO record_keys SELECT account_id, entity, unnest(keys) AS key, record_id FROM ("
        f"SELECT r.account_id, r.entity, r.record_id, {keys} AS keys FROM records AS r "
        "SEMI JOIN stage AS s ON r.account_id = s.account_id AND r.entity = s.entity AND r.record_id = s.record_id"
        ")"
    )


def with_account(table: pa.Table, account_id: str) -> pa.Table:
    """The rows with `account_id` as their account (a worker builds them before the account is known)."""
    column = pa.array([account_id] * table.num_rows, pa.string())
    return table.set_column(table.schema.get_field_index("account_id"), "account_id", column)


def records_table(spec: EntitySpec, records: Sequence[Record],
                  rows: Sequence[dict[str, Any]] | Mapping[str, Sequence[Any]],
                  raws: Sequence[str | None] | None = None) -> pa.Table:
    """The store's rows of `records` for `upsert_table` (account left empty): `raws` are the objects' texts as
    received where known (stored as they are, not encoded again)."""
    return _records_arrow("", spec, records, rows, raws)


def _records_arrow(account_id: str, spec: EntitySpec, records: Sequence[Record],
                   rows: Sequence[dict[str, Any]] | Mapping[str, Sequence[Any]],
                   raws: Sequence[str | None] | None = None) -> pa.Table:
    now = datetime.now(UTC)
    latest = now + MAX_FUTURE_SKEW
    n = len(records)
    data: dict[str, list[Any]] = {
        "account_id": [account_id] * n,
        "entity": [spec.entity] * n,
        "record_id": [r.record_id for r in records],
        "name": [r.name for r in records],
        "responsible_user_id": [r.responsible_user_id for r in records],
        "company_ids": [list(r.company_ids) for r in records],
        "lead_ids": [list(r.lead_ids) for r in records],
        "open_lead_ids": [list(r.open_lead_ids) for r in records],
        "created_at": _timestamps([r.created_at for r in records]),
        "updated_at": _timestamps([_not_after(r.updated_at, latest, now) for r in records]),
        "deleted": [r.deleted for r in records],
        "ingested_at": _timestamps([now] * n),
        "raw": ([raw_json(r.raw) for r in records] if raws is None
                else [raw_json(r.raw) if text is None else text for r, text in zip(records, raws, strict=True)]),
        "extra": [list(r.extra.items()) for r in records],
    }
    fields = list(_BASE_COLUMNS)
    for col in spec.columns:
        # rows as columns (a worker's batch, ingest.pipeline) go in as they are; dicts are turned around
        data[col.name] = list(rows[col.name]) if isinstance(rows, Mapping) else [row.get(col.name) for row in rows]
        fields.append((col.name, _ARROW_TYPES[col.sql_type]))
    return pa.Table.from_pydict(data, schema=pa.schema(fields))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TIMESTAMP = pa.timestamp("us", tz="UTC")


def _timestamps(values: Sequence[datetime | None]) -> pa.Array:
    """UTC timestamps as Arrow builds them from integers: from aware datetimes it asks each for its offset
    (a Python call per value, most of a batch's table)."""
    micros = [None if v is None else ((v if v.tzinfo is not None else v.replace(tzinfo=UTC)) - _EPOCH) // _MICROSECOND
              for v in values]
    return pa.array(micros, pa.int64()).cast(_TIMESTAMP)


def raw_json(raw: dict[str, Any]) -> str | None:
    """A record's raw object as the store keeps it."""
    return json.dumps(raw, ensure_ascii=False, default=str) if raw else None


def _not_after(value: datetime | None, latest: datetime, now: datetime) -> datetime | None:
    """`value`, or `now` when it is later than `latest` (a clock far off, or a forged date)."""
    if value is None:
        return None
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # naive values are stored as UTC
    return now if aware > latest else value
