"""Tenants and their API keys: several keys per account, each shown once at creation, stored only as a hash.

A key has a public `key_id` (for lists and revoking) and a secret value (`cdk_…`). Keys are looked
up in the store on every request, with no cache, so a revoked key is refused from the next request on.
The policy (names, labels, how keys are made and hashed) is here; the rows are the store's
(`resolver/store/accounts.py`), written inside one `store.transaction()` per change.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from resolver.errors import Conflict, InputError, NotFound, StoreError
from resolver.records import KeyInfo
from resolver.store.interface import Persistence

__all__ = ["INITIAL_LABEL", "KEY_ID", "MAX_LABEL_CHARS", "ROTATED_LABEL", "KeyInfo", "account_exists",
           "account_for_key", "create_account", "create_key", "list_keys", "register_account", "revoke_key",
           "rotate_key"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
KEY_ID = re.compile(r"key_[0-9a-f]{12}")
_KEY_PREFIX = "cdk_"  # makes a leaked key easy to recognise in logs and secret scanners
MAX_LABEL_CHARS = 100
INITIAL_LABEL = "initial"  # the key an account is created with
ROTATED_LABEL = "rotated"  # the key `rotate_key` makes
# last_used_at is a hint for whoever rotates keys ("is the old one still in use?"), not an audit log:
# writing it on every request would put a write on every read
_LAST_USED_EVERY = timedelta(minutes=1)


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


def _no_account(name: str) -> NotFound:
    return NotFound(f"account {name!r} does not exist; create it with `crm-dedup accounts create {name}`")


def _insert_key(store: Persistence, account: str, label: str | None, now: datetime) -> tuple[str, str]:
    """A new key row inside the caller's transaction: (key_id, key)."""
    while True:  # 48 random bits: a repeat is next to impossible, and checked anyway
        key_id = "key_" + secrets.token_hex(6)
        if not store.key_id_taken(key_id):
            break
    key = _KEY_PREFIX + secrets.token_urlsafe(32)
    store.add_api_key(key_id=key_id, account_id=account, key_hash=_hash(key), label=label, created_at=now)
    return key_id, key


def register_account(store: Persistence, name: str, *, label: str | None = INITIAL_LABEL) -> tuple[str, str]:
    """Create account `name` with one API key: (key_id, key); the only time the key is visible."""
    if not _NAME.fullmatch(name):
        raise InputError.one(f"account name {name!r}: use 1-63 latin letters, digits, '.', '_' or '-'",
                             field="name")
    label = _check_label(label)
    with store.transaction():
        if store.account_exists(name):
            raise Conflict(f"account {name!r} already exists")
        now = datetime.now(UTC)
        store.add_account(name, now)
        return _insert_key(store, name, label, now)


def create_account(store: Persistence, name: str) -> str:
    """Create account `name` and return its new API key (the only time the key is visible)."""
    return register_account(store, name)[1]


def create_key(store: Persistence, account: str, label: str | None = None) -> tuple[str, str]:
    """One more API key for `account`, working at once beside the others: (key_id, key), shown this once."""
    label = _check_label(label)
    with store.transaction():
        if not store.account_exists(account):
            raise _no_account(account)
        return _insert_key(store, account, label, datetime.now(UTC))


def list_keys(store: Persistence, account: str) -> list[KeyInfo]:
    """The account's keys, revoked ones included (with when), oldest first."""
    if not store.account_exists(account):
        raise _no_account(account)
    return store.api_keys(account)


def revoke_key(store: Persistence, account: str, key_id: str) -> KeyInfo:
    """Revoke one of the account's keys: refused from the next request on. Revoking it again changes nothing."""
    with store.transaction():
        if not store.account_exists(account):
            raise _no_account(account)
        # another account's key is "not found" here, exactly like one that does not exist
        store.revoke_api_keys(account, datetime.now(UTC), key_id=key_id)
        info = store.api_key(account, key_id)
    if info is None:
        raise NotFound(f"account {account!r} has no key {key_id!r}; `crm-dedup keys list --account {account}` "
                       "shows its keys")
    return info


def rotate_key(store: Persistence, name: str) -> str:
    """Give account `name` a new API key and return it; every other key of the account stops working at once."""
    with store.transaction():
        if not store.account_exists(name):
            raise _no_account(name)
        now = datetime.now(UTC)
        store.revoke_api_keys(name, now)
        return _insert_key(store, name, ROTATED_LABEL, now)[1]


def account_for_key(store: Persistence, key: str) -> str | None:
    """The account an active API key belongs to, or None (unknown or revoked key)."""
    digest = _hash(key)
    for key_id, account_id, stored, last_used in store.active_keys_with_hash(digest):
        if hmac.compare_digest(stored, digest):
            _note_use(store, key_id, last_used)
            return account_id
    return None


def _note_use(store: Persistence, key_id: str, last_used: datetime | None) -> None:
    now = datetime.now(UTC)
    if last_used is not None and now - last_used < _LAST_USED_EVERY:
        return
    # one statement on this thread's cursor, outside the writers' lock: authentication never waits
    # for a scan's long write; a clash with a concurrent revoke just skips this refresh
    with suppress(StoreError):
        store.note_key_use(key_id, now)


def account_exists(store: Persistence, account_id: str) -> bool:
    """Whether `account_id` is registered (the widget's token names an account; it must be one of ours)."""
    return store.account_exists(account_id)
