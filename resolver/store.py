"""The DuckDB store: schema, idempotent upsert, scan input and results; every query takes account_id.

All SQL execution goes through `Store`, so another backend (PostgreSQL) replaces DuckDB here
and nowhere else. SQL text lives in `resolver/sql/*.sql` where it is more than one line.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from resolver.entities import FEW_MAX, RARE_MAX, EntitySpec, ExtraField, normalize_extra
from resolver.errors import Conflict, InputError, InputProblem, NotFound, StoreError
from resolver.merge_plan import plan_merge
from resolver.records import Decision, Entity, Record

logger = logging.getLogger(__name__)

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


@cache
def load_sql(name: str) -> str:
    """The text of `resolver/sql/<name>.sql`."""
    return (files("resolver") / "sql" / f"{name}.sql").read_text(encoding="utf-8")


class Store:
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
        self._con.execute(load_sql("schema"))

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

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                step: str = "") -> duckdb.DuckDBPyConnection:
        """Run one statement on this thread's cursor; values only as parameters. Fetch from the result."""
        logger.debug("sql step %s", step or "-")
        try:
            return self._cursor().execute(sql, params or [])
        except duckdb.Error as exc:
            raise StoreError(f"store query {step or 'failed'}: {exc}") from exc

    def _stamp(self) -> datetime:
        """The `ingested_at` of a write, taken inside its transaction: strictly increasing in commit order.

        The check's in-memory index reads the rows stamped after the newest it has seen; a stamp
        taken before the writer lock (or a clock stepping back) could commit behind one already
        seen and stay invisible to it.
        """
        with self._lock:
            now = datetime.now(UTC)
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(microseconds=1)
            self._last_stamp = now
            return now

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All or nothing: a failure inside leaves the store as it was. Writers take turns."""
        with self._lock:
            cur = self._cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")

    # -- records --------------------------------------------------------------------------------

    def upsert_records(self, account_id: str, spec: EntitySpec, records: Sequence[Record],
                       normalized: Sequence[dict[str, Any]] | None = None) -> int:
        """Insert or replace records by (account, entity, record_id); an older update never wins.

        `normalized` are the spec's columns per record (computed here when not given). Returns the
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
        try:
            with self.transaction() as con:
                con.register("stage_arrow", table)
                # one row per key: a batch may carry a record twice; the newest copy is the one to keep
                con.execute(
                    "CREATE OR REPLACE TEMP TABLE stage AS SELECT * FROM stage_arrow QUALIFY row_number() OVER "
                    "(PARTITION BY account_id, entity, record_id ORDER BY updated_at DESC NULLS LAST) = 1")
                con.unregister("stage_arrow")
                con.execute("UPDATE stage SET ingested_at = ?", [self._stamp()])
                con.execute("ALTER TABLE stage ADD COLUMN merged_into VARCHAR")
                con.execute(load_sql("keep_merged_marks"))
                con.execute(load_sql("upsert_records"))
                con.execute(load_sql("insert_new_records"))
                con.execute("DELETE FROM record_keys AS k USING stage AS s WHERE k.account_id = s.account_id "
                            "AND k.entity = s.entity AND k.record_id = s.record_id")
                con.execute(_record_keys_sql(spec))
                con.execute("DROP TABLE stage")
        except duckdb.Error as exc:
            raise StoreError(f"upsert into {self.path} failed, nothing was written: {exc}") from exc
        return len(records)

    def count_records(self, account_id: str, entity: Entity) -> int:
        row = self.execute(
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
                query = "SELECT b.* EXCLUDE (extra), b.extra"
                joins = ""
                for i, col in enumerate(spec.frequency_columns):
                    freq = load_sql("value_frequency").replace("{col}", col).replace("{name_col}", spec.name_column)
                    cur.execute(f"CREATE OR REPLACE TEMP TABLE freq_{i} AS {freq}",
                                {"rare_max": RARE_MAX, "few_max": FEW_MAX})
                    query += f", f{i}.{col}_rare, f{i}.{col}_few"
                    joins += f" LEFT JOIN freq_{i} AS f{i} USING (unique_id)"
                table = cur.sql(f"{query} FROM scan_base AS b{joins} ORDER BY b.unique_id").to_arrow_table()
                for i in range(len(spec.frequency_columns)):
                    cur.execute(f"DROP TABLE freq_{i}")
                cur.execute("DROP TABLE scan_base")
            except duckdb.Error as exc:
                raise StoreError(f"store query scan_input: {exc}") from exc
            finally:
                cur.close()
        extra_col = table.column("extra").to_pylist()
        table = table.drop_columns(["extra"])
        for ef in extras:
            values = [normalize_extra(ef.kind, dict(m or {}).get(ef.name)) for m in extra_col]
            table = table.append_column(ef.column, pa.array(values, pa.string()))
        return table

    def record_details(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Display and merge-plan fields of the given records, by record_id."""
        if not record_ids:
            return {}
        cur = self.execute(
            "SELECT record_id, name, phones, emails, responsible_user_id, lead_ids, open_lead_ids, "
            "company_ids, updated_at, created_at FROM records "
            "WHERE account_id = ? AND entity = ? AND record_id IN (SELECT unnest(?::VARCHAR[]))",
            [account_id, entity, list(record_ids)], step="record_details")
        names = [d[0] for d in cur.description]
        return {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}

    def set_extra_fields(self, account_id: str, entity: Entity, extras: Sequence[ExtraField]) -> None:
        """Replace the account's extra-field config for an entity."""
        with self.transaction() as con:
            con.execute("DELETE FROM account_fields WHERE account_id = ? AND entity = ?", [account_id, entity])
            for ef in extras:
                con.execute("INSERT INTO account_fields VALUES (?, ?, ?, ?, ?)",
                            [account_id, entity, ef.name, ef.kind, ef.source])

    def extra_fields(self, account_id: str, entity: Entity) -> list[ExtraField]:
        rows = self.execute(
            "SELECT name, kind, source FROM account_fields WHERE account_id = ? AND entity = ? ORDER BY name",
            [account_id, entity], step="extra_fields").fetchall()
        return [ExtraField(name, kind, source) for name, kind, source in rows]

    def accounts_with_records(self) -> list[str]:
        rows = self.execute("SELECT DISTINCT account_id FROM records ORDER BY 1", step="accounts").fetchall()
        return [r[0] for r in rows]

    # -- decisions (append-only) ----------------------------------------------------------------

    def add_decisions(self, account_id: str, decisions: Sequence[Decision]) -> int:
        """Append reviewer decisions in one transaction; committed (durable) when this returns."""
        if not decisions:
            return 0
        with self.transaction() as con:
            _append_decisions(con, account_id, decisions)
        return len(decisions)

    def decisions(self, account_id: str, entity: Entity | None = None) -> list[Decision]:
        """The whole log of an account (optionally one entity), oldest first."""
        rows = self.execute(
            "SELECT entity, left_id, right_id, decision, reviewer, decided_at, group_id FROM decisions "
            "WHERE account_id = ? AND (? IS NULL OR entity = ?) ORDER BY seq",
            [account_id, entity, entity], step="decisions").fetchall()
        return [Decision(*r) for r in rows]

    def decisions_in_force(self, account_id: str, entity: Entity) -> dict[tuple[str, str], Decision]:
        """(left_id, right_id) -> the latest decision on the pair, for pairs not undone."""
        rows = self.execute(load_sql("decisions_in_force"), [account_id, entity], step="decisions_in_force").fetchall()
        return {(r[1], r[2]): Decision(*r) for r in rows}

    def cannot_links(self, account_id: str, entity: Entity) -> set[tuple[str, str]]:
        """Pairs a reviewer separated (latest decision `not_duplicate`)."""
        return {k for k, d in self.decisions_in_force(account_id, entity).items() if d.decision == "not_duplicate"}

    def separated_from(self, account_id: str, entity: Entity, record_id: str) -> set[str]:
        """Records a reviewer separated from `record_id` (decision in force `not_duplicate`)."""
        rows = self.execute(load_sql("separated_from"),
                            {"account_id": account_id, "entity": entity, "record_id": record_id},
                            step="separated_from").fetchall()
        return {r[0] for r in rows}

    def decision_page(self, account_id: str, *, entity: Entity | None = None, after_seq: int = 0,
                      limit: int = 100) -> list[dict[str, Any]]:
        """The log of an account, oldest first, after decision number `after_seq` (a cursor).

        Each row: seq, entity, left_id, right_id, decision, reviewer, decided_at, group_id.
        """
        return self._dicts(
            f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE account_id = ? AND (? IS NULL OR entity = ?) "
            "AND seq > ? ORDER BY seq LIMIT ?", [account_id, entity, entity, after_seq, limit], step="decision_page")

    def add_decisions_and_split(self, account_id: str, decisions: Sequence[Decision], *,
                                split: GroupSplitter) -> list[dict[str, Any]]:
        """Append decisions and regroup what they change, all in one transaction.

        Every open group a `not_duplicate` separates is split; an `undo` or a `duplicate` joins the
        groups of its two records again where the scored pairs (or the confirmation) link them.

        Durable when this returns, and no reader ever sees a decision whose group is not yet split.
        Returns the decisions as stored (`decision_page` rows). See `_split_separated` for `split`.
        """
        if not decisions:
            return []
        try:
            with self.transaction() as con:
                rows = _append_decisions(con, account_id, decisions)
                for entity in sorted({d.entity for d in decisions}):
                    # groups were consistent with the earlier decisions: only these records can need a split
                    ids = sorted({i for d in decisions if d.entity == entity for i in (d.left_id, d.right_id)})
                    self._split_separated(account_id, entity, split, among=ids)
                    joining = sorted({(d.left_id, d.right_id) for d in decisions
                                      if d.entity == entity and d.decision != "not_duplicate"})
                    self._rejoin(account_id, entity, split, joining)
        except duckdb.Error as exc:
            raise StoreError(f"store query add_decisions_and_split, nothing was written: {exc}") from exc
        return rows

    def split_separated_groups(self, account_id: str, entity: Entity, *, split: GroupSplitter) -> int:
        """Split every open group holding a pair a reviewer separated; returns how many were split."""
        try:
            with self.transaction():
                return self._split_separated(account_id, entity, split)
        except duckdb.Error as exc:
            raise StoreError(f"store query split_separated_groups: {exc}") from exc

    def links_in_force(self, account_id: str, entity: Entity, among: Sequence[str] | None = None
                       ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(separated, confirmed): pairs whose decision in force is `not_duplicate`, `duplicate`.

        Only pairs of two records in `among` when given; all of them when None. One query, no
        Decision objects: a scan reads an account's whole log with it.
        """
        rows = self.execute(load_sql("decisions_in_force_among"),
                            {"account_id": account_id, "entity": entity, "ids": among},
                            step="decisions_in_force_among").fetchall()
        return ({(a, b) for a, b, kind in rows if kind == "not_duplicate"},
                {(a, b) for a, b, kind in rows if kind == "duplicate"})

    def _split_separated(self, account_id: str, entity: Entity, split: GroupSplitter, *,
                         among: Sequence[str] | None = None) -> int:
        """Step split_separated, inside the caller's transaction (this thread's cursor is in it).

        Every open group of the last scan that holds a pair whose decision in force is
        `not_duplicate` (a pair of records in `among`, when given) is replaced by the parts `split`
        returns, and separated pairs are flagged (kept for an undo, never shown). Merged groups
        stay as the widget reported them: that merge happened in the CRM.
        """
        separated_pairs, _ = self.links_in_force(account_id, entity, among)
        if not separated_pairs:
            return 0
        cannot = sorted(separated_pairs)
        scope = {"account_id": account_id, "entity": entity}
        separated = {**scope, "left_ids": [a for a, _ in cannot], "right_ids": [b for _, b in cannot]}
        self.execute("UPDATE pairs AS p SET separated = true FROM (SELECT unnest($left_ids::VARCHAR[]) AS left_id, "
                     "unnest($right_ids::VARCHAR[]) AS right_id) AS c WHERE p.account_id = $account_id "
                     "AND p.entity = $entity AND p.left_id = c.left_id AND p.right_id = c.right_id",
                     separated, step="flag_separated_pairs")
        affected = self._dicts(load_sql("separated_groups"), separated, step="separated_groups")
        for found in affected:
            where = {**scope, "group_id": found["group_id"]}
            members = [m["record_id"] for m in self._dicts(load_sql("group_members_detail"), where,
                                                           step="group_members_detail")]
            pairs = self._dicts(load_sql("group_pairs"), where, step="group_pairs")
            for pair in pairs:
                pair["contributions"] = json.loads(pair["contributions"])
            separated_inside, confirmed_inside = self.links_in_force(account_id, entity, members)
            parts = split({
                "group_id": found["group_id"], "entity": entity, "members": sorted(members), "pairs": pairs,
                "details": self.record_details(account_id, entity, members),
                "cannot_link": separated_inside, "must_link": confirmed_inside,
                "auto_merge_threshold": found["auto_merge_threshold"],
            })
            for table in ("groups", "group_members"):
                self.execute(f"DELETE FROM {table} WHERE account_id = $account_id AND entity = $entity "
                             "AND group_id = $group_id", where, step=f"split_{table}")
            con = self._cursor()
            new_rows = _group_tables(account_id, entity, found["scan_id"], parts)
            for table, new in zip(("groups", "group_members"), new_rows, strict=True):
                con.register("incoming", new)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
                con.unregister("incoming")
            logger.info("group %s of %s/%s split by reviewers' decisions into %d group(s)", found["group_id"],
                        account_id, entity, len(parts))
        return len(affected)

    def _rejoin(self, account_id: str, entity: Entity, split: GroupSplitter,
                pairs: Sequence[tuple[str, str]]) -> int:
        """Step rejoin, inside the caller's transaction: regroup around pairs no longer separated.

        For each pair (an `undo`, a `duplicate`) whose records are live, in no merged group and not
        already together, their open groups and the two records are grouped again by `split` from
        the last scan's pairs among them (an undone separation's pair is unflagged first) and the
        decisions in force. The largest part keeps the id most of its members had. Returns how
        many pairs regrouped.
        """
        if not pairs:
            return 0
        scope = {"account_id": account_id, "entity": entity}
        separated, _ = self.links_in_force(account_id, entity, sorted({i for p in pairs for i in p}))
        undone = [p for p in pairs if p not in separated]
        self.execute("UPDATE pairs AS p SET separated = false FROM (SELECT unnest($left_ids::VARCHAR[]) AS left_id, "
                     "unnest($right_ids::VARCHAR[]) AS right_id) AS c WHERE p.account_id = $account_id "
                     "AND p.entity = $entity AND p.left_id = c.left_id AND p.right_id = c.right_id",
                     {**scope, "left_ids": [a for a, _ in undone], "right_ids": [b for _, b in undone]},
                     step="unflag_separated_pairs")
        last = self.execute("SELECT scan_id, auto_merge_threshold FROM scans WHERE account_id = ? AND entity = ? "
                            "ORDER BY finished_at DESC LIMIT 1", [account_id, entity], step="last_scan").fetchone()
        if last is None:
            return 0
        regrouped = 0
        for a, b in undone:
            rows = self._dicts(load_sql("groups_of_records"), {**scope, "ids": [a, b]}, step="groups_of_records")
            membership = {r["record_id"]: r["group_id"] for r in rows}
            if any(r["status"] != "open" for r in rows) or (a in membership and membership.get(a) == membership.get(b)):
                continue
            members = sorted({a, b} | {r["record_id"] for r in rows if r["live"]})
            live = {r[0] for r in self.execute(
                "SELECT record_id FROM records WHERE account_id = ? AND entity = ? AND NOT deleted "
                "AND merged_into IS NULL AND record_id IN (SELECT unnest(?::VARCHAR[]))",
                [account_id, entity, members], step="live_records").fetchall()}
            if a not in live or b not in live:
                continue
            members = [m for m in members if m in live]
            found = self._dicts(load_sql("pairs_among"), {**scope, "ids": members}, step="pairs_among")
            for pair in found:
                pair["contributions"] = json.loads(pair["contributions"])
            cannot, must = self.links_in_force(account_id, entity, members)
            parts = split({
                "group_id": None, "membership": membership, "entity": entity, "members": members, "pairs": found,
                "details": self.record_details(account_id, entity, members), "cannot_link": cannot,
                "must_link": must, "auto_merge_threshold": last[1],
            })
            for table in ("groups", "group_members"):
                self.execute(f"DELETE FROM {table} WHERE account_id = $account_id AND entity = $entity "
                             "AND group_id IN (SELECT unnest($group_ids::VARCHAR[]))",
                             {**scope, "group_ids": sorted(set(membership.values()))}, step=f"rejoin_{table}")
            con = self._cursor()
            for table, new in zip(("groups", "group_members"), _group_tables(account_id, entity, last[0], parts),
                                  strict=True):
                con.register("incoming", new)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
                con.unregister("incoming")
            regrouped += 1
            logger.info("records %s and %s of %s/%s regrouped at once: %d group(s)", a, b, account_id, entity,
                        len(parts))
        return regrouped

    # -- scan results ---------------------------------------------------------------------------

    def group_membership(self, account_id: str, entity: Entity) -> dict[str, str]:
        """record_id -> group_id of the last scan (for stable group ids)."""
        rows = self.execute(
            "SELECT record_id, group_id FROM group_members WHERE account_id = ? AND entity = ?",
            [account_id, entity], step="group_membership").fetchall()
        return dict(rows)

    def save_scan(self, *, account_id: str, entity: Entity, scan: dict[str, Any], pairs: pa.Table,
                  groups: Sequence[dict[str, Any]]) -> None:
        """Replace the last scan's pairs and groups of (account, entity) in one transaction.

        `pairs` columns: left_id, right_id, match_weight, match_probability, contributions (JSON).
        Each group dict: group_id, group_score, size, needs_review, review_reasons, status,
        survivor_id, merge_plan (dict), members (list of record ids).
        """
        scan_id = scan["scan_id"]
        n = pairs.num_rows
        pairs = pairs.append_column("account_id", pa.array([account_id] * n, pa.string()))
        pairs = pairs.append_column("entity", pa.array([entity] * n, pa.string()))
        pairs = pairs.append_column("scan_id", pa.array([scan_id] * n, pa.string()))
        pairs = pairs.append_column("model_version", pa.array([scan["model_version"]] * n, pa.string()))
        group_rows, member_rows = _group_tables(account_id, entity, scan_id, groups)
        params = [account_id, entity]
        with self.transaction() as con:
            for table in ("pairs", "groups", "group_members"):
                con.execute(f"DELETE FROM {table} WHERE account_id = ? AND entity = ?", params)
            for table, rows in (("pairs", pairs), ("groups", group_rows), ("group_members", member_rows)):
                con.register("incoming", rows)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
                con.unregister("incoming")
            con.execute(
                "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [account_id, entity, scan_id, scan["started_at"], scan["finished_at"], scan["model_version"],
                 scan["review_threshold"], scan["auto_merge_threshold"], scan["n_records"], n, len(groups)])

    def groups_export(self, account_id: str, entity: Entity) -> list[dict[str, Any]]:
        """One row per grouped record of the last scan, best groups first (the groups CSV)."""
        cur = self.execute(load_sql("groups_export"), [account_id, entity], step="groups_export")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def last_scan(self, account_id: str, entity: Entity) -> dict[str, Any] | None:
        cur = self.execute(
            "SELECT * FROM scans WHERE account_id = ? AND entity = ? ORDER BY finished_at DESC LIMIT 1",
            [account_id, entity], step="last_scan")
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    # -- the API: single records, groups and merges, jobs ------------------------------------------

    def _dicts(self, sql: str, params: Sequence[Any] | dict[str, Any], *, step: str) -> list[dict[str, Any]]:
        """Rows as dicts by column name (named `$params` go as a dict)."""
        cur = self.execute(sql, params, step=step)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

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
            with self.transaction() as con:
                found = con.execute("UPDATE records SET deleted = true, ingested_at = ? WHERE account_id = ? "
                                    "AND entity = ? AND record_id = ? RETURNING record_id",
                                    [self._stamp(), *key]).fetchall()
                con.execute("DELETE FROM record_keys WHERE account_id = ? AND entity = ? AND record_id = ?", key)
        except duckdb.Error as exc:
            raise StoreError(f"store query mark_deleted: {exc}") from exc
        return bool(found)

    def groups_page(self, account_id: str, *, entity: Entity | None = None, min_score: float | None = None,
                    max_score: float | None = None, status: str | None = None, needs_review: bool | None = None,
                    after: tuple[float, str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Groups of the last scans, best first, after the cursor `after` = (group_score, group_id).

        Each row: group_id, entity, group_score, needs_review, review_reasons, status, survivor_id,
        record_ids (survivor first), names (in record_ids order). Open groups show only records still
        live (groups_page.sql).
        """
        params = {"account_id": account_id, "entity": entity, "min_score": min_score, "max_score": max_score,
                  "status": status, "needs_review": needs_review, "after_score": after[0] if after else None,
                  "after_id": after[1] if after else None, "limit": limit}
        return self._dicts(load_sql("groups_page"), params, step="groups_page")

    def groups_summary(self, account_id: str, *, entity: Entity | None = None, min_score: float | None = None,
                       max_score: float | None = None, status: str | None = None,
                       needs_review: bool | None = None) -> list[dict[str, Any]]:
        """Counts of the groups `groups_page` would list under the same filters.

        Each row: entity, status, needs_review, groups, records (members counted as the page shows them).
        """
        params = {"account_id": account_id, "entity": entity, "min_score": min_score, "max_score": max_score,
                  "status": status, "needs_review": needs_review}
        return self._dicts(load_sql("groups_summary"), params, step="groups_summary")

    def group(self, account_id: str, group_id: str, *, survivor_id: str | None = None) -> dict[str, Any] | None:
        """One group with `members`, `pairs` among them (contributions parsed), `merge_plan` (parsed) and
        `decisions`: {left_id, right_id, decision} in force between its members (a `duplicate` confirmed).

        With `survivor_id` the merge plan is made anew around that member (a reviewer's choice);
        InputError (field `survivor`) when it is not a member of the group.
        """
        rows = self._dicts("SELECT * EXCLUDE (account_id) FROM groups WHERE account_id = ? AND group_id = ?",
                           [account_id, group_id], step="group")
        if not rows:
            return None
        group = rows[0]
        where = {"account_id": account_id, "entity": group["entity"], "group_id": group_id}
        group["merge_plan"] = json.loads(group["merge_plan"])
        group["members"] = self._dicts(load_sql("group_members_detail"), where, step="group_members_detail")
        group["pairs"] = self._dicts(load_sql("group_pairs"), where, step="group_pairs")
        for pair in group["pairs"]:
            pair["contributions"] = json.loads(pair["contributions"])
        separated, confirmed = self.links_in_force(account_id, group["entity"],
                                                   [m["record_id"] for m in group["members"]])
        group["decisions"] = sorted(
            [{"left_id": a, "right_id": b, "decision": "not_duplicate"} for a, b in separated]
            + [{"left_id": a, "right_id": b, "decision": "duplicate"} for a, b in confirmed],
            key=lambda d: (d["left_id"], d["right_id"]))
        if survivor_id is not None:
            # as groups_page counts them: an open group's records deleted or merged away since are gone
            planned = [m["record_id"] for m in group["members"]
                       if group["status"] == "merged" or (not m["deleted"] and m["merged_into"] is None)]
            if survivor_id not in planned:
                raise InputError.one(f"record {survivor_id} is not a member of group {group_id}", field="survivor")
            details = self.record_details(account_id, group["entity"], planned)
            group["merge_plan"] = plan_merge([details[i] for i in planned], survivor_id=survivor_id)
        return group

    def record_merge(self, account_id: str, group_id: str, *, survivor_id: str,
                     absorbed_ids: Sequence[str]) -> dict[str, Any]:
        """Record the merge the CRM made in a group: the absorbed records point at the survivor.

        Absorbed records leave scans, checks and open groups; the group becomes `merged`. A repeat
        answers the same, and the same survivor with more absorbed members adds them.

        Returns group_id, entity, status, survivor_id and absorbed_ids (every member merged into the
        survivor, sorted). Raises NotFound (no such group in the account), InputError (ids outside
        the group, the survivor among the absorbed) or Conflict (merged before with another survivor).
        """
        try:
            with self.transaction() as con:
                row = con.execute("SELECT entity, status, survivor_id FROM groups WHERE account_id = ? "
                                  "AND group_id = ?", [account_id, group_id]).fetchone()
                if row is None:
                    raise NotFound(f"no group {group_id} in this account")
                entity, status, current = row
                scope = [account_id, entity, group_id]
                members = {r[0] for r in con.execute(
                    "SELECT record_id FROM group_members WHERE account_id = ? AND entity = ? AND group_id = ?",
                    scope).fetchall()}
                problems = _merge_problems(group_id, members, survivor_id, absorbed_ids)
                if problems:
                    raise InputError(problems)
                if status == "merged" and current != survivor_id:
                    raise Conflict(f"group {group_id} was merged into {current}, not {survivor_id}")
                absorbed = sorted(set(absorbed_ids))
                ids = [account_id, entity, absorbed]
                con.execute("UPDATE records SET merged_into = ?, ingested_at = ? WHERE account_id = ? "
                            "AND entity = ? AND record_id IN (SELECT unnest(?::VARCHAR[]))",
                            [survivor_id, self._stamp(), *ids])  # ingested_at: see mark_deleted
                con.execute("DELETE FROM record_keys WHERE account_id = ? AND entity = ? "
                            "AND record_id IN (SELECT unnest(?::VARCHAR[]))", ids)
                con.execute("UPDATE groups SET status = 'merged', survivor_id = ? WHERE account_id = ? "
                            "AND entity = ? AND group_id = ?", [survivor_id, *scope])
                con.execute("UPDATE group_members SET is_survivor = (record_id = ?) WHERE account_id = ? "
                            "AND entity = ? AND group_id = ?", [survivor_id, *scope])
                merged = [r[0] for r in con.execute(
                    "SELECT record_id FROM records WHERE account_id = ? AND entity = ? AND merged_into = ? "
                    "AND record_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY record_id",
                    [account_id, entity, survivor_id, sorted(members)]).fetchall()]
        except duckdb.Error as exc:
            raise StoreError(f"store query record_merge: {exc}") from exc
        return {"group_id": group_id, "entity": entity, "status": "merged", "survivor_id": survivor_id,
                "absorbed_ids": merged}

    def create_job(self, account_id: str, *, kind: str, entity: Entity | None) -> dict[str, Any]:
        """A new `queued` job of the account; returns it as `job` does."""
        job_id = uuid.uuid4().hex
        self.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, 'queued', 0, ?, NULL, NULL, NULL)",
                     [job_id, account_id, kind, entity, datetime.now(UTC)], step="create_job")
        job = self.job(account_id, job_id)
        assert job is not None  # just written
        return job

    def job(self, account_id: str, job_id: str) -> dict[str, Any] | None:
        """A job of the account (another account's job is None): status, percent, result (parsed), error."""
        rows = self._dicts("SELECT * EXCLUDE (account_id) FROM jobs WHERE account_id = ? AND job_id = ?",
                           [account_id, job_id], step="job")
        if not rows:
            return None
        job = rows[0]
        job["result"] = json.loads(job["result"]) if job["result"] else None
        return job

    def update_job(self, account_id: str, job_id: str, *, status: str, percent: float,
                   result: dict[str, Any] | None = None, error: str | None = None) -> None:
        """Move a job on; `done` and `failed` also stamp finished_at."""
        finished = datetime.now(UTC) if status in ("done", "failed") else None
        self.execute(
            "UPDATE jobs SET status = ?, percent = ?, finished_at = coalesce(?, finished_at), "
            "result = coalesce(?, result), error = coalesce(?, error) WHERE account_id = ? AND job_id = ?",
            [status, percent, finished, json.dumps(result) if result is not None else None, error, account_id,
             job_id], step="update_job")

    def fail_unfinished_jobs(self, reason: str) -> int:
        """Mark every queued or running job failed; returns how many.

        Called once when a process starts its job runner: the queue lived in the memory of a process
        that is gone, so nothing will ever finish these. The only query across accounts, on purpose.
        """
        rows = self._dicts(
            "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE status IN ('queued', 'running') "
            "RETURNING job_id", [reason, datetime.now(UTC)], step="fail_unfinished_jobs")
        return len(rows)


_DECISION_COLUMNS = "seq, entity, left_id, right_id, decision, reviewer, decided_at, group_id"

GroupSplitter = Callable[[dict[str, Any]], list[dict[str, Any]]]
"""How one stored group falls apart once reviewers separated some of its members.

Takes the stored group: group_id, entity, members (record ids), pairs (the scan's pairs among them
still allowed: left_id, right_id, match_probability, match_weight, contributions as parsed JSON),
details (record_id -> `record_details` row), cannot_link and must_link (decisions in force among
the members, as (left_id, right_id)), auto_merge_threshold (of the scan that made the group).
Returns the parts of two or more records as `save_scan` takes groups; the caller picks the ids.
"""


def _append_decisions(con: duckdb.DuckDBPyConnection, account_id: str,
                      decisions: Sequence[Decision]) -> list[dict[str, Any]]:
    """Step append_decisions (inside the caller's transaction): numbered after the account's last one."""
    now = datetime.now(UTC)
    (row,) = con.execute("SELECT coalesce(max(seq), 0) FROM decisions WHERE account_id = ?", [account_id]).fetchall()
    seq = int(row[0])
    n = len(decisions)
    # one Arrow insert: executemany runs a statement per row (24 s for 50,000 decisions, 0.5 s this way)
    rows = pa.table({
        "account_id": pa.array([account_id] * n, pa.string()), "entity": [d.entity for d in decisions],
        "seq": pa.array(range(seq + 1, seq + n + 1), pa.int64()), "left_id": [d.left_id for d in decisions],
        "right_id": [d.right_id for d in decisions], "decision": [d.decision for d in decisions],
        "reviewer": pa.array([d.reviewer for d in decisions], pa.string()),
        "decided_at": pa.array([d.decided_at or now for d in decisions], pa.timestamp("us", tz="UTC")),
        "group_id": pa.array([d.group_id for d in decisions], pa.string()),
    })
    con.register("incoming_decisions", rows)
    con.execute("INSERT INTO decisions BY NAME SELECT * FROM incoming_decisions")
    con.unregister("incoming_decisions")
    cur = con.execute(f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE account_id = ? AND seq > ? ORDER BY seq",
                      [account_id, seq])
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _group_tables(account_id: str, entity: Entity, scan_id: str,
                  groups: Sequence[dict[str, Any]]) -> tuple[pa.Table, pa.Table]:
    """Rows of `groups` and `group_members` for groups as `save_scan` takes them."""
    group_rows = pa.Table.from_pylist([
        {"account_id": account_id, "entity": entity, "group_id": g["group_id"], "scan_id": scan_id,
         "group_score": float(g["group_score"]), "size": len(g["members"]),
         "needs_review": bool(g["needs_review"]), "review_reasons": list(g["review_reasons"]),
         "status": g.get("status", "open"), "survivor_id": g["survivor_id"],
         "merge_plan": json.dumps(g["merge_plan"], ensure_ascii=False, default=str)}
        for g in groups
    ], schema=_GROUPS_SCHEMA)
    member_rows = pa.Table.from_pylist([
        {"account_id": account_id, "entity": entity, "group_id": g["group_id"], "record_id": m,
         "is_survivor": m == g["survivor_id"]}
        for g in groups for m in g["members"]
    ], schema=_MEMBERS_SCHEMA)
    return group_rows, member_rows


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


def _merge_problems(group_id: str, members: set[str], survivor_id: str,
                    absorbed_ids: Sequence[str]) -> list[InputProblem]:
    """Why a reported merge does not fit its group: every problem, each naming its field."""
    problems = []
    if survivor_id not in members:
        problems.append(InputProblem(f"record {survivor_id} is not a member of group {group_id}", field="survivor_id"))
    if not absorbed_ids:
        problems.append(InputProblem("name at least one absorbed record", field="absorbed_ids"))
    for i, record_id in enumerate(absorbed_ids):
        if record_id == survivor_id:
            problems.append(InputProblem("the survivor cannot be absorbed into itself", field=f"absorbed_ids[{i}]"))
        elif record_id not in members:
            problems.append(InputProblem(f"record {record_id} is not a member of group {group_id}",
                                         field=f"absorbed_ids[{i}]"))
    return problems


_GROUPS_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("entity", pa.string()), ("group_id", pa.string()), ("scan_id", pa.string()),
    ("group_score", pa.float64()), ("size", pa.int32()), ("needs_review", pa.bool_()),
    ("review_reasons", pa.list_(pa.string())), ("status", pa.string()), ("survivor_id", pa.string()),
    ("merge_plan", pa.string()),
])
_MEMBERS_SCHEMA = pa.schema([
    ("account_id", pa.string()), ("entity", pa.string()), ("group_id", pa.string()),
    ("record_id", pa.string()), ("is_survivor", pa.bool_()),
])


def _records_arrow(account_id: str, spec: EntitySpec, records: Sequence[Record],
                   rows: Sequence[dict[str, Any]]) -> pa.Table:
    now = datetime.now(UTC)
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
        "created_at": [r.created_at for r in records],
        "updated_at": [r.updated_at for r in records],
        "deleted": [r.deleted for r in records],
        "ingested_at": [now] * n,
        "raw": [json.dumps(r.raw, ensure_ascii=False, default=str) if r.raw else None for r in records],
        "extra": [list(r.extra.items()) for r in records],
    }
    fields = list(_BASE_COLUMNS)
    for col in spec.columns:
        data[col.name] = [row.get(col.name) for row in rows]
        fields.append((col.name, _ARROW_TYPES[col.sql_type]))
    return pa.Table.from_pydict(data, schema=pa.schema(fields))
