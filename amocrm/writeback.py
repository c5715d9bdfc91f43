"""Telling amoCRM what was found: a tag and a note on a record with duplicates, the tag off once none is left.

Idempotent: what amoCRM already has is not written again, because a tag write fires an update webhook
whose handling must end here. A note is written only when a match is new. Nothing is ever merged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from amocrm.client import AmoClient, Collection
from amocrm.config import DuplicatesFn, SyncSettings
from amocrm.errors import AmoError, NeedsReinstall
from resolver.records import PLURAL, Entity
from resolver.store.amocrm import AmoPersistence

NOTE_MATCHES = 10  # matches a note lists by name; more are counted


class WriteBack:
    """The write-back part of AmoSync (amocrm/sync.py), which provides `store`, `settings` and `_duplicates`."""

    store: AmoPersistence
    settings: SyncSettings
    _duplicates: DuplicatesFn

    def write_back(self, client: AmoClient, account_id: str, entity: Entity, record_id: str) -> None:
        """Tag and note a record with duplicates; untag one left without any. Idempotent: what amoCRM already
        has is not written again (a tag write fires an update webhook, which must end here)."""
        conn = self.store.amocrm_connection(account_id)
        if conn is None or not conn["write_back"]:
            return
        tag = str(conn["tag"])
        state = self.store.amocrm_writeback(account_id, entity, record_id)
        tagged = bool(state and state["tagged"])
        noted = set(str(state["noted"]).split(",")) if state and state["noted"] else set()
        matches = self._duplicates(account_id, entity, record_id) or []
        collection = cast(Collection, PLURAL[entity])
        try:
            if matches:
                if not tagged:
                    client.edit_tags(collection, record_id, add=[tag])
                    tagged = True
                ids = {m for m, _ in matches}
                if ids - noted:  # a note only when a match is new: decisions on old ones add no notes
                    client.add_note(collection, record_id, self._note(account_id, entity, record_id, matches))
                    noted |= ids
            elif tagged:
                client.edit_tags(collection, record_id, remove=[tag])
                tagged = False
            else:
                if state is None:
                    return
        except NeedsReinstall:
            raise
        except AmoError as exc:
            self.store.save_amocrm_writeback(account_id, entity, record_id, tagged=tagged,
                                             noted=",".join(sorted(noted)) or None, pending=True, error=str(exc)[:300])
            return
        self.store.save_amocrm_writeback(account_id, entity, record_id, tagged=tagged,
                                         noted=",".join(sorted(noted)) or None, pending=False)

    def _note(self, account_id: str, entity: Entity, record_id: str, matches: Sequence[tuple[str, float]]) -> str:
        shown = list(matches)[:NOTE_MATCHES]
        details = self.store.record_details(account_id, entity, [m for m, _ in shown])
        group = self.store.amocrm_group_of(account_id, entity, [record_id, *(m for m, _ in shown)])
        page = f"{self.settings.public_url.rstrip('/')}/ui/" + (f"#group={group}" if group else "")
        lines = ["crm-dedup: возможный дубль / possible duplicate"]
        for match_id, probability in shown:
            name = (details.get(match_id) or {}).get("name") or "—"
            lines.append(f"• {str(name)[:80]} (id {match_id}): {round(probability * 100)} %")
        if len(matches) > len(shown):
            lines.append(f"… +{len(matches) - len(shown)}")
        lines.append(f"Проверить / review: {page}")
        return "\n".join(lines)
