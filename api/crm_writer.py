"""The CRM writer restore uses (resolver/restore.py `CrmWriter`), on the amoCRM API v4 client (amocrm/client.py).

`app.state.crm_writers` maps an account to its writer, None when the account has no amoCRM connection
(restore then answers 409). `amocrm_writers(clients)` builds that map from a function giving an
account's connected client; the sync's connection store provides it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from amocrm.client import AmoClient
from amocrm.errors import AmoError, NeedsReinstall
from resolver.records import PLURAL, Entity
from resolver.restore import CrmWriteError, CrmWriter


class AmoCrmWriter:
    """Creates and links one record through API v4 for restore; amoCRM's failures become CrmWriteError."""

    def __init__(self, client: AmoClient) -> None:
        self.client = client

    def create(self, entity: Entity, payload: dict[str, Any]) -> str:
        try:
            [created] = self.client.create("contacts" if entity == "contact" else "companies", [payload])
        except NeedsReinstall as exc:
            raise CrmWriteError(f"amoCRM refused the connection's tokens ({exc}); install the integration "
                                "again") from exc
        except AmoError as exc:
            raise CrmWriteError(f"amoCRM did not create the {entity}: {exc}") from exc
        return str(created)

    def link(self, entity: Entity, record_id: str, links: list[dict[str, Any]]) -> None:
        try:
            self.client.link("contacts" if entity == "contact" else "companies", record_id, links)
        except AmoError as exc:
            raise CrmWriteError(f"amoCRM did not link {PLURAL[entity]} {record_id}: {exc}") from exc


def amocrm_writers(client_for: Callable[[str], AmoClient | None]) -> Callable[[str], CrmWriter | None]:
    """account -> an AmoCrmWriter on its connected client; None without a connection."""

    def writer(account: str) -> CrmWriter | None:
        client = client_for(account)
        return AmoCrmWriter(client) if client is not None else None

    return writer
