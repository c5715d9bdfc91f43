"""The store's append-only decision log, the links in force, and the regrouping decisions cause."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from resolver.errors import StoreError
from resolver.records import Decision, Entity
from resolver.store.base import STORE_ERRORS, StoreBase, load_sql
from resolver.store.results import _group_tables

logger = logging.getLogger(__name__)

_DECISION_COLUMNS = "seq, entity, left_id, right_id, decision, reviewer, decided_at, group_id"

GroupSplitter = Callable[[dict[str, Any]], list[dict[str, Any]]]
"""How one stored group falls apart once reviewers separated some of its members.

Takes the stored group: group_id, entity, members (record ids), pairs (the scan's pairs among them
still allowed: left_id, right_id, match_probability, match_weight, contributions as parsed JSON),
details (record_id -> `record_details` row), cannot_link and must_link (decisions in force among
the members, as (left_id, right_id)), auto_merge_threshold (of the scan that made the group).
Returns the parts of two or more records as `save_scan` takes groups; the caller picks the ids.
"""


class DecisionStore(StoreBase):
    """The part of `Store` holding reviewers' decisions: append, read, and split or rejoin groups."""

    def add_decisions(self, account_id: str, decisions: Sequence[Decision]) -> int:
        """Append reviewer decisions in one transaction; committed (durable) when this returns."""
        if not decisions:
            return 0
        with self.transaction():
            _append_decisions(self, account_id, decisions)
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
            with self.transaction():
                rows = _append_decisions(self, account_id, decisions)
                for entity in sorted({d.entity for d in decisions}):
                    # groups were consistent with the earlier decisions: only these records can need a split
                    ids = sorted({i for d in decisions if d.entity == entity for i in (d.left_id, d.right_id)})
                    self._split_separated(account_id, entity, split, among=ids)
                    joining = sorted({(d.left_id, d.right_id) for d in decisions
                                      if d.entity == entity and d.decision != "not_duplicate"})
                    self._rejoin(account_id, entity, split, joining)
        except STORE_ERRORS as exc:
            raise StoreError(f"store query add_decisions_and_split, nothing was written: {exc}") from exc
        return rows

    def split_separated_groups(self, account_id: str, entity: Entity, *, split: GroupSplitter) -> int:
        """Split every open group holding a pair a reviewer separated; returns how many were split."""
        try:
            with self.transaction():
                return self._split_separated(account_id, entity, split)
        except STORE_ERRORS as exc:
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
            new_rows = _group_tables(account_id, entity, found["scan_id"], parts)
            for table, new in zip(("groups", "group_members"), new_rows, strict=True):
                self._insert_arrow(table, new)
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
            for table, new in zip(("groups", "group_members"), _group_tables(account_id, entity, last[0], parts),
                                  strict=True):
                self._insert_arrow(table, new)
            regrouped += 1
            logger.info("records %s and %s of %s/%s regrouped at once: %d group(s)", a, b, account_id, entity,
                        len(parts))
        return regrouped


def _append_decisions(store: StoreBase, account_id: str, decisions: Sequence[Decision]) -> list[dict[str, Any]]:
    """Step append_decisions (inside the caller's transaction): numbered after the account's last one.

    The account's lock (PostgreSQL; DuckDB's writers take turns anyway) keeps two writers in other
    processes from taking the same numbers.
    """
    now = datetime.now(UTC)
    store._lock_account(account_id)
    (row,) = store.execute("SELECT coalesce(max(seq), 0) FROM decisions WHERE account_id = ?", [account_id],
                           step="append_decisions").fetchall()
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
    store._insert_arrow("decisions", rows)
    return store._dicts(f"SELECT {_DECISION_COLUMNS} FROM decisions WHERE account_id = ? AND seq > ? ORDER BY seq",
                        [account_id, seq], step="appended_decisions")

