"""The webhook worker's queue: record events waiting per account, deduplicated, taken one account at a time in turn.

Held in memory so a webhook is answered without waiting for the store's writers; events lost with the
process (a crash) are repaired by the catch-up poll.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

MAX_QUEUED_PER_ACCOUNT = 100_000  # beyond it events are dropped and the catch-up poll repairs them
BATCH = 250  # events of one account handled at a time: one `filter[id][]` request per entity
# an event: (entity, action, record_id); action is add | update | delete | restore | recheck, and the
# marker ("", "webhook", "") notes that a delivery came
Event = tuple[str, str, str]


@dataclass
class EventQueue:
    """Events waiting per account (deduplicated), taken one account at a time in turn."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    pending: dict[str, OrderedDict[Event, None]] = field(default_factory=dict)
    turns: deque[str] = field(default_factory=deque)

    def put(self, account_id: str, events: Sequence[Event]) -> int:
        with self.cond:
            waiting = self.pending.get(account_id)
            if waiting is None:
                waiting = self.pending[account_id] = OrderedDict()
                self.turns.append(account_id)
            before = len(waiting)
            for event in events:
                if len(waiting) >= MAX_QUEUED_PER_ACCOUNT:
                    logger.warning("amoCRM events of %s over %d queued: the rest wait for the catch-up poll",
                                   account_id, MAX_QUEUED_PER_ACCOUNT)
                    break
                waiting[event] = None
            self.cond.notify()
            return len(waiting) - before

    def take(self, timeout: float) -> tuple[str, list[Event]] | None:
        with self.cond:
            if not self.turns:
                self.cond.wait(timeout)
            if not self.turns:
                return None
            account_id = self.turns.popleft()
            waiting = self.pending[account_id]
            batch = [waiting.popitem(last=False)[0] for _ in range(min(BATCH, len(waiting)))]
            if waiting:
                self.turns.append(account_id)  # the rest after every other account's turn
            else:
                del self.pending[account_id]
            return account_id, batch

    def drop(self, account_id: str) -> None:
        with self.cond:
            if self.pending.pop(account_id, None) is not None:
                self.turns.remove(account_id)

    def size(self, account_id: str) -> int:
        with self.cond:
            return len(self.pending.get(account_id) or ())
