"""The store's amoCRM part: connections (encrypted tokens, status, webhook secret hash), import cursors, write-backs.

Standard SQL with `?` placeholders only, so the PostgreSQL store runs the same statements. Tokens and the
webhook URL arrive here already encrypted (amocrm/tokens.py): this module never sees a secret in clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from resolver.errors import StoreError
from resolver.records import Entity
from resolver.store.base import StoreBase
from resolver.store.interface import Persistence

if TYPE_CHECKING:
    from resolver.store.duckdb_store import Store

CONNECTED = "connected"
NEEDS_REINSTALL = "needs_reinstall"
UNINSTALLED = "uninstalled"


class AmoStore(StoreBase):
    """The part of `Store` holding amoCRM connections, import cursors and write-backs; all by account_id."""

    # -- connections ----------------------------------------------------------------------------------

    def connect_amocrm(self, account_id: str, *, subdomain: str, api_base: str, country: str | None, region: str,
                       tokens: str, secret_hash: str, destination: str, write_back: bool, tag: str) -> bool:
        """Create or reconnect the account's connection (status connected); True when it is new.

        A reconnect keeps the account's write-back switch, tag, counters and import place.
        """
        now = datetime.now(UTC)
        with self._transaction() as con:
            found = con.execute("SELECT 1 FROM amocrm_connections WHERE account_id = ?", [account_id]).fetchone()
            if found:
                con.execute(
                    "UPDATE amocrm_connections SET subdomain = ?, api_base = ?, country = ?, region = ?, status = ?, "
                    "status_reason = NULL, tokens = ?, webhook_secret_hash = ?, webhook_destination = ?, "
                    "status_at = ? WHERE account_id = ?",
                    [subdomain, api_base, country, region, CONNECTED, tokens, secret_hash, destination, now,
                     account_id])
                return False
            con.execute(
                "INSERT INTO amocrm_connections (account_id, subdomain, api_base, country, region, status, "
                "status_reason, tokens, webhook_secret_hash, webhook_destination, write_back, tag, installed_at, "
                "status_at, last_webhook_at, last_catchup_at, catchup_from, records_pulled) "
                "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, 0)",
                [account_id, subdomain, api_base, country, region, CONNECTED, tokens, secret_hash, destination,
                 write_back, tag, now, now])
            return True

    def amocrm_connection(self, account_id: str) -> dict[str, Any] | None:
        rows = self._dicts("SELECT * FROM amocrm_connections WHERE account_id = ?", [account_id],
                           step="amocrm_connection")
        return rows[0] if rows else None

    def amocrm_accounts(self, status: str = CONNECTED) -> list[str]:
        """Accounts whose connection has `status`: the sync's loop over them is the one query across accounts."""
        rows = self._execute("SELECT account_id FROM amocrm_connections WHERE status = ? ORDER BY account_id",
                            [status], step="amocrm_accounts").fetchall()
        return [str(r[0]) for r in rows]

    def set_amocrm_tokens(self, account_id: str, tokens: str) -> None:
        """Store a refreshed pair (the old refresh token is void at amoCRM already)."""
        with self._transaction() as con:
            con.execute("UPDATE amocrm_connections SET tokens = ? WHERE account_id = ? AND status = ?",
                        [tokens, account_id, CONNECTED])

    def set_amocrm_status(self, account_id: str, status: str, reason: str | None) -> None:
        """Leave `connected`: the tokens and the webhook secret are deleted (syncing stops)."""
        with self._transaction() as con:
            con.execute(
                "UPDATE amocrm_connections SET status = ?, status_reason = ?, status_at = ?, tokens = NULL, "
                "webhook_secret_hash = NULL WHERE account_id = ?",
                [status, reason, datetime.now(UTC), account_id])

    def set_amocrm_write_back(self, account_id: str, *, enabled: bool | None = None, tag: str | None = None) -> None:
        with self._transaction() as con:
            if enabled is not None:
                con.execute("UPDATE amocrm_connections SET write_back = ? WHERE account_id = ?", [enabled, account_id])
            if tag is not None:
                con.execute("UPDATE amocrm_connections SET tag = ? WHERE account_id = ?", [tag, account_id])

    def note_amocrm_webhook(self, account_id: str, pulled: int) -> None:
        with self._transaction() as con:
            con.execute("UPDATE amocrm_connections SET last_webhook_at = ?, records_pulled = records_pulled + ? "
                        "WHERE account_id = ?", [datetime.now(UTC), pulled, account_id])

    def note_amocrm_catchup(self, account_id: str, *, catchup_from: int, pulled: int) -> None:
        with self._transaction() as con:
            con.execute("UPDATE amocrm_connections SET last_catchup_at = ?, catchup_from = ?, "
                        "records_pulled = records_pulled + ? WHERE account_id = ?",
                        [datetime.now(UTC), catchup_from, pulled, account_id])

    # -- the initial import ---------------------------------------------------------------------------

    def amocrm_import(self, account_id: str, entity: Entity) -> dict[str, Any] | None:
        rows = self._dicts("SELECT next_page, pages_done, records, started_at, finished FROM amocrm_imports "
                           "WHERE account_id = ? AND entity = ?", [account_id, entity], step="amocrm_import")
        return rows[0] if rows else None

    def start_amocrm_import(self, account_id: str, entity: Entity, started_at: int) -> None:
        """A fresh import of the entity from its first page (the previous place is forgotten)."""
        with self._transaction() as con:
            con.execute("DELETE FROM amocrm_imports WHERE account_id = ? AND entity = ?", [account_id, entity])
            con.execute("INSERT INTO amocrm_imports (account_id, entity, next_page, pages_done, records, started_at, "
                        "finished) VALUES (?, ?, NULL, 0, 0, ?, false)", [account_id, entity, started_at])

    def save_amocrm_page(self, account_id: str, entity: Entity, *, next_page: str | None, records: int) -> None:
        """The import's place moves past a page of `records` (next_page None: that was the last).

        Call it inside the `transaction()` that upserts the page's records: the place and the records then
        commit together, so a crash never skips a page.
        """
        with self._transaction() as con:
            con.execute("UPDATE amocrm_imports SET next_page = ?, pages_done = pages_done + 1, records = records + ?, "
                        "finished = (CAST(? AS VARCHAR) IS NULL) WHERE account_id = ? AND entity = ?",
                        [next_page, records, next_page, account_id, entity])
            con.execute("UPDATE amocrm_connections SET records_pulled = records_pulled + ? WHERE account_id = ?",
                        [records, account_id])

    # -- write-backs ----------------------------------------------------------------------------------

    def amocrm_writeback(self, account_id: str, entity: Entity, record_id: str) -> dict[str, Any] | None:
        rows = self._dicts("SELECT tagged, noted, pending, error FROM amocrm_writebacks WHERE account_id = ? AND "
                           "entity = ? AND record_id = ?", [account_id, entity, record_id], step="amocrm_writeback")
        return rows[0] if rows else None

    def save_amocrm_writeback(self, account_id: str, entity: Entity, record_id: str, *, tagged: bool,
                              noted: str | None, pending: bool, error: str | None = None) -> None:
        with self._transaction() as con:
            con.execute("DELETE FROM amocrm_writebacks WHERE account_id = ? AND entity = ? AND record_id = ?",
                        [account_id, entity, record_id])
            con.execute("INSERT INTO amocrm_writebacks (account_id, entity, record_id, tagged, noted, pending, error, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [account_id, entity, record_id, tagged, noted, pending, error, datetime.now(UTC)])

    def tagged_amocrm_records(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[str]:
        """Those of `record_ids` that carry our tag in amoCRM (or are waiting for a write)."""
        if not record_ids:
            return []
        marks = ", ".join("?" for _ in record_ids)
        rows = self._execute(
            f"SELECT record_id FROM amocrm_writebacks WHERE account_id = ? AND entity = ? AND (tagged OR pending) "
            f"AND record_id IN ({marks}) ORDER BY record_id", [account_id, entity, *record_ids],
            step="tagged_amocrm_records").fetchall()
        return [str(r[0]) for r in rows]

    def pending_amocrm_writebacks(self, account_id: str) -> list[tuple[Entity, str]]:
        rows = self._execute("SELECT entity, record_id FROM amocrm_writebacks WHERE account_id = ? AND pending "
                            "ORDER BY updated_at", [account_id], step="pending_amocrm_writebacks").fetchall()
        return [(r[0], str(r[1])) for r in rows]

    def amocrm_group_of(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> str | None:
        """The last scan's group holding the first of `record_ids` that is in one (the note's link), else None."""
        for record_id in record_ids:
            row = self._execute("SELECT group_id FROM group_members WHERE account_id = ? AND entity = ? AND "
                               "record_id = ? ORDER BY group_id LIMIT 1", [account_id, entity, record_id],
                               step="amocrm_group_of").fetchone()
            if row:
                return str(row[0])
        return None


class AmoPersistence(Persistence, Protocol):
    """A store with the amoCRM part: what amocrm/ (the sync) and the amoCRM routes are typed against.

    Kept apart from `Persistence`, so a store without the amoCRM tables still is one; the DuckDB `Store`
    is both (`_store_is_amo_persistence` makes mypy prove it).
    """

    def connect_amocrm(self, account_id: str, *, subdomain: str, api_base: str, country: str | None, region: str,
                       tokens: str, secret_hash: str, destination: str, write_back: bool, tag: str) -> bool: ...

    def amocrm_connection(self, account_id: str) -> dict[str, Any] | None: ...

    def amocrm_accounts(self, status: str = CONNECTED) -> list[str]: ...

    def set_amocrm_tokens(self, account_id: str, tokens: str) -> None: ...

    def set_amocrm_status(self, account_id: str, status: str, reason: str | None) -> None: ...

    def set_amocrm_write_back(self, account_id: str, *, enabled: bool | None = None, tag: str | None = None
                              ) -> None: ...

    def note_amocrm_webhook(self, account_id: str, pulled: int) -> None: ...

    def note_amocrm_catchup(self, account_id: str, *, catchup_from: int, pulled: int) -> None: ...

    def amocrm_import(self, account_id: str, entity: Entity) -> dict[str, Any] | None: ...

    def start_amocrm_import(self, account_id: str, entity: Entity, started_at: int) -> None: ...

    def save_amocrm_page(self, account_id: str, entity: Entity, *, next_page: str | None, records: int) -> None: ...

    def amocrm_writeback(self, account_id: str, entity: Entity, record_id: str) -> dict[str, Any] | None: ...

    def save_amocrm_writeback(self, account_id: str, entity: Entity, record_id: str, *, tagged: bool,
                              noted: str | None, pending: bool, error: str | None = None) -> None: ...

    def tagged_amocrm_records(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> list[str]: ...

    def pending_amocrm_writebacks(self, account_id: str) -> list[tuple[Entity, str]]: ...

    def amocrm_group_of(self, account_id: str, entity: Entity, record_ids: Sequence[str]) -> str | None: ...


def amo_store(store: Persistence) -> AmoPersistence:
    """`store` as a store with the amoCRM part; StoreError when its backend has none."""
    if not callable(getattr(store, "amocrm_connection", None)):
        raise StoreError(f"the {type(store).__name__} store has no amoCRM tables: the amoCRM connection needs a "
                         "store with them (the DuckDB store has them)")
    return cast(AmoPersistence, store)


def _store_is_amo_persistence(store: Store) -> AmoPersistence:
    return store  # mypy: the DuckDB store implements every method above
