"""The store's accounts (tenants) and their API keys, stored only as hashes.

Primitives only: which keys exist, how they are made and what a request's key proves is the domain's
(`resolver/accounts.py`), which calls these inside one `Store.transaction()` where it needs them together.
"""

from __future__ import annotations

from datetime import datetime

from resolver.records import KeyInfo
from resolver.store.base import StoreBase

_KEY_COLUMNS = "key_id, account_id, label, created_at, revoked_at, last_used_at"


class AccountStore(StoreBase):
    """The part of `Store` holding accounts and API keys."""

    def account_exists(self, account_id: str) -> bool:
        """Whether `account_id` is registered."""
        return self._execute("SELECT 1 FROM accounts WHERE account_id = ?", [account_id],
                             step="account_exists").fetchone() is not None

    def add_account(self, account_id: str, created_at: datetime) -> None:
        """Register an account (the caller checked it is new, in the same transaction)."""
        self._execute("INSERT INTO accounts (account_id, created_at) VALUES (?, ?)", [account_id, created_at],
                      step="add_account")

    def key_id_taken(self, key_id: str) -> bool:
        """Whether any account has a key `key_id` (key ids are unique across accounts)."""
        return self._execute("SELECT 1 FROM api_keys WHERE key_id = ?", [key_id],
                             step="key_id_taken").fetchone() is not None

    def add_api_key(self, *, key_id: str, account_id: str, key_hash: str, label: str | None,
                    created_at: datetime) -> None:
        """Store a new key by its hash; the key itself is never stored."""
        self._execute("INSERT INTO api_keys (key_id, account_id, key_hash, label, created_at) VALUES (?, ?, ?, ?, ?)",
                      [key_id, account_id, key_hash, label, created_at], step="add_api_key")

    def api_keys(self, account_id: str) -> list[KeyInfo]:
        """The account's keys, revoked ones included, oldest first."""
        rows = self._execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE account_id = ? ORDER BY created_at, key_id",
                             [account_id], step="api_keys").fetchall()
        return [KeyInfo(*row) for row in rows]

    def api_key(self, account_id: str, key_id: str) -> KeyInfo | None:
        """One key of the account (another account's key is None)."""
        row = self._execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE account_id = ? AND key_id = ?",
                            [account_id, key_id], step="api_key").fetchone()
        return KeyInfo(*row) if row else None

    def revoke_api_keys(self, account_id: str, revoked_at: datetime, *, key_id: str | None = None) -> None:
        """Revoke the account's active key `key_id` (None: every active key); revoked ones keep their time."""
        sql = "UPDATE api_keys SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL"
        params: list[object] = [revoked_at, account_id]
        if key_id is not None:  # two spellings, not `? IS NULL`: PostgreSQL cannot type an untyped NULL test
            sql += " AND key_id = ?"
            params.append(key_id)
        self._execute(sql, params, step="revoke_api_keys")

    def active_keys_with_hash(self, key_hash: str) -> list[tuple[str, str, str, datetime | None]]:
        """(key_id, account_id, key_hash, last_used_at) of active keys of existing accounts with this hash."""
        rows = self._execute(
            "SELECT k.key_id, k.account_id, k.key_hash, k.last_used_at FROM api_keys AS k "
            "JOIN accounts AS a ON a.account_id = k.account_id WHERE k.key_hash = ? AND k.revoked_at IS NULL",
            [key_hash], step="active_keys_with_hash").fetchall()
        return [(str(k), str(a), str(h), u) for k, a, h, u in rows]

    def note_key_use(self, key_id: str, used_at: datetime) -> None:
        """Set an active key's `last_used_at`: one statement, outside the writers' lock."""
        self._execute("UPDATE api_keys SET last_used_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                      [used_at, key_id], step="key_last_used")
