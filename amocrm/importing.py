"""The initial import of an amoCRM account: pages of contacts and companies, a slice at a time, resumable.

Each page's records and the import's place (the next page's link) are stored in one transaction, so after
a crash or a restart the import goes on from the last page stored, never skipping one. A slice is
`import_slice_pages` pages: the job runner then serves another account before the next slice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from amocrm.client import WITH, AmoClient, Collection, Page
from amocrm.config import SyncSettings
from amocrm.errors import NeedsReinstall
from resolver.entities import spec_for
from resolver.errors import InputError
from resolver.ingest.amocrm import record_from_amocrm
from resolver.normalize.region import localize_phones
from resolver.records import ENTITIES, PLURAL, Entity, Record
from resolver.store.amocrm import CONNECTED, AmoPersistence

logger = logging.getLogger(__name__)

# amoCRM's `updated_at` is its clock, ours may differ: the catch-up starts a little before the import did
CLOCK_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class ImportProgress:
    """Where an account's initial import stands after a slice."""

    more: bool
    pages_done: int
    pages_estimated: int
    records: int


class ImportSteps:
    """The import part of AmoSync (amocrm/sync.py), which provides `store`, `settings` and `client`."""

    store: AmoPersistence
    settings: SyncSettings

    def client(self, account_id: str) -> AmoClient:
        raise NotImplementedError  # AmoSync's

    def import_slice(self, account_id: str, *, progress: Callable[[int, int], None] | None = None) -> ImportProgress:
        """Import up to `import_slice_pages` pages, from where the last slice (or a crashed process) stopped."""
        conn = self.store.amocrm_connection(account_id)
        if conn is None or conn["status"] != CONNECTED:
            raise NeedsReinstall(f"amoCRM account {account_id} is not connected")
        client = self.client(account_id)
        region = str(conn["region"])
        budget = self.settings.import_slice_pages
        for entity in ENTITIES:
            state = self.store.amocrm_import(account_id, entity)
            if state is None:
                self.store.start_amocrm_import(account_id, entity, int(time.time()) - CLOCK_MARGIN_SECONDS)
                state = self.store.amocrm_import(account_id, entity)
                assert state is not None  # just written
            cursor = state["next_page"]
            finished = bool(state["finished"])
            while not finished and budget > 0:
                collection = cast(Collection, PLURAL[entity])
                page = client.page(collection, cursor, params=[("with", ",".join(WITH[collection]))])
                self._store_page(account_id, entity, region, page)
                budget -= 1
                cursor, finished = page.next, page.next is None
                if progress is not None:
                    done, estimated, _ = self._import_totals(account_id)
                    progress(done, estimated)
            if not finished:
                break
        done, estimated, records = self._import_totals(account_id)
        more = estimated > done
        if not more:
            conn = self.store.amocrm_connection(account_id)
            if conn is not None and conn["catchup_from"] is None:
                starts = [s["started_at"] for e in ENTITIES if (s := self.store.amocrm_import(account_id, e))]
                self.store.note_amocrm_catchup(account_id, catchup_from=int(min(starts)), pulled=0)
        return ImportProgress(more, done, estimated, records)

    def restart_import(self, account_id: str) -> None:
        """Forget the import's place: the next import job reads every page again (a re-install after a long gap)."""
        for entity in ENTITIES:
            self.store.start_amocrm_import(account_id, entity, int(time.time()) - CLOCK_MARGIN_SECONDS)

    def import_pending(self, account_id: str) -> bool:
        """Whether the account's initial import has pages left (or has not started)."""
        states = [self.store.amocrm_import(account_id, e) for e in ENTITIES]
        return not all(s is not None and s["finished"] for s in states)

    def _import_totals(self, account_id: str) -> tuple[int, int, int]:
        """(pages done, pages estimated, records) over both entities. amoCRM's lists carry no total, so a
        list with a next page counts one page more than done: the estimate grows as the import goes."""
        done = estimated = records = 0
        for entity in ENTITIES:
            state = self.store.amocrm_import(account_id, entity)
            if state is None:
                estimated += 1
                continue
            done += int(state["pages_done"])
            records += int(state["records"])
            estimated += int(state["pages_done"]) + (0 if state["finished"] else 1)
        return done, estimated, records

    def _records(self, account_id: str, entity: Entity, region: str, items: Sequence[dict[str, Any]]) -> list[Record]:
        records = []
        for index, item in enumerate(items):
            try:
                records.append(localize_phones(record_from_amocrm(item, entity, index=index), region))
            except InputError as exc:  # one bad record must not stop an account's sync
                logger.warning("amoCRM %s of account %s skipped: %s", entity, account_id, exc)
        return records

    def _store_page(self, account_id: str, entity: Entity, region: str, page: Page) -> None:
        records = self._records(account_id, entity, region, page.items)
        with self.store.transaction():  # the page's records and the import's place commit together
            if records:
                self.store.upsert_records(account_id, spec_for(entity), records)
            self.store.save_amocrm_page(account_id, entity, next_page=page.next, records=len(records))
