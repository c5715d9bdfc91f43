"""The long-lived parts one API process holds: settings, the store, the models, background jobs."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from amocrm.sync import AmoSync
from api.metrics import Metrics
from api.settings import Settings
from resolver.candidates import Checker
from resolver.errors import CrmDedupError
from resolver.linkage import Model, PairReranker, load_model
from resolver.records import ENTITIES, Entity
from resolver.store import Store
from training.artifacts import RefusalReason, RefusedModel

if TYPE_CHECKING:  # mlflow loads slowly: training.registry is imported on first use only
    from training.registry import Registry

logger = logging.getLogger(__name__)

ModelSource = Literal["shipped default", "registry"]
SHIPPED: ModelSource = "shipped default"
REGISTRY: ModelSource = "registry"


@dataclass(frozen=True)
class Refusal:
    """Why the account's champion is not served: its version, a reason of REFUSAL_REASONS, the detail."""

    version: int
    reason: RefusalReason
    detail: str


@dataclass(frozen=True)
class ServedModel:
    """The model one account gets for one entity, where it came from and when that was last looked up.

    `reranker` is the champion's re-ranker (training/reranker.py) or None; `version_number` is the
    registry's version, None for the shipped default; `refused` says why a champion was not used.
    """

    model: Model
    source: ModelSource
    version_number: int | None = None
    registered_model: str | None = None
    reranker: PairReranker | None = None
    checked_at: float = 0.0
    refused: Refusal | None = None


def _no_tracking_store(uri: str) -> bool:
    # a local sqlite store nobody has trained into yet holds no champion; creating it (MLflow runs
    # its migrations, seconds) on a mere lookup would be waste
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


@dataclass
class Services:
    """Built once in the app's lifespan and closed with it."""

    settings: Settings
    store: Store
    models: dict[Entity, Model] = field(default_factory=dict)  # the shipped defaults, per entity
    checker: Checker | None = None
    _warming: threading.Thread | None = None
    _served: dict[tuple[str, Entity], ServedModel] = field(default_factory=dict)
    _served_lock: threading.Lock = field(default_factory=threading.Lock)
    _registry: Registry | None = None
    metrics: Metrics | None = None  # counts refused champions
    amocrm: AmoSync | None = None  # the amoCRM sync when configured (api/routers/amocrm.py opens it)

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
        return self.served(account_id, entity).model

    def served(self, account_id: str, entity: Entity) -> ServedModel:
        """`model_for` with its source; the champion and its threshold tags are re-read at most every
        `settings.model_refresh_seconds`, so a tag changed in the MLflow UI applies without a restart."""
        key = (account_id, entity)
        cached = self._served.get(key)
        if cached is not None and time.monotonic() - cached.checked_at < self.settings.model_refresh_seconds:
            return cached
        with self._served_lock:
            fresh = self._look_up(account_id, entity, cached)
            self._served[key] = fresh
        return fresh

    def forget(self, account_id: str, entity: Entity) -> None:
        """Drop the cached lookup: the next request reads the registry (after a retrain or a promote)."""
        with self._served_lock:
            self._served.pop((account_id, entity), None)

    def registry(self) -> Registry:
        """The MLflow registry client (training/registry.py), made on first use: mlflow loads slowly."""
        if self._registry is None:
            from training.registry import Registry, quiet_artifact_progress

            quiet_artifact_progress()
            self._registry = Registry(self.settings.mlflow_tracking_uri)
        return self._registry

    def _look_up(self, account_id: str, entity: Entity, cached: ServedModel | None) -> ServedModel:
        now = time.monotonic()
        shipped = ServedModel(self.models[entity], SHIPPED, checked_at=now)
        if _no_tracking_store(self.settings.mlflow_tracking_uri):
            return shipped
        try:
            registry = self.registry()
            info = registry.champion_info(account_id, entity)
            if info is None:
                return shipped
            if cached is not None and cached.version_number == info.version:
                # same champion: only the thresholds may have moved (tags); a bad tag keeps the old value
                model = replace(cached.model,
                                review_threshold=info.review_threshold or cached.model.review_threshold,
                                auto_merge_threshold=info.auto_merge_threshold or cached.model.auto_merge_threshold)
                return replace(cached, model=model, checked_at=now)
            if cached is not None and cached.refused is not None and cached.refused.version == info.version:
                # refused already: not fetched, logged or counted again until `champion` moves
                return replace(cached, checked_at=now)
            from training.registry import registered_name

            try:
                loaded = registry.load(account_id, entity, info)
            except RefusedModel as exc:
                return self._refuse(account_id, entity, info.version, exc, shipped)
            return ServedModel(loaded.model, REGISTRY, info.version, registered_name(account_id, entity),
                               loaded.reranker, now)
        except CrmDedupError as exc:
            logger.warning("champion of %s/%s unusable, serving %s: %s", account_id, entity,
                           "the previous one" if cached else "the shipped default", exc)
        except Exception:  # the registry is a remote store too: an outage must not take the API down
            logger.exception("model registry lookup for %s/%s failed", account_id, entity)
        return replace(cached, checked_at=now) if cached is not None else shipped

    def _refuse(self, account_id: str, entity: Entity, version: int, exc: RefusedModel,
                shipped: ServedModel) -> ServedModel:
        """The shipped default in place of a champion whose files cannot be used: logged and counted once."""
        logger.warning("champion version %d of %s/%s refused (%s), serving the shipped default: %s",
                       version, account_id, entity, exc.reason, exc.detail)
        if self.metrics is not None:
            self.metrics.model_refused(entity, exc.reason)
        return replace(shipped, refused=Refusal(version, exc.reason, exc.detail))

    def close(self) -> None:
        if self.amocrm is not None:
            self.amocrm.stop()  # its worker writes to the store
        if self.checker is not None:
            self.checker.stop_warming()
        if self._warming is not None:
            self._warming.join(timeout=60)  # it reads the store: let it stop before the store closes
        self.store.close()
