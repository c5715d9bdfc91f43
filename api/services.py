"""The long-lived parts one API process holds: settings, the store, the models, background jobs."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from api.settings import Settings
from resolver.candidates import Checker
from resolver.linkage import Model, load_model
from resolver.records import ENTITIES, Entity
from resolver.store import Store

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """Built once in the app's lifespan and closed with it."""

    settings: Settings
    store: Store
    models: dict[Entity, Model] = field(default_factory=dict)
    checker: Checker | None = None
    _warming: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings) -> Services:
        store = Store(settings.db)
        models = {e: load_model(e, settings.models_dir) for e in ENTITIES}
        return cls(settings=settings, store=store, models=models, checker=Checker(store, models))

    def warm_in_background(self) -> threading.Thread:
        """Load every account's records for the real-time check while the API already answers."""
        checker = self.checker
        accounts = self.store.accounts_with_records()

        def warm() -> None:
            try:
                if checker is not None:
                    checker.warm(accounts)
            except Exception:
                logger.exception("warming the check index failed")

        thread = self._warming = threading.Thread(target=warm, name="crm-dedup-warm", daemon=True)
        thread.start()
        return thread

    def model(self, entity: Entity) -> Model:
        return self.models[entity]

    def close(self) -> None:
        if self.checker is not None:
            self.checker.stop_warming()
        if self._warming is not None:
            self._warming.join(timeout=60)  # it reads the store: let it stop before the store closes
        self.store.close()
