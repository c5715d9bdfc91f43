"""The store's scan results: pairs and groups of the last scan, their pages, exports and merges."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from resolver.errors import Conflict, InputError, InputProblem, NotFound, StoreError
from resolver.explain import parse_contributions
from resolver.merge_plan import plan_merge
from resolver.records import Entity, Group, Pair
from resolver.store.base import STORE_ERRORS, StoreBase, load_sql

_GROUP_COLUMNS = ("entity, group_id, scan_id, group_score, size, needs_review, review_reasons, status, survivor_id, "
                  "merge_plan")


class ResultStore(StoreBase):
    """The part of `Store` holding what a scan found: pairs, groups, and the merges made in them."""

    def group_membership(self, account_id: str, entity: Entity) -> dict[str, str]:
        """record_id -> group_id of the last scan (for stable group ids)."""
        rows = self._execute(
            "SELECT record_id, group_id FROM group_members WHERE account_id = ? AND entity = ?",
            [account_id, entity], step="group_membership").fetchall()
        return dict(rows)

    def save_scan(self, *, account_id: str, entity: Entity, scan: dict[str, Any], pairs: pa.Table,
                  groups: Sequence[Group]) -> None:
        """Replace the last scan's pairs and groups of (account, entity) in one transaction.

        `pairs` columns: left_id, right_id, match_weight, match_probability, contributions (JSON),
        separated.
        """
        scan_id = scan["scan_id"]
        n = pairs.num_rows
        pairs = pairs.append_column("account_id", pa.array([account_id] * n, pa.string()))
        pairs = pairs.append_column("entity", pa.array([entity] * n, pa.string()))
        pairs = pairs.append_column("scan_id", pa.array([scan_id] * n, pa.string()))
        pairs = pairs.append_column("model_version", pa.array([scan["model_version"]] * n, pa.string()))
        group_rows, member_rows = _group_tables(account_id, entity, scan_id, groups)
        params = [account_id, entity]
        with self._transaction() as con:
            for table in ("pairs", "groups", "group_members"):
                con.execute(f"DELETE FROM {table} WHERE account_id = ? AND entity = ?", params)
            for table, rows in (("pairs", pairs), ("groups", group_rows), ("group_members", member_rows)):
                self._insert_arrow(table, rows)
            con.execute(
                "INSERT INTO scans VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [account_id, entity, scan_id, scan["started_at"], scan["finished_at"], scan["model_version"],
                 scan["review_threshold"], scan["auto_merge_threshold"], scan["n_records"], n, len(groups)])

    # -- primitives of the regroup after a decision (resolver/feedback.py), run inside its transaction --

    def set_pairs_separated(self, account_id: str, entity: Entity, pairs: Sequence[tuple[str, str]], *,
                            separated: bool) -> None:
        """Flag (or unflag) stored pairs of the last scan as separated by a reviewer: kept for an undo, never shown."""
        if not pairs:
            return
        self._execute("UPDATE pairs AS p SET separated = $separated FROM (SELECT unnest($left_ids::VARCHAR[]) AS "
                      "left_id, unnest($right_ids::VARCHAR[]) AS right_id) AS c WHERE p.account_id = $account_id "
                      "AND p.entity = $entity AND p.left_id = c.left_id AND p.right_id = c.right_id",
                      {"account_id": account_id, "entity": entity, "separated": separated,
                       "left_ids": [a for a, _ in pairs], "right_ids": [b for _, b in pairs]},
                      step="flag_separated_pairs")

    def open_groups_holding(self, account_id: str, entity: Entity,
                            pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Open groups of the last scan holding both records of one of `pairs`: group_id, scan_id,
        auto_merge_threshold (of the scan that made the group), by group_id."""
        return self._dicts(load_sql("separated_groups"),
                           {"account_id": account_id, "entity": entity, "left_ids": [a for a, _ in pairs],
                            "right_ids": [b for _, b in pairs]}, step="separated_groups")

    def group_member_ids(self, account_id: str, entity: Entity, group_id: str) -> list[str]:
        """The record ids of one group's members, sorted."""
        rows = self._execute("SELECT record_id FROM group_members WHERE account_id = ? AND entity = ? "
                             "AND group_id = ? ORDER BY record_id", [account_id, entity, group_id],
                             step="group_member_ids").fetchall()
        return [r[0] for r in rows]

    def group_pairs(self, account_id: str, entity: Entity, group_id: str) -> list[Pair]:
        """The last scan's pairs among one group's members, not separated, strongest first."""
        return _pairs(entity, self._dicts(load_sql("group_pairs"), {"account_id": account_id, "entity": entity,
                                                                    "group_id": group_id}, step="group_pairs"))

    def pairs_among(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[Pair]:
        """The last scan's pairs not separated between any two of `record_ids`, strongest first."""
        return _pairs(entity, self._dicts(load_sql("pairs_among"), {"account_id": account_id, "entity": entity,
                                                                    "ids": list(record_ids)}, step="pairs_among"))

    def groups_of_records(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Every member of the groups holding any of `record_ids`: group_id, status, scan_id, record_id,
        live (false for a member deleted or merged since the scan)."""
        return self._dicts(load_sql("groups_of_records"), {"account_id": account_id, "entity": entity,
                                                           "ids": list(record_ids)}, step="groups_of_records")

    def live_record_ids(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> set[str]:
        """Those of `record_ids` the account holds neither deleted nor merged away."""
        rows = self._execute(
            "SELECT record_id FROM records WHERE account_id = ? AND entity = ? AND NOT deleted "
            "AND merged_into IS NULL AND record_id IN (SELECT unnest(?::VARCHAR[]))",
            [account_id, entity, list(record_ids)], step="live_records").fetchall()
        return {r[0] for r in rows}

    def replace_groups(self, account_id: str, entity: Entity, scan_id: str, removed: Sequence[str],
                       groups: Sequence[Group]) -> None:
        """Drop the groups `removed` and store `groups` (as `save_scan` takes them) as groups of scan `scan_id`."""
        with self._transaction() as con:
            for table in ("groups", "group_members"):
                con.execute(f"DELETE FROM {table} WHERE account_id = ? AND entity = ? "
                            "AND group_id IN (SELECT unnest(?::VARCHAR[]))", [account_id, entity, sorted(removed)])
            for table, new in zip(("groups", "group_members"), _group_tables(account_id, entity, scan_id, groups),
                                  strict=True):
                self._insert_arrow(table, new)

    def groups_export(self, account_id: str, entity: Entity) -> list[dict[str, Any]]:
        """One row per grouped record of the last scan, best groups first (the groups CSV)."""
        cur = self._execute(load_sql("groups_export"), [account_id, entity], step="groups_export")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def last_scan(self, account_id: str, entity: Entity) -> dict[str, Any] | None:
        cur = self._execute(
            "SELECT * FROM scans WHERE account_id = ? AND entity = ? ORDER BY finished_at DESC LIMIT 1",
            [account_id, entity], step="last_scan")
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

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
        rows = self._dicts(f"SELECT {_GROUP_COLUMNS} FROM groups WHERE account_id = ? AND group_id = ?",
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
                     absorbed_ids: Sequence[str], merged_by: str | None = None) -> dict[str, Any]:
        """Record the merge the CRM made in a group: the absorbed records point at the survivor.

        Absorbed records leave scans, checks and open groups; the group becomes `merged`. A repeat
        answers the same, and the same survivor with more absorbed members adds them.

        Returns group_id, entity, status, survivor_id and absorbed_ids (every member merged into the
        survivor, sorted). Raises NotFound (no such group in the account), InputError (ids outside
        the group, the survivor among the absorbed) or Conflict (merged before with another survivor).
        """
        try:
            with self._transaction() as con:
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
                self._keep_before_images(con, account_id, entity, group_id, survivor_id, absorbed, merged_by)
                ids = [account_id, entity, absorbed]
                con.execute("UPDATE records SET merged_into = ?, ingested_at = ? WHERE account_id = ? "
                            "AND entity = ? AND record_id IN (SELECT unnest(?::VARCHAR[]))",
                            [survivor_id, self._stamp(account_id, entity), *ids])  # ingested_at: see mark_deleted
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
        except STORE_ERRORS as exc:
            raise StoreError(f"store query record_merge: {exc}") from exc
        return {"group_id": group_id, "entity": entity, "status": "merged", "survivor_id": survivor_id,
                "absorbed_ids": merged}


def _group_tables(account_id: str, entity: Entity, scan_id: str,
                  groups: Sequence[Group]) -> tuple[pa.Table, pa.Table]:
    """Rows of `groups` and `group_members` for the groups (built by column: a scan saves tens of thousands)."""
    n = len(groups)
    group_rows = pa.table({
        "account_id": [account_id] * n, "entity": [entity] * n, "group_id": [g.group_id for g in groups],
        "scan_id": [scan_id] * n, "group_score": [float(g.group_score) for g in groups],
        "size": [len(g.record_ids) for g in groups], "needs_review": [bool(g.needs_review) for g in groups],
        "review_reasons": [list(g.review_reasons) for g in groups], "status": [g.status for g in groups],
        "survivor_id": [g.survivor_id for g in groups],
        "merge_plan": [json.dumps(g.merge_plan, ensure_ascii=False, default=str) for g in groups],
    }, schema=_GROUPS_SCHEMA)
    members = [(g.group_id, m, m == g.survivor_id) for g in groups for m in g.record_ids]
    member_rows = pa.table({
        "account_id": [account_id] * len(members), "entity": [entity] * len(members),
        "group_id": [g for g, _, _ in members], "record_id": [m for _, m, _ in members],
        "is_survivor": [s for _, _, s in members],
    }, schema=_MEMBERS_SCHEMA)
    return group_rows, member_rows


def _pairs(entity: Entity, rows: Sequence[dict[str, Any]]) -> list[Pair]:
    """Stored pair rows (contributions as JSON) as Pairs."""
    return [Pair(entity=entity, left_id=r["left_id"], right_id=r["right_id"], match_weight=float(r["match_weight"]),
                 match_probability=float(r["match_probability"]),
                 contributions=tuple(parse_contributions(json.loads(r["contributions"])))) for r in rows]


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
