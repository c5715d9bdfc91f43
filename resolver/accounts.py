"""Tenants and their API keys: a key is shown once at creation and stored only as a hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from resolver.errors import Conflict, InputError, NotFound
from resolver.store import Store

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_KEY_PREFIX = "cdk_"  # makes a leaked key easy to recognise in logs and secret scanners


def _hash(key: str) -> str:
    # keys are 256 random bits, so a fast hash is enough (no dictionary to attack, unlike passwords)
    return hashlib.sha256(key.encode()).hexdigest()


def create_account(store: Store, name: str) -> str:
    """Create account `name` and return its new API key (the only time the key is visible)."""
    if not _NAME.fullmatch(name):
        raise InputError.one(f"account name {name!r}: use 1-63 latin letters, digits, '.', '_' or '-'",
                             field="name")
    with store.transaction() as con:
        if con.execute("SELECT 1 FROM accounts WHERE account_id = ?", [name]).fetchone():
            raise Conflict(f"account {name!r} already exists")
        key = _KEY_PREFIX + secrets.token_urlsafe(32)
        con.execute("INSERT INTO accounts VALUES (?, ?, ?)", [name, _hash(key), datetime.now(UTC)])
    return key


def rotate_key(store: Store, name: str) -> str:
    """Give account `name` a new API key and return it; the old key stops working at once."""
    with store.transaction() as con:
        if not con.execute("SELECT 1 FROM accounts WHERE account_id = ?", [name]).fetchone():
            raise NotFound(f"account {name!r} does not exist; create it with `crm-dedup accounts create {name}`")
        key = _KEY_PREFIX + secrets.token_urlsafe(32)
        con.execute("UPDATE accounts SET key_hash = ? WHERE account_id = ?", [_hash(key), name])
    return key


def account_for_key(store: Store, key: str) -> str | None:
    """The account an API key belongs to, or None."""
    digest = _hash(key)
    rows = store.execute("SELECT account_id, key_hash FROM accounts WHERE key_hash = ?", [digest],
                         step="account_for_key").fetchall()
    for account_id, stored in rows:
        if hmac.compare_digest(stored, digest):
            return str(account_id)
    return None


def account_exists(store: Store, account_id: str) -> bool:
    """Whether `account_id` is registered (the widget's token names an account; it must be one of ours)."""
    return bool(store.execute("SELECT 1 FROM accounts WHERE account_id = ?", [account_id],
                              step="account_exists").fetchone())
