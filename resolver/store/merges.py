"""The store's part for acting on duplicates from the widget: groups among given records, the before-image
of every record a merge absorbed (listed, restored, purged), the widget's allow-list, and "create anyway"
decisions waiting for the new record.

The SQL here is standard (`?` placeholders, no DuckDB functions, JSON kept as text), so a PostgreSQL
store can run it as it is.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from resolver.errors import Conflict, NotFound, StoreError
from resolver.records import Entity
from resolver.store.base import STORE_ERRORS, Connection, StoreBase

MAX_PENDING = 1_000  # create-anyway decisions one account may have waiting at once


def marks(n: int) -> str:
    """`?, ?, …` for an IN list of n values (standard SQL; a list parameter is not)."""
    return ", ".join("?" * n) if n else "NULL"


def _json_list(text: str | None) -> list[Any]:
    value = json.loads(text) if text else []
    return value if isinstance(value, list) else []


class MergeStore(StoreBase):
    """The part of `Store` behind the widget's list view, merges, undo and allow-list."""

    # -- groups among records ---------------------------------------------------------------------

    def groups_among(self, account_id: str, entity: Entity, record_ids: Sequence[str] | None, *,
                     limit: int) -> list[dict[str, Any]]:
        """Open groups of the last scan holding any of `record_ids` (all open groups when None), best first.

        Each: group_id, group_score, needs_review, review_reasons, survivor_id, merge_plan (parsed),
        record_ids (live members, survivor first), names (in that order). Groups left with fewer than two
        live members are not listed. At most `limit` groups.
        """
        scope = [account_id, entity]
        if record_ids is None:
            rows = self._execute(
                "SELECT group_id FROM groups WHERE account_id = ? AND entity = ? AND status = 'open' "
                "ORDER BY group_score DESC, group_id", scope, step="groups_among_all").fetchall()
        else:
            if not record_ids:
                return []
            rows = self._execute(
                "SELECT DISTINCT m.group_id FROM group_members AS m JOIN groups AS g ON g.account_id = m.account_id "
                "AND g.entity = m.entity AND g.group_id = m.group_id WHERE m.account_id = ? AND m.entity = ? "
                f"AND g.status = 'open' AND m.record_id IN ({marks(len(record_ids))})",
                [*scope, *record_ids], step="groups_among_ids").fetchall()
        group_ids = [r[0] for r in rows]
        if not group_ids:
            return []
        groups = {r["group_id"]: r for r in self._dicts(
            "SELECT group_id, group_score, needs_review, review_reasons, survivor_id, merge_plan FROM groups "
            f"WHERE account_id = ? AND entity = ? AND group_id IN ({marks(len(group_ids))})",
            [*scope, *group_ids], step="groups_among_groups")}
        members = self._execute(
            "SELECT m.group_id, m.record_id, r.name, m.is_survivor FROM group_members AS m JOIN records AS r "
            "ON r.account_id = m.account_id AND r.entity = m.entity AND r.record_id = m.record_id "
            f"WHERE m.account_id = ? AND m.entity = ? AND m.group_id IN ({marks(len(group_ids))}) "
            "AND r.deleted = false AND r.merged_into IS NULL", [*scope, *group_ids],
            step="groups_among_members").fetchall()
        live: dict[str, list[tuple[bool, str, str | None]]] = {}
        for group_id, record_id, name, is_survivor in members:
            live.setdefault(group_id, []).append((bool(is_survivor), record_id, name))
        out = []
        for group_id, group in groups.items():
            found = sorted(live.get(group_id, []), key=lambda m: (not m[0], m[1]))
            if len(found) < 2:
                continue
            out.append({**group, "review_reasons": list(group["review_reasons"] or []),
                        "merge_plan": json.loads(group["merge_plan"]),
                        "record_ids": [m[1] for m in found], "names": [m[2] for m in found]})
        out.sort(key=lambda g: (-g["group_score"], g["group_id"]))
        return out[:limit]

    # -- before-images ----------------------------------------------------------------------------

    def _keep_before_images(self, con: Connection, account_id: str, entity: Entity, group_id: str,
                            survivor_id: str, absorbed_ids: Sequence[str], merged_by: str | None) -> None:
        """Inside `record_merge`'s transaction: keep what each absorbed record was, once per (group, record).

        The image is taken from the stored record (normalized fields and the raw API v4 object as synced),
        so restore can re-create the record with its fields, tags and links.
        """
        if not absorbed_ids:
            return
        kept = {r[0] for r in con.execute(
            f"SELECT record_id FROM merge_images WHERE account_id = ? AND entity = ? AND group_id = ? "
            f"AND record_id IN ({marks(len(absorbed_ids))})",
            [account_id, entity, group_id, *absorbed_ids]).fetchall()}
        missing = [i for i in absorbed_ids if i not in kept]
        if not missing:
            return
        cur = con.execute(
            "SELECT record_id, name, responsible_user_id, phones, emails, company_ids, lead_ids, raw FROM records "
            f"WHERE account_id = ? AND entity = ? AND record_id IN ({marks(len(missing))})",
            [account_id, entity, *missing])
        names = [d[0] for d in cur.description]
        now = datetime.now(UTC)
        for row in cur.fetchall():
            record = dict(zip(names, row, strict=True))
            image = {key: record[key] for key in ("record_id", "name", "responsible_user_id")}
            for key in ("phones", "emails", "company_ids", "lead_ids"):
                image[key] = list(record[key] or [])
            image["raw"] = json.loads(record["raw"]) if record["raw"] else None
            con.execute(
                "INSERT INTO merge_images (account_id, entity, merge_id, group_id, record_id, survivor_id, "
                "merged_at, merged_by, image) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [account_id, entity, "mg_" + secrets.token_hex(8), group_id, record["record_id"], survivor_id,
                 now, merged_by, json.dumps(image, ensure_ascii=False, default=str)])

    def merges_page(self, account_id: str, *, entity: Entity | None = None,
                    after: tuple[datetime, str] | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The account's kept merges, newest first, after the cursor `after` = (merged_at, merge_id).

        Each row: merge_id, entity, group_id, record_id, survivor_id, merged_at, merged_by, restored_at,
        restored_as, restored_by, image (parsed).
        """
        where = "account_id = ?"
        params: list[Any] = [account_id]
        if entity is not None:
            where += " AND entity = ?"
            params.append(entity)
        if after is not None:
            where += " AND (merged_at < ? OR (merged_at = ? AND merge_id < ?))"
            params += [after[0], after[0], after[1]]
        rows = self._dicts(
            "SELECT merge_id, entity, group_id, record_id, survivor_id, merged_at, merged_by, restored_at, "
            f"restored_as, restored_by, image FROM merge_images WHERE {where} "
            "ORDER BY merged_at DESC, merge_id DESC LIMIT ?", [*params, limit], step="merges_page")
        for row in rows:
            row["image"] = json.loads(row["image"])
        return rows

    def merge_image(self, account_id: str, merge_id: str) -> dict[str, Any] | None:
        """One kept merge as `merges_page` lists it; None when the account has none of that id."""
        rows = self._dicts(
            "SELECT merge_id, entity, group_id, record_id, survivor_id, merged_at, merged_by, restored_at, "
            "restored_as, restored_by, image FROM merge_images WHERE account_id = ? AND merge_id = ?",
            [account_id, merge_id], step="merge_image")
        if not rows:
            return None
        rows[0]["image"] = json.loads(rows[0]["image"])
        return rows[0]

    def claim_restore(self, account_id: str, merge_id: str, *, by: str | None) -> dict[str, Any]:
        """Mark a kept merge as being restored (restored_at set, restored_as still NULL), so two clicks
        never re-create a record twice. Raises NotFound, or Conflict when it was restored (or claimed)."""
        try:
            with self._transaction() as con:
                row = con.execute("SELECT restored_at, restored_as FROM merge_images WHERE account_id = ? "
                                  "AND merge_id = ?", [account_id, merge_id]).fetchone()
                if row is None:
                    raise NotFound(f"no kept merge {merge_id} in this account")
                if row[0] is not None:
                    raise Conflict(f"merge {merge_id} was restored already"
                                   + (f" as record {row[1]}" if row[1] else " (a restore is under way)"))
                con.execute("UPDATE merge_images SET restored_at = ?, restored_by = ? WHERE account_id = ? "
                            "AND merge_id = ?", [datetime.now(UTC), by, account_id, merge_id])
        except STORE_ERRORS as exc:
            raise StoreError(f"store query claim_restore: {exc}") from exc
        image = self.merge_image(account_id, merge_id)
        assert image is not None
        return image

    def finish_restore(self, account_id: str, merge_id: str, new_id: str | None) -> None:
        """The claimed restore made record `new_id`; with None it failed before creating anything
        and the claim is withdrawn (the merge may be restored again)."""
        if new_id is None:
            self._execute("UPDATE merge_images SET restored_at = NULL, restored_by = NULL WHERE account_id = ? "
                         "AND merge_id = ? AND restored_as IS NULL", [account_id, merge_id], step="finish_restore")
        else:
            self._execute("UPDATE merge_images SET restored_as = ? WHERE account_id = ? AND merge_id = ?",
                         [new_id, account_id, merge_id], step="finish_restore")

    def purge_merge_images(self, before: datetime, account_id: str | None = None) -> int:
        """Drop the before-images of merges made before `before` (one account's, or every account's)."""
        where = "merged_at < ?" + (" AND account_id = ?" if account_id is not None else "")
        params: list[Any] = [before] + ([account_id] if account_id is not None else [])
        with self._transaction() as con:
            row = con.execute(f"SELECT count(*) FROM merge_images WHERE {where}", params).fetchone()
            con.execute(f"DELETE FROM merge_images WHERE {where}", params)
        return int(row[0]) if row else 0

    # -- the widget's settings ----------------------------------------------------------------------

    def widget_settings(self, account_id: str) -> dict[str, Any] | None:
        """allowed_users, entities, sound, run_cap, updated_at, updated_by; None before an admin saved them."""
        rows = self._dicts("SELECT allowed_users, entities, sound, run_cap, updated_at, updated_by "
                           "FROM widget_settings WHERE account_id = ?", [account_id], step="widget_settings")
        if not rows:
            return None
        row = rows[0]
        row["allowed_users"] = _json_list(row["allowed_users"])
        row["entities"] = _json_list(row["entities"])
        return row

    def save_widget_settings(self, account_id: str, *, allowed_users: Sequence[str], entities: Sequence[str],
                             sound: bool, run_cap: int, by: str | None) -> None:
        """Replace the account's widget settings."""
        with self._transaction() as con:
            con.execute("DELETE FROM widget_settings WHERE account_id = ?", [account_id])
            con.execute("INSERT INTO widget_settings (account_id, allowed_users, entities, sound, run_cap, "
                        "updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [account_id, json.dumps(list(allowed_users)), json.dumps(list(entities)), sound, run_cap,
                         datetime.now(UTC), by])

    # -- "create anyway" ----------------------------------------------------------------------------

    def add_pending(self, account_id: str, entity: Entity, *, record_ids: Sequence[str], phones: Sequence[str],
                    emails: Sequence[str], reviewer: str | None, expires_at: datetime) -> str:
        """Keep a "not a duplicate of these" decision until a new record with these phones/emails arrives.

        Expired ones are dropped first; Conflict when the account already has MAX_PENDING waiting (every
        check on upsert reads them, so their number is bounded).
        """
        pending_id = "pd_" + secrets.token_hex(8)
        now = datetime.now(UTC)
        with self._transaction() as con:
            con.execute("DELETE FROM pending_decisions WHERE account_id = ? AND expires_at < ?", [account_id, now])
            row = con.execute("SELECT count(*) FROM pending_decisions WHERE account_id = ? AND applied_at IS NULL",
                              [account_id]).fetchone()
            if row is not None and int(row[0]) >= MAX_PENDING:
                raise Conflict(f"this account already has {MAX_PENDING} create-anyway decisions waiting for their "
                               "records; they expire after a day")
            con.execute(
                "INSERT INTO pending_decisions (account_id, entity, pending_id, record_ids, phones, emails, reviewer, "
                "created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [account_id, entity, pending_id, json.dumps(list(record_ids)), json.dumps(list(phones)),
                 json.dumps(list(emails)), reviewer, now, expires_at])
        return pending_id

    def open_pending(self, account_id: str, entity: Entity, now: datetime) -> list[dict[str, Any]]:
        """Pending decisions of (account, entity) not applied and not expired, oldest first."""
        rows = self._dicts(
            "SELECT pending_id, record_ids, phones, emails, reviewer, created_at FROM pending_decisions "
            "WHERE account_id = ? AND entity = ? AND applied_at IS NULL AND expires_at > ? ORDER BY created_at",
            [account_id, entity, now], step="open_pending")
        for row in rows:
            for key in ("record_ids", "phones", "emails"):
                row[key] = _json_list(row[key])
        return rows

    def mark_pending_applied(self, account_id: str, pending_id: str, record_id: str) -> None:
        self._execute("UPDATE pending_decisions SET applied_at = ?, applied_to = ? WHERE account_id = ? "
                     "AND pending_id = ?", [datetime.now(UTC), record_id, account_id, pending_id],
                     step="mark_pending_applied")
