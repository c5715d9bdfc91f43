"""What an incremental scan reads and writes (resolver/incremental.py): the last scan's state, the records
changed since, their blocking partners, and base-wide counts of the values they hold.

Every query here is bounded by the changed records and their neighbours, never by the base: an
incremental scan of a few records in a base of hundreds of thousands reads only what it scores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa

from resolver.entities import EntitySpec
from resolver.records import Entity
from resolver.store.base import StoreBase, load_sql

_LIVE = "NOT deleted AND merged_into IS NULL"


class ScanStateStore(StoreBase):
    """The part of `Store` an incremental scan runs on."""

    def scan_snapshot(self, account_id: str, entity: Entity) -> datetime | None:
        """The newest `ingested_at` of the account's records (deleted and merged ones too): every later
        write stamps a later one, so records stamped after it are the ones changed since."""
        row = self._execute("SELECT max(ingested_at) FROM records WHERE account_id = ? AND entity = ?",
                            [account_id, entity], step="scan_snapshot").fetchone()
        return row[0] if row else None

    def scan_state(self, account_id: str, entity: Entity) -> dict[str, Any] | None:
        """The state the last scan left (scan_id, snapshot, model_key, n_base, totals), or None."""
        rows = self._dicts("SELECT scan_id, snapshot, model_key, n_base, totals FROM scan_state "
                           "WHERE account_id = ? AND entity = ?", [account_id, entity], step="scan_state")
        if not rows:
            return None
        state = rows[0]
        state["totals"] = json.loads(state["totals"])
        return state

    def save_scan_state(self, account_id: str, entity: Entity, state: dict[str, Any], vals: pa.Table, *,
                        replace: Sequence[str] | None = None) -> None:
        """Store the scan's state and its records' values (`vals`: record_id, vals).

        `replace`: the records whose values change (an incremental scan); None: all of them (a full scan).
        """
        params = [account_id, entity]
        n = vals.num_rows
        rows = pa.table({"account_id": pa.array([account_id] * n, pa.string()),
                         "entity": pa.array([entity] * n, pa.string()),
                         "record_id": vals.column("record_id"), "vals": vals.column("vals")})
        with self._transaction() as con:
            con.execute("DELETE FROM scan_state WHERE account_id = ? AND entity = ?", params)
            con.execute("INSERT INTO scan_state VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [account_id, entity, state["scan_id"], state["snapshot"], state["model_key"],
                         state["n_base"], json.dumps(state["totals"], sort_keys=True)])
            if replace is None:
                con.execute("DELETE FROM scan_records WHERE account_id = ? AND entity = ?", params)
            elif replace:
                con.execute("DELETE FROM scan_records WHERE account_id = ? AND entity = ? "
                            "AND record_id IN (SELECT unnest(?::VARCHAR[]))", [*params, sorted(replace)])
            if n:
                self._insert_arrow("scan_records", rows)

    def scan_vals(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> dict[str, list[str]]:
        """record_id -> its values as the last scan stored them (records it did not score are absent)."""
        rows = self._execute(
            "SELECT record_id, vals FROM scan_records WHERE account_id = ? AND entity = ? "
            "AND record_id IN (SELECT unnest(?::VARCHAR[]))", [account_id, entity, list(record_ids)],
            step="scan_vals").fetchall()
        return {r: list(v or ()) for r, v in rows}

    def scan_holders(self, account_id: str, entity: Entity, vals: Sequence[str], *,
                     scalar: Sequence[str] = ()) -> dict[str, list[str]]:
        """record_id -> stored values, of the scanned records holding any of `vals` ("<column>:<value>") now:
        found by index, a list column's values as blocking keys (`record_keys`), a column of `scalar` in the
        records. A changed record that no longer holds them is absent (the caller knows its stored values)."""
        if not vals:
            return {}
        found = [f'r."{c}" IN (SELECT substr(v, {len(c) + 2}) FROM wanted WHERE split_part(v, \':\', 1) = \'{c}\')'
                 for c in scalar if c.isidentifier()]
        sql = load_sql("scan_holders").replace("/* scalar */ false", " OR ".join(found) or "false")
        rows = self._execute(sql, {"account_id": account_id, "entity": entity, "vals": sorted(set(vals))},
                             step="scan_holders").fetchall()
        return {r: list(v or ()) for r, v in rows}

    def candidate_pairs(self, account_id: str, entity: Entity, record_ids: Sequence[str],
                        groups: Sequence[tuple[Sequence[str], bool, int]], *, kept_keys: Sequence[str],
                        code: str, pruned: Sequence[tuple[int, int]]) -> list[tuple[str, str, bool]]:
        """(left_id, right_id, stored) of the pairs (left < right) of live records an incremental scan scores
        again, in one indexed query, and whether the last scan stored each:

        - the pairs sharing a blocking key (`record_keys`) with one of `record_ids` (bound 0);
        - per group (holders, all, bound): the pairs of its holders sharing a key when `all`, and its stored pairs;

        leaving out those whose (bound, `code`) is in `pruned` (`code`: an integer SQL expression over `l`/`r`,
        the two records' columns), unless they share a key of a column in `kept_keys` (Splink's rules before
        the pruned one make those) or are stored pairs (scored again whatever their bound: their stored score
        is replaced).
        """
        if not record_ids and not groups:
            return []
        group_ids = [i for i, (holders, _, _) in enumerate(groups) for _ in holders]
        holders = [h for hs, _, _ in groups for h in hs]
        bounds = [bound for hs, _, bound in groups for _ in hs]
        full = [i for i, (_, every, _) in enumerate(groups) if every]
        kept = " OR ".join(f"split_part(key, ':', 1) = '{c}'" for c in kept_keys if c.isidentifier()) or "false"
        sql = load_sql("candidate_pairs").replace("/* kept */ false", f"({kept})").replace("/* code */ 0", code)
        rows = self._execute(sql, {"account_id": account_id, "entity": entity, "ids": sorted(set(record_ids)),
                                   "g": group_ids, "holders": holders, "bound": bounds, "full": full,
                                   "pruned_bound": [b for b, _ in pruned], "pruned_code": [c for _, c in pruned]},
                             step="candidate_pairs")
        return [(a, b, bool(stored)) for a, b, stored in rows.fetchall()]

    def live_rows(self, account_id: str, spec: EntitySpec, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The spec's normalized columns of those of `record_ids` that are live, as `unique_id` + columns."""
        cols = ", ".join(f'"{c.name}"' for c in spec.columns)
        return self._dicts(
            f"SELECT record_id AS unique_id, {cols} FROM records WHERE account_id = ? AND entity = ? AND {_LIVE} "
            "AND record_id IN (SELECT unnest(?::VARCHAR[]))", [account_id, spec.entity, list(record_ids)],
            step="live_rows")

    def names_per_key(self, account_id: str, spec: EntitySpec, column: str, values: Sequence[str]) -> dict[str, int]:
        """value -> distinct `spec.name_column` values of the live records holding it in `column` (a blocking
        key column), over the whole base: value_frequency.sql's count for just these values."""
        if not values:
            return {}
        prefix = f"{column}:"
        rows = self._execute(
            f'SELECT k.key, count(DISTINCT r."{spec.name_column}") FROM record_keys AS k JOIN records AS r '
            "ON r.account_id = k.account_id AND r.entity = k.entity AND r.record_id = k.record_id "
            "WHERE k.account_id = ? AND k.entity = ? AND k.key IN (SELECT unnest(?::VARCHAR[])) "
            "AND NOT r.deleted AND r.merged_into IS NULL "
            "GROUP BY k.key", [account_id, spec.entity, sorted({prefix + v for v in values})],
            step="names_per_key").fetchall()
        return {k[len(prefix):]: int(n) for k, n in rows}

    def value_totals(self, account_id: str, entity: Entity, column: str,
                     values: Sequence[str]) -> tuple[dict[str, int], int]:
        """(value -> live records holding it in the scalar `column`, live records with `column` set)."""
        base = f"FROM records WHERE account_id = ? AND entity = ? AND {_LIVE}"
        total = self._execute(f'SELECT count("{column}") {base}', [account_id, entity],
                              step="value_totals").fetchone()
        counts = self._execute(
            f'SELECT "{column}", count(*) {base} AND "{column}" IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1',
            [account_id, entity, sorted(set(values))], step="value_totals").fetchall() if values else []
        return {v: int(n) for v, n in counts}, int(total[0]) if total else 0

    def replace_pairs_of(self, account_id: str, entity: Entity, record_ids: Sequence[str], pairs: pa.Table, *,
                         scan: dict[str, Any], drop: Sequence[tuple[str, str]] = ()) -> None:
        """Drop the stored pairs touching `record_ids` and the pairs `drop` (left < right), store `pairs` (as
        `save_scan` takes them) as pairs of scan `scan["scan_id"]`, and record the scan with the counts the
        store then holds."""
        n = pairs.num_rows
        rows = pairs.append_column("account_id", pa.array([account_id] * n, pa.string()))
        rows = rows.append_column("entity", pa.array([entity] * n, pa.string()))
        rows = rows.append_column("scan_id", pa.array([scan["scan_id"]] * n, pa.string()))
        rows = rows.append_column("model_version", pa.array([scan["model_version"]] * n, pa.string()))
        params = [account_id, entity]
        with self._transaction() as con:
            con.execute("DELETE FROM pairs WHERE account_id = ? AND entity = ? AND (left_id IN "
                        "(SELECT unnest(?::VARCHAR[])) OR right_id IN (SELECT unnest(?::VARCHAR[])))",
                        [*params, sorted(record_ids), sorted(record_ids)])
            if drop:
                con.execute("DELETE FROM pairs WHERE account_id = ? AND entity = ? AND left_id || chr(31) || right_id "
                            "IN (SELECT unnest(?::VARCHAR[]))", [*params, sorted(f"{a}\x1f{b}" for a, b in drop)])
            if n:
                self._insert_arrow("pairs", rows)
            n_pairs = con.execute("SELECT count(*) FROM pairs WHERE account_id = ? AND entity = ?", params).fetchone()
            n_groups = con.execute("SELECT count(*) FROM groups WHERE account_id = ? AND entity = ?",
                                   params).fetchone()
            con.execute(
                "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [account_id, entity, scan["scan_id"], scan["started_at"], scan["finished_at"], scan["model_version"],
                 scan["review_threshold"], scan["auto_merge_threshold"], scan["n_records"],
                 int(n_pairs[0]) if n_pairs else 0, int(n_groups[0]) if n_groups else 0])

    def pairs_touching(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The stored pairs with either record in `record_ids`: left_id, right_id, match_probability,
        match_weight, contributions (JSON), separated."""
        if not record_ids:
            return []
        return self._dicts(load_sql("pairs_touching"), {"account_id": account_id, "entity": entity,
                                                        "ids": sorted(set(record_ids))}, step="pairs_touching")
