"""The store's append-only decision log and the links in force (the regroup they cause is resolver/feedback.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from resolver.records import Decision, Entity
from resolver.store.base import StoreBase, load_sql

_DECISION_COLUMNS = "seq, entity, left_id, right_id, decision, reviewer, decided_at, group_id"


class DecisionStore(StoreBase):
    """The part of `Store` holding reviewers' decisions: append and read."""

    def add_decisions(self, account_id: str, decisions: Sequence[Decision]) -> int:
        """Append reviewer decisions in one transaction; committed (durable) when this returns."""
        if not decisions:
            return 0
        with self._transaction() as con:
            _append_decisions(con, account_id, decisions)
        return len(decisions)

    def decisions(self, account_id: str, entity: Entity | None = None) -> list[Decision]:
        """The whole log of an account (optionally one entity), oldest first."""
        rows = self._execute(
            "SELECT entity, left_id, right_id, decision, reviewer, decided_at, group_id FROM decisions "
            "WHERE account_id = ? AND (? IS NULL OR entity = ?) ORDER BY seq",
            [account_id, entity, entity], step="decisions").fetchall()
        return [Decision(*r) for r in rows]

    def decisions_in_force(self, account_id: str, entity: Entity) -> dict[tuple[str, str], Decision]:
        """(left_id, right_id) -> the latest decision on the pair, for pairs not undone."""
        rows = self._execute(load_sql("decisions_in_force"), [account_id, entity], step="decisions_in_force").fetchall()
        return {(r[1], r[2]): Decision(*r) for r in rows}

    def cannot_links(self, account_id: str, entity: Entity) -> set[tuple[str, str]]:
        """Pairs a reviewer separated (latest decision `not_duplicate`)."""
        return {k for k, d in self.decisions_in_force(account_id, entity).items() if d.decision == "not_duplicate"}

    def separated_from(self, account_id: str, entity: Entity, record_id: str) -> set[str]:
        """Records a reviewer separated from `record_id` (decision in force `not_duplicate`)."""
        rows = self._execute(load_sql("separated_from"),
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

    def append_decisions(self, account_id: str, decisions: Sequence[Decision]) -> list[dict[str, Any]]:
        """`add_decisions` returning the decisions as stored (`decision_page` rows), for a caller's unit of work.

        Joins the caller's `transaction()` when there is one (the regroup after a decision,
        resolver/feedback.py), else commits on its own.
        """
        if not decisions:
            return []
        with self._transaction() as con:
            return _append_decisions(con, account_id, decisions)

    def links_in_force(self, account_id: str, entity: Entity, among: Sequence[str] | None = None
                       ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
        """(separated, confirmed): pairs whose decision in force is `not_duplicate`, `duplicate`.

        Only pairs of two records in `among` when given; all of them when None. One query, no
        Decision objects: a scan reads an account's whole log with it.
        """
        rows = self._execute(load_sql("decisions_in_force_among"),
                            {"account_id": account_id, "entity": entity, "ids": among},
                            step="decisions_in_force_among").fetchall()
        return ({(a, b) for a, b, kind in rows if kind == "not_duplicate"},
                {(a, b) for a, b, kind in rows if kind == "duplicate"})


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

