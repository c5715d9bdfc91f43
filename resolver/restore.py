"""Undo a merge: re-create the absorbed record in the CRM from its before-image, link it back, and record
the pair as "not a duplicate" so the next scan keeps the two apart.

The CRM is reached through a `CrmWriter` (create one record, link it to others): the amoCRM API v4
client implements it (amocrm/), tests may give their own. amoCRM's API v4 cannot merge or delete
contacts, but it can create and link them, which is all an undo needs.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from resolver.errors import CrmDedupError
from resolver.records import Decision, Entity
from resolver.store.interface import Persistence
from resolver.suppression import record_decisions

logger = logging.getLogger(__name__)

# the parts of an API v4 custom field value a create request takes (ids, codes and values; never names)
_VALUE_KEYS = ("value", "enum_id", "enum_code")


class CrmWriteError(CrmDedupError):
    """The CRM refused or failed a write; `detail` says what it answered."""


class CrmWriter(Protocol):
    """What restore needs of a CRM: create one record, link one record to others (amoCRM API v4 shapes)."""

    def create(self, entity: Entity, payload: dict[str, Any]) -> str:
        """Create one contact or company (`POST /api/v4/{contacts|companies}`); the new record's id."""
        ...

    def link(self, entity: Entity, record_id: str, links: list[dict[str, Any]]) -> None:
        """Link a record (`POST /api/v4/{contacts|companies}/{id}/link`): `to_entity_id`, `to_entity_type`."""
        ...


def create_payload(entity: Entity, image: dict[str, Any]) -> dict[str, Any]:
    """The API v4 body that re-creates an absorbed record: name, responsible user, custom fields, tags.

    From the raw object as synced when there is one (every custom field and tag), else from the
    normalized phones and emails (PHONE / EMAIL by field code).
    """
    raw: dict[str, Any] = image["raw"] if isinstance(image.get("raw"), dict) else {}
    payload: dict[str, Any] = {"name": image.get("name") or raw.get("name") or ""}
    if entity == "contact":
        for key in ("first_name", "last_name"):
            if isinstance(raw.get(key), str) and raw[key]:
                payload[key] = raw[key]
    responsible = image.get("responsible_user_id") or raw.get("responsible_user_id")
    if responsible is not None and str(responsible).isdigit():
        payload["responsible_user_id"] = int(responsible)
    fields = []
    for field in raw.get("custom_fields_values") or []:
        if not isinstance(field, dict) or not isinstance(field.get("values"), list):
            continue
        target = {k: field[k] for k in ("field_id", "field_code") if field.get(k) is not None}
        values = [{k: v[k] for k in _VALUE_KEYS if isinstance(v, dict) and v.get(k) is not None}
                  for v in field["values"]]
        values = [v for v in values if "value" in v or "enum_id" in v]
        if target and values:
            fields.append({**target, "values": values})
    if not fields:
        for code, key in (("PHONE", "phones"), ("EMAIL", "emails")):
            if image.get(key):
                fields.append({"field_code": code, "values": [{"value": v, "enum_code": "WORK"} for v in image[key]]})
    if fields:
        payload["custom_fields_values"] = fields
    tags = [t for t in ((raw.get("_embedded") or {}).get("tags") or []) if isinstance(t, dict)]
    # by name where known (a tag deleted since comes back by name), else by id
    tags = [{"name": t["name"]} if t.get("name") else {"id": t["id"]} for t in tags
            if t.get("name") or t.get("id") is not None]
    if tags:
        payload["_embedded"] = {"tags": tags}
    return payload


def links_of(entity: Entity, image: dict[str, Any]) -> list[dict[str, Any]]:
    """The deals and companies (for a contact) or contacts (for a company) the record was linked to."""
    raw: dict[str, Any] = image["raw"] if isinstance(image.get("raw"), dict) else {}
    embedded = raw.get("_embedded") or {}
    found: dict[tuple[str, str], None] = {}
    for lead in image.get("lead_ids") or []:
        found[("leads", str(lead))] = None
    for lead in embedded.get("leads") or []:
        if isinstance(lead, dict) and lead.get("id") is not None:
            found[("leads", str(lead["id"]))] = None
    other = "companies" if entity == "contact" else "contacts"
    for linked in (image.get("company_ids") or []) if entity == "contact" else []:
        found[(other, str(linked))] = None
    for linked in embedded.get(other) or []:
        if isinstance(linked, dict) and linked.get("id") is not None:
            found[(other, str(linked["id"]))] = None
    return [{"to_entity_id": int(i) if i.isdigit() else i, "to_entity_type": kind} for kind, i in found]


def restore_merge(store: Persistence, account_id: str, merge_id: str, writer: CrmWriter, *,
                  reviewer: str | None) -> dict[str, Any]:
    """Re-create the record merge `merge_id` absorbed, link it, and separate it from the survivor.

    Returns the kept merge as listed, with `restored_as` (the new id) and `linked` (links made).
    Raises NotFound / Conflict (already restored), or CrmWriteError from the CRM: when creating
    failed nothing changed and the restore may be tried again; when linking failed the record exists
    (restored_as says which) and the error says which links are missing.
    """
    claimed = store.claim_restore(account_id, merge_id, by=reviewer)
    entity: Entity = claimed["entity"]
    image = claimed["image"]
    try:
        new_id = str(writer.create(entity, create_payload(entity, image)))
    except Exception:
        store.finish_restore(account_id, merge_id, None)
        raise
    store.finish_restore(account_id, merge_id, new_id)
    # from here the record exists in the CRM: the decision is stored before the links are tried
    record_decisions(store, account_id, [Decision.of(entity, claimed["survivor_id"], new_id, "not_duplicate",
                                                     reviewer=reviewer, group_id=claimed["group_id"])])
    links = links_of(entity, image)
    if links:
        try:
            writer.link(entity, new_id, links)
        except CrmWriteError as exc:
            raise CrmWriteError(f"{entity} {image['record_id']} was re-created as {new_id}, but "
                                f"linking it to {len(links)} record(s) failed: {exc}") from exc
    restored = store.merge_image(account_id, merge_id)
    assert restored is not None
    logger.info("account %s: merge %s restored as %s %s", account_id, merge_id, entity, new_id)
    return {**restored, "linked": links}
