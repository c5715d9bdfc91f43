"""Which model an account is served: its registry champion, else the shipped default. One place for the API
and the CLI alike.

`ModelResolver` looks the champion up in the MLflow registry (training/registry.py, imported on first
use: mlflow loads slowly), keeps each answer `refresh_seconds` (0: every call asks again, as a one-shot
CLI run wants) and falls back to the shipped default when there is no champion, its files are refused
(training/artifacts.py) or the registry cannot be reached. `resolver/` never imports this module: the
resolved `Model` is passed into the scan (resolver/scan.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from resolver.errors import CrmDedupError
from resolver.linkage import Model, PairReranker
from resolver.records import Entity
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


def no_tracking_store(uri: str) -> bool:
    """A local sqlite store nobody has trained into yet: it holds no champion.

    Creating it (MLflow runs its migrations, seconds) on a mere lookup would be waste.
    """
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


class ModelResolver:
    """The model each account is served per entity: its registry champion, else the shipped default.

    `defaults` are the shipped models; `on_refused(entity, reason)` is told once per champion version
    refused (the API counts it in /metrics). Thread-safe.
    """

    def __init__(self, tracking_uri: str, defaults: Mapping[Entity, Model], *, refresh_seconds: float = 0.0,
                 on_refused: Callable[[Entity, RefusalReason], None] | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.defaults = defaults
        self.refresh_seconds = refresh_seconds
        self._on_refused = on_refused
        self._served: dict[tuple[str, Entity], ServedModel] = {}
        self._lock = threading.Lock()
        self._registry: Registry | None = None

    def model_for(self, account_id: str, entity: Entity) -> Model:
        """The model `account_id` is served for `entity`: its registry champion, else the shipped default."""
        return self.served(account_id, entity).model

    def served(self, account_id: str, entity: Entity) -> ServedModel:
        """`model_for` with its source; the champion and its threshold tags are re-read at most every
        `refresh_seconds`, so a tag changed in the MLflow UI applies without a restart."""
        key = (account_id, entity)
        cached = self._served.get(key)
        if cached is not None and time.monotonic() - cached.checked_at < self.refresh_seconds:
            return cached
        with self._lock:
            fresh = self._look_up(account_id, entity, cached)
            self._served[key] = fresh
        return fresh

    def cached(self, account_id: str, entity: Entity) -> ServedModel | None:
        """`served` when it needs no registry read (looked up within `refresh_seconds`); else None."""
        cached = self._served.get((account_id, entity))
        if cached is not None and time.monotonic() - cached.checked_at < self.refresh_seconds:
            return cached
        return None

    def forget(self, account_id: str, entity: Entity) -> None:
        """Drop the cached lookup: the next call reads the registry (after a retrain or a promote)."""
        with self._lock:
            self._served.pop((account_id, entity), None)

    def registry(self) -> Registry:
        """The MLflow registry client (training/registry.py), made on first use: mlflow loads slowly."""
        if self._registry is None:
            from training.registry import Registry, quiet_artifact_progress

            quiet_artifact_progress()
            self._registry = Registry(self.tracking_uri)
        return self._registry

    def _look_up(self, account_id: str, entity: Entity, cached: ServedModel | None) -> ServedModel:
        now = time.monotonic()
        shipped = ServedModel(self.defaults[entity], SHIPPED, checked_at=now)
        if no_tracking_store(self.tracking_uri):
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
        """The shipped default in place of a champion whose files cannot be used: logged and told once."""
        logger.warning("champion version %d of %s/%s refused (%s), serving the shipped default: %s",
                       version, account_id, entity, exc.reason, exc.detail)
        if self._on_refused is not None:
            self._on_refused(entity, exc.reason)
        return replace(shipped, refused=Refusal(version, exc.reason, exc.detail))
