"""The long-lived parts one API process holds: settings, the store, the models, background jobs."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from amocrm.sync import AmoSync
from api.metrics import Metrics
from api.settings import Settings
from resolver.accounts import KeyCache
from resolver.candidates import Checker
from resolver.linkage import Model, load_model
from resolver.normalize.region import DEFAULT_REGION
from resolver.records import ENTITIES, Entity
from resolver.store import Persistence, open_store
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
    amocrm: AmoSync | None = None  # the amoCRM sync when configured (api/routers/amocrm.py opens it)
    resolver: ModelResolver = field(init=False)  # which model each account is served (training/serving.py)
    keys: KeyCache = field(init=False)  # API keys looked up lately (resolver/accounts.py)
    # account -> (phone region, until when): a check must not query the amoCRM connection every time
    _regions: dict[str, tuple[str, float]] = field(default_factory=dict)
    _known: dict[str, float] = field(default_factory=dict)  # account -> until when it is known to exist

    def __post_init__(self) -> None:
        self.keys = KeyCache(self.settings.key_cache_seconds)
        on_refused = self.metrics.model_refused if self.metrics is not None else None
        self.resolver = ModelResolver(self.settings.mlflow_tracking_uri, self.models,
                                      refresh_seconds=self.settings.model_refresh_seconds, on_refused=on_refused)

    @classmethod
    def open(cls, settings: Settings, metrics: Metrics | None = None) -> Services:
        store = open_store(settings.store_target, max_connections=settings.db_pool_size)
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

    def cached_model(self, account_id: str, entity: Entity) -> Model | None:
        """`model_for` when it needs no registry read (safe on the event loop); else None."""
        served = self.resolver.cached(account_id, entity)
        return None if served is None else served.model

    def served(self, account_id: str, entity: Entity) -> ServedModel:
        """`model_for` with its source, re-read at most every `settings.model_refresh_seconds`."""
        return self.resolver.served(account_id, entity)

    def forget(self, account_id: str, entity: Entity) -> None:
        """Drop the cached lookup: the next request reads the registry (after a retrain or a promote)."""
        self.resolver.forget(account_id, entity)

    def region(self, account_id: str) -> str:
        """The account's default phone region: its amoCRM country when connected, else RU (phones.py's default).

        Kept for `key_cache_seconds` (it changes only when the account is installed from amoCRM again).
        """
        if self.amocrm is None:
            return DEFAULT_REGION
        cached = self.cached_region(account_id)
        if cached is not None:
            return cached
        conn = self.amocrm.store.amocrm_connection(account_id)
        region = DEFAULT_REGION if conn is None else str(conn["region"])
        if self.settings.key_cache_seconds > 0:
            self._regions[account_id] = (region, time.monotonic() + self.settings.key_cache_seconds)
        return region

    def known_account(self, account_id: str) -> bool:
        """Whether `account_id` was seen to exist within `key_cache_seconds` (a widget token names it)."""
        until = self._known.get(account_id)
        return until is not None and time.monotonic() < until

    def note_account(self, account_id: str) -> None:
        """`account_id` exists (just checked in the store): skip the query for `key_cache_seconds`."""
        if self.settings.key_cache_seconds > 0:
            self._known[account_id] = time.monotonic() + self.settings.key_cache_seconds

    def cached_region(self, account_id: str) -> str | None:
        """`region` when it needs no store query (no amoCRM connection, or looked up lately); else None."""
        if self.amocrm is None:
            return DEFAULT_REGION
        entry = self._regions.get(account_id)
        return entry[0] if entry is not None and time.monotonic() < entry[1] else None

    def close(self) -> None:
        if self.amocrm is not None:
            self.amocrm.stop()  # its worker writes to the store
        if self.checker is not None:
            self.checker.stop_warming()
        if self._warming is not None:
            self._warming.join(timeout=60)  # it reads the store: let it stop before the store closes
        self.store.close()
