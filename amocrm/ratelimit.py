"""A token bucket per amoCRM account, shared by every client of that account in this process.

amoCRM allows at most 7 requests per second per integration and account (docs/amocrm-notes.md, section 3,
[K5][A2]); past it the API answers 429 and repeated violations block the account. A bucket of capacity 1
refilled at `rate` tokens/s lets through at most 1 + rate requests in any second, so the default rate of 6
keeps every one-second window at or under 7 even when a burst follows an idle spell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DOCUMENTED_LIMIT = 7.0  # requests per second per account
DEFAULT_RATE = DOCUMENTED_LIMIT - 1.0


class TokenBucket:
    """`acquire()` blocks until one request may go; thread-safe; waiters are served in arrival order."""

    def __init__(self, rate: float = DEFAULT_RATE, *, capacity: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_free = clock()  # the moment the next token is available (virtual scheduling)

    def acquire(self) -> float:
        """Take one token, waiting for it; returns the seconds waited."""
        with self._lock:
            now = self._clock()
            # a full bucket holds `capacity` tokens: an idle spell never banks more than that
            start = max(self._next_free, now - (self.capacity - 1) / self.rate)
            self._next_free = start + 1.0 / self.rate
            wait = max(0.0, start - now)
        if wait:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """After a 429: no request of this account goes out for `seconds` (every thread's requests wait)."""
        with self._lock:
            self._next_free = max(self._next_free, self._clock() + seconds)


class Buckets:
    """One bucket per account id, made on first use: an import and the webhook worker share their account's."""

    def __init__(self, rate: float = DEFAULT_RATE) -> None:
        self.rate = rate
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def for_account(self, account: str) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(account)
            if bucket is None:
                bucket = self._buckets[account] = TokenBucket(self.rate)
            return bucket
