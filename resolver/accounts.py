"""Tenants and their API keys: several keys per account, each shown once at creation, stored only as a hash.

A key has a public `key_id` (for lists and revoking) and a secret value (`cdk_…`). The API looks keys up
through a `KeyCache` (a store query per request was the largest part of a check's time): a revoke or
rotate in this process empties every cache at once, so the key is refused from the next request on; a
revoke by another process (the CLI on PostgreSQL, another API worker) takes effect within the cache's
lifetime (CRM_DEDUP_KEY_CACHE_SECONDS, 5 s by default; 0 turns the cache off).
The policy (names, labels, how keys are made and hashed) is here; the rows are the store's
(`resolver/store/accounts.py`), written inside one `store.transaction()` per change.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from resolver.errors import Conflict, InputError, NotFound, StoreError
from resolver.records import KeyInfo
from resolver.store.interface import Persistence

__all__ = ["INITIAL_LABEL", "KEY_ID", "MAX_LABEL_CHARS", "ROTATED_LABEL", "KeyCache", "KeyInfo", "account_exists",
           "account_for_key", "create_account", "create_key", "forget_cached_keys", "list_keys",
           "register_account", "revoke_key", "rotate_key"]

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


def ensure_account(store: Persistence, name: str) -> bool:
    """Account `name` exists afterwards (an amoCRM install names it by the CRM's account id); True when made now.

    It gets no API key: the widget's token opens it, and `crm-dedup keys create` adds keys when needed.
    """
    if not _NAME.fullmatch(name):
        raise InputError.one(f"account name {name!r}: use 1-63 latin letters, digits, '.', '_' or '-'", field="name")
    with store.transaction():
        if store.account_exists(name):
            return False
        store.add_account(name, datetime.now(UTC))
        return True


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
    forget_cached_keys()  # committed: no cache of this process may answer for the key any more
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
        key = _insert_key(store, name, ROTATED_LABEL, now)[1]
    forget_cached_keys()
    return key


def account_for_key(store: Persistence, key: str) -> str | None:
    """The account an active API key belongs to, or None (unknown or revoked key)."""
    digest = _hash(key)
    for key_id, account_id, stored, last_used in store.active_keys_with_hash(digest):
        if hmac.compare_digest(stored, digest):
            _note_use(store, key_id, last_used)
            return account_id
    return None


# Bumped by every revoke and rotate of this process; a KeyCache answer from an older generation is void.
_generation = 0
_generation_lock = threading.Lock()


def forget_cached_keys() -> None:
    """Void every KeyCache entry of this process (after keys were revoked)."""
    global _generation
    with _generation_lock:
        _generation += 1


class KeyCache:
    """Active API keys seen lately -> their account, for `seconds`; only known keys are kept.

    Entries are keyed by the key's hash (no secret kept in memory longer than the request) and bounded
    to `max_keys` (least recently filled leave first). An unknown key is never cached: a key created a
    moment ago works at once, and guesses are limited by `api.deps.AuthFailures`, not by this.
    """

    def __init__(self, seconds: float, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.max_keys = max_keys
        self.clock = clock
        self._entries: OrderedDict[str, tuple[str, float, int]] = OrderedDict()  # hash -> account, until, generation
        self._lock = threading.Lock()

    def cached(self, key: str) -> str | None:
        """The account of `key` if a fresh entry holds it; never touches the store (safe on the event loop)."""
        if self.seconds <= 0:
            return None
        digest = _hash(key)
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            account, until, generation = entry
            if generation != _generation or self.clock() >= until:
                del self._entries[digest]
                return None
            return account

    def account(self, store: Persistence, key: str) -> str | None:
        """The account of an active `key` (as `account_for_key`), from the cache while it is fresh."""
        account = self.cached(key)
        if account is not None:
            return account
        generation = _generation  # read before the store: a revoke committed meanwhile voids this entry
        account = account_for_key(store, key)
        if account is not None and self.seconds > 0:
            with self._lock:
                self._entries[_hash(key)] = (account, self.clock() + self.seconds, generation)
                self._entries.move_to_end(_hash(key))
                while len(self._entries) > self.max_keys:
                    self._entries.popitem(last=False)
        return account


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
