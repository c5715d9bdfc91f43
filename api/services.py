"""The long-lived parts one API process holds: settings, the store, the models, background jobs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from api.settings import Settings
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

    @classmethod
    def open(cls, settings: Settings) -> Services:
        store = Store(settings.db)
        models = {e: load_model(e, settings.models_dir) for e in ENTITIES}
        return cls(settings=settings, store=store, models=models)

    def model(self, entity: Entity) -> Model:
        return self.models[entity]

    def close(self) -> None:
        self.store.close()
