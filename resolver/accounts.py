"""Tenants and their API keys: several keys per account, each shown once at creation, stored only as a hash.

A key has a public `key_id` (for lists and revoking) and a secret value (`cdk_…`). Keys are looked
up in the store on every request, with no cache, so a revoked key is refused from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

from resolver.errors import Conflict, InputError, NotFound, StoreError
from resolver.store import Store

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
KEY_ID = re.compile(r"key_[0-9a-f]{12}")
_KEY_PREFIX = "cdk_"  # makes a leaked key easy to recognise in logs and secret scanners
MAX_LABEL_CHARS = 100
INITIAL_LABEL = "initial"  # the key an account is created with
ROTATED_LABEL = "rotated"  # the key `rotate_key` makes
# last_used_at is a hint for whoever rotates keys ("is the old one still in use?"), not an audit log:
# writing it on every request would put a write on every read
_LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class KeyInfo:
    """One API key as lists show it: never the key itself, nor its hash."""

    key_id: str
    account_id: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _hash(key: str) -> str:
    # keys are 256 random bits, so a fast hash is enough (no dictionary to attack, unlike passwords)
    return hashlib.sha256(key.encode()).hexdigest()


def _check_label(label: str | None) -> str | None:
    if label is None:
        return None
    label = label.strip()
    if len(label) > MAX_LABEL_CHARS or not label.isprintable():
        raise InputError.one(f"at most {MAX_LABEL_CHARS} printable characters", field="label")
    return label or None


def _has_account(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return con.execute("SELECT 1 FROM accounts WHERE account_id = ?", [name]).fetchone() is not None


def _no_account(name: str) -> NotFound:
    return NotFound(f"account {name!r} does not exist; create it with `crm-dedup accounts create {name}`")


def _insert_key(con: duckdb.DuckDBPyConnection, account: str, label: str | None, now: datetime) -> tuple[str, str]:
    """A new key row inside the caller's transaction: (key_id, key)."""
    while True:  # 48 random bits: a repeat is next to impossible, and checked anyway
        key_id = "key_" + secrets.token_hex(6)
        if not con.execute("SELECT 1 FROM api_keys WHERE key_id = ?", [key_id]).fetchone():
            break
    key = _KEY_PREFIX + secrets.token_urlsafe(32)
    con.execute("INSERT INTO api_keys (key_id, account_id, key_hash, label, created_at) VALUES (?, ?, ?, ?, ?)",
                [key_id, account, _hash(key), label, now])
    return key_id, key


def register_account(store: Store, name: str, *, label: str | None = INITIAL_LABEL) -> tuple[str, str]:
    """Create account `name` with one API key: (key_id, key); the only time the key is visible."""
    if not _NAME.fullmatch(name):
        raise InputError.one(f"account name {name!r}: use 1-63 latin letters, digits, '.', '_' or '-'",
                             field="name")
    label = _check_label(label)
    with store.transaction() as con:
        if _has_account(con, name):
            raise Conflict(f"account {name!r} already exists")
        now = datetime.now(UTC)
        con.execute("INSERT INTO accounts (account_id, created_at) VALUES (?, ?)", [name, now])
        return _insert_key(con, name, label, now)


def ensure_account(store: Store, name: str) -> bool:
    """Account `name` exists afterwards (an amoCRM install names it by the CRM's account id); True when made now.

    It gets no API key: the widget's token opens it, and `crm-dedup keys create` adds keys when needed.
    """
    if not _NAME.fullmatch(name):
        raise InputError.one(f"account name {name!r}: use 1-63 latin letters, digits, '.', '_' or '-'", field="name")
    with store.transaction() as con:
        if _has_account(con, name):
            return False
        con.execute("INSERT INTO accounts (account_id, created_at) VALUES (?, ?)", [name, datetime.now(UTC)])
        return True


def create_account(store: Store, name: str) -> str:
    """Create account `name` and return its new API key (the only time the key is visible)."""
    return register_account(store, name)[1]


def create_key(store: Store, account: str, label: str | None = None) -> tuple[str, str]:
    """One more API key for `account`, working at once beside the others: (key_id, key), shown this once."""
    label = _check_label(label)
    with store.transaction() as con:
        if not _has_account(con, account):
            raise _no_account(account)
        return _insert_key(con, account, label, datetime.now(UTC))


def list_keys(store: Store, account: str) -> list[KeyInfo]:
    """The account's keys, revoked ones included (with when), oldest first."""
    if not account_exists(store, account):
        raise _no_account(account)
    rows = store.execute(
        "SELECT key_id, account_id, label, created_at, revoked_at, last_used_at FROM api_keys "
        "WHERE account_id = ? ORDER BY created_at, key_id", [account], step="list_keys").fetchall()
    return [KeyInfo(*row) for row in rows]


def revoke_key(store: Store, account: str, key_id: str) -> KeyInfo:
    """Revoke one of the account's keys: refused from the next request on. Revoking it again changes nothing."""
    with store.transaction() as con:
        if not _has_account(con, account):
            raise _no_account(account)
        # another account's key is "not found" here, exactly like one that does not exist
        con.execute("UPDATE api_keys SET revoked_at = ? WHERE account_id = ? AND key_id = ? AND revoked_at IS NULL",
                    [datetime.now(UTC), account, key_id])
        row = con.execute("SELECT key_id, account_id, label, created_at, revoked_at, last_used_at FROM api_keys "
                          "WHERE account_id = ? AND key_id = ?", [account, key_id]).fetchone()
    if row is None:
        raise NotFound(f"account {account!r} has no key {key_id!r}; `crm-dedup keys list --account {account}` "
                       "shows its keys")
    return KeyInfo(*row)


def rotate_key(store: Store, name: str) -> str:
    """Give account `name` a new API key and return it; every other key of the account stops working at once."""
    with store.transaction() as con:
        if not _has_account(con, name):
            raise _no_account(name)
        now = datetime.now(UTC)
        con.execute("UPDATE api_keys SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL", [now, name])
        return _insert_key(con, name, ROTATED_LABEL, now)[1]


def account_for_key(store: Store, key: str) -> str | None:
    """The account an active API key belongs to, or None (unknown or revoked key)."""
    digest = _hash(key)
    rows = store.execute(
        "SELECT k.key_id, k.account_id, k.key_hash, k.last_used_at FROM api_keys AS k "
        "JOIN accounts AS a ON a.account_id = k.account_id WHERE k.key_hash = ? AND k.revoked_at IS NULL",
        [digest], step="account_for_key").fetchall()
    for key_id, account_id, stored, last_used in rows:
        if hmac.compare_digest(stored, digest):
            _note_use(store, key_id, last_used)
            return str(account_id)
    return None


def _note_use(store: Store, key_id: str, last_used: datetime | None) -> None:
    now = datetime.now(UTC)
    if last_used is not None and now - last_used < _LAST_USED_EVERY:
        return
    # one statement on this thread's cursor, outside the writers' lock: authentication never waits
    # for a scan's long write; a clash with a concurrent revoke just skips this refresh
    with suppress(StoreError):
        store.execute("UPDATE api_keys SET last_used_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                      [now, key_id], step="key_last_used")


def account_exists(store: Store, account_id: str) -> bool:
    """Whether `account_id` is registered (the widget's token names an account; it must be one of ours)."""
    return bool(store.execute("SELECT 1 FROM accounts WHERE account_id = ?", [account_id],
                              step="account_exists").fetchone())
