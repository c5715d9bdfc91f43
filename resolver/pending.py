""""Create anyway": the user typed a phone or email a stored record has and created the record all the same.

The new record has no id while its card is being filled in, so the decision waits: it is kept with the
typed values (normalized) and applied once a record with one of them arrives (sync or upsert) that is
not one of the records the user was shown: `not_duplicate` between it and each of them, by that user.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from resolver.entities import spec_for
from resolver.records import Decision, Entity, Record
from resolver.store.interface import Persistence
from resolver.suppression import record_decisions

logger = logging.getLogger(__name__)

# a card is saved within minutes of typing; a day covers a sync that runs late
PENDING_LIFETIME = timedelta(days=1)


def typed_values(entity: Entity, phones: Sequence[str], emails: Sequence[str]) -> tuple[list[str], list[str]]:
    """The typed phones and emails normalized as stored records' are (so they compare)."""
    row = spec_for(entity).normalize(Record(entity=entity, record_id="typed", phones=tuple(phones),
                                            emails=tuple(emails)))
    return list(row.get("phones") or []), list(row.get("emails") or [])


def add_pending(store: Persistence, account_id: str, entity: Entity, *, record_ids: Sequence[str],
                phones: Sequence[str], emails: Sequence[str], reviewer: str | None) -> str:
    norm_phones, norm_emails = typed_values(entity, phones, emails)
    return store.add_pending(account_id, entity, record_ids=sorted(set(record_ids)), phones=norm_phones,
                             emails=norm_emails, reviewer=reviewer,
                             expires_at=datetime.now(UTC) + PENDING_LIFETIME)


def apply_pending(store: Persistence, account_id: str, entity: Entity, records: Sequence[Record],
                  rows: Sequence[dict[str, Any]]) -> int:
    """After an upsert: turn the pending decisions the arrived records fulfil into decisions; how many."""
    waiting = store.open_pending(account_id, entity, datetime.now(UTC))
    if not waiting:
        return 0
    applied = 0
    for pending in waiting:
        shown = set(pending["record_ids"])
        typed = {("p", v) for v in pending["phones"]} | {("e", v) for v in pending["emails"]}
        for record, row in zip(records, rows, strict=True):
            values = {("p", v) for v in row.get("phones") or []} | {("e", v) for v in row.get("emails") or []}
            if record.record_id in shown or record.deleted or not values & typed:
                continue
            record_decisions(store, account_id, [
                Decision.of(entity, other, record.record_id, "not_duplicate", reviewer=pending["reviewer"])
                for other in sorted(shown)])
            store.mark_pending_applied(account_id, pending["pending_id"], record.record_id)
            logger.info("account %s: created-anyway %s %s kept apart from %s", account_id, entity,
                        record.record_id, ", ".join(sorted(shown)))
            applied += 1
            break
    return applied
