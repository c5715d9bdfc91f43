"""The long-lived parts one API process holds: settings, the store, the models, background jobs."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from api.metrics import Metrics
from api.settings import Settings
from resolver.candidates import Checker
from resolver.linkage import Model, load_model
from resolver.records import ENTITIES, Entity
from resolver.store import Persistence, Store
from training.serving import REGISTRY, SHIPPED, ModelResolver, ModelSource, Refusal, ServedModel

__all__ = ["REGISTRY", "SHIPPED", "ModelSource", "Refusal", "ServedModel", "Services"]

logger = logging.getLogger(__name__)

@dataclass
class Services:
    """Built once in the app's lifespan and closed with it."""

    settings: Settings
    store: Persistence
    models: dict[Entity, Model] = field(default_factory=dict)  # the shipped defaults, per entity
    checker: Checker | None = None
    _warming: threading.Thread | None = None
    metrics: Metrics | None = None  # counts refused champions
    resolver: ModelResolver = field(init=False)  # which model each account is served (training/serving.py)

    def __post_init__(self) -> None:
        on_refused = self.metrics.model_refused if self.metrics is not None else None
        self.resolver = ModelResolver(self.settings.mlflow_tracking_uri, self.models,
                                      refresh_seconds=self.settings.model_refresh_seconds, on_refused=on_refused)

    @classmethod
    def open(cls, settings: Settings, metrics: Metrics | None = None) -> Services:
        store = Store(settings.db)
        models = {e: load_model(e, settings.models_dir) for e in ENTITIES}
        return cls(settings=settings, store=store, models=models, checker=Checker(store, models), metrics=metrics)

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
        """The shipped default model of `entity` (the same for every account)."""
        return self.models[entity]

    def model_for(self, account_id: str, entity: Entity) -> Model:
        """The model `account_id` is served for `entity`: its registry champion, else the shipped default."""
        return self.resolver.model_for(account_id, entity)

    def served(self, account_id: str, entity: Entity) -> ServedModel:
        """`model_for` with its source, re-read at most every `settings.model_refresh_seconds`."""
        return self.resolver.served(account_id, entity)

    def forget(self, account_id: str, entity: Entity) -> None:
        """Drop the cached lookup: the next request reads the registry (after a retrain or a promote)."""
        self.resolver.forget(account_id, entity)

    def close(self) -> None:
        if self.checker is not None:
            self.checker.stop_warming()
        if self._warming is not None:
            self._warming.join(timeout=60)  # it reads the store: let it stop before the store closes
        self.store.close()
