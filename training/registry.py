"""MLflow tracking and model registry: training runs, model versions, the `champion` alias, threshold tags.

The only module that imports mlflow (design.md). One registered model per account and entity,
named `crm-dedup-<account>-<entity>`; each version's files sit under its run's `model/`
artifact directory: `settings.json` (Splink), `meta.json` (what `load_model` reads besides the
settings) and, when labels allowed one, `reranker.joblib`. The thresholds are tags on the version,
so the ML owner moves them in the MLflow UI and the service follows within its refresh interval.
Each experiment and registered model is shared with its account's MLflow login only
(training/mlflow_access.py) before anything is logged into it.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from resolver.entities import ExtraField
from resolver.errors import ModelError
from resolver.linkage import Model
from resolver.records import Entity
from training.mlflow_access import TenantAccess
from training.reranker import Reranker

logger = logging.getLogger(__name__)

CHAMPION = "champion"
REVIEW_TAG = "review_threshold"
AUTO_MERGE_TAG = "auto_merge_threshold"
MODEL_DIR = "model"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def registered_name(account_id: str, entity: Entity) -> str:
    """`crm-dedup-<account>-<entity>`; characters MLflow names and URLs dislike become `_`."""
    return f"crm-dedup-{_UNSAFE.sub('_', account_id)}-{entity}"


def artifact_root_for(tracking_uri: str) -> Path | None:
    """Artifacts beside a local sqlite store (`var/mlflow.db` -> `var/mlruns`); None: the server decides."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlruns"


def store_exists(tracking_uri: str) -> bool:
    """False for a local sqlite store that was never created: it can hold no champion yet."""
    root = artifact_root_for(tracking_uri)
    return root is None or Path(tracking_uri.removeprefix("sqlite:///")).exists()


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version as `models list` shows it."""

    version: int
    run_id: str | None
    aliases: tuple[str, ...]
    tags: dict[str, str]
    created_at_ms: int

    @property
    def review_threshold(self) -> float | None:
        return _float_tag(self.tags, REVIEW_TAG)

    @property
    def auto_merge_threshold(self) -> float | None:
        return _float_tag(self.tags, AUTO_MERGE_TAG)


@dataclass(frozen=True)
class RegisteredModel:
    """A version's Splink model (thresholds from its tags) and re-ranker, loaded from its artifacts."""

    model: Model
    reranker: Reranker | None
    info: VersionInfo


def _float_tag(tags: dict[str, str], key: str) -> float | None:
    try:
        value = float(tags[key])
    except (KeyError, ValueError):
        return None
    return value if 0.0 < value < 1.0 else None  # a mistyped tag must not turn the service off


class Registry:
    """A client of one tracking store (also the registry)."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._access: TenantAccess | None = None  # opened on the first write: serving never needs it

    @property
    def access(self) -> TenantAccess:
        if self._access is None:
            self._access = TenantAccess(self.tracking_uri)
        return self._access

    @property
    def client(self) -> MlflowClient:
        return self._client

    # -- runs -----------------------------------------------------------------------------------

    def experiment_id(self, name: str) -> str:
        """The experiment `name`, created with artifacts under the store's `mlruns` when new."""
        found = self._client.get_experiment_by_name(name)
        if found is not None:
            experiment_id = str(found.experiment_id)
        else:
            root = artifact_root_for(self.tracking_uri)
            location = (root / name).as_uri() if root else None
            experiment_id = str(self._client.create_experiment(name, artifact_location=location))
        self.access.share_experiment(name, experiment_id)  # every time: also refuses one someone else made
        return experiment_id

    def start_run(self, experiment: str, run_name: str, tags: dict[str, str]) -> str:
        run = self._client.create_run(self.experiment_id(experiment), run_name=run_name, tags=tags)
        return str(run.info.run_id)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        for key, value in params.items():
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
            self._client.log_param(run_id, key, text[:6000])  # MLflow's limit on a param value

    def log_metric(self, run_id: str, key: str, value: float, step: int = 0) -> None:
        self._client.log_metric(run_id, key, float(value), step=step)

    def log_text(self, run_id: str, text: str, path: str) -> None:
        self._client.log_text(run_id, text, path)

    def log_bytes(self, run_id: str, blob: bytes, path: str) -> None:
        directory, _, name = path.rpartition("/")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / name
            local.write_bytes(blob)
            self._client.log_artifact(run_id, str(local), directory or None)

    def set_run_tag(self, run_id: str, key: str, value: str) -> None:
        self._client.set_tag(run_id, key, value)

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self._client.set_terminated(run_id, status=status)

    # -- versions -------------------------------------------------------------------------------

    def register(self, account_id: str, entity: Entity, run_id: str, tags: dict[str, str]) -> int:
        """A new version of the account's model from the run's `model/` artifacts."""
        name = registered_name(account_id, entity)
        try:
            self._client.get_registered_model(name)
        except MlflowException:
            self._client.create_registered_model(name, tags={"account_id": account_id, "entity": entity})
        self.access.share_registered_model(name)
        source = f"{self._client.get_run(run_id).info.artifact_uri}/{MODEL_DIR}"
        version = self._client.create_model_version(name, source=source, run_id=run_id, tags=tags)
        return int(version.version)

    def set_tag(self, account_id: str, entity: Entity, version: int, key: str, value: str) -> None:
        self._client.set_model_version_tag(registered_name(account_id, entity), str(version), key, value)

    def promote(self, account_id: str, entity: Entity, version: int) -> None:
        """Point `champion` at `version` (also a rollback); NotFound-like ModelError if there is none."""
        name = registered_name(account_id, entity)
        try:
            self._client.get_model_version(name, str(version))
        except MlflowException as exc:
            raise ModelError(f"{name} has no version {version}") from exc
        self._client.set_registered_model_alias(name, CHAMPION, str(version))

    def versions(self, account_id: str, entity: Entity) -> list[VersionInfo]:
        """Every version of the account's model, newest first ([] when none was ever registered)."""
        name = registered_name(account_id, entity)
        try:
            found = self._client.search_model_versions(f"name = '{name}'")
            aliases = dict(self._client.get_registered_model(name).aliases or {})
        except MlflowException:
            return []
        # search results leave aliases out; the registered model holds them (alias -> version)
        infos = [replace(_info(v), aliases=tuple(sorted(a for a, n in aliases.items() if int(n) == int(v.version))))
                 for v in found]
        return sorted(infos, key=lambda v: -v.version)

    def champion_info(self, account_id: str, entity: Entity) -> VersionInfo | None:
        """The version aliased `champion`, tags included; None when there is none."""
        try:
            version = self._client.get_model_version_by_alias(registered_name(account_id, entity), CHAMPION)
        except MlflowException:
            return None
        return _info(version)

    def load(self, account_id: str, entity: Entity, info: VersionInfo) -> RegisteredModel:
        """A version's model (thresholds from its tags, else from its meta) and its re-ranker."""
        name = registered_name(account_id, entity)
        if info.run_id is None:
            raise ModelError(f"{name} version {info.version} has no run to load its files from")
        with tempfile.TemporaryDirectory() as tmp:
            try:
                local = Path(self._client.download_artifacts(info.run_id, MODEL_DIR, tmp))
                settings = json.loads((local / "settings.json").read_text(encoding="utf-8"))
                meta = json.loads((local / "meta.json").read_text(encoding="utf-8"))
                blob = (local / "reranker.joblib").read_bytes() if (local / "reranker.joblib").exists() else None
            except (MlflowException, OSError, json.JSONDecodeError) as exc:
                raise ModelError(f"{name} version {info.version}: cannot read its model files: {exc}") from exc
        reranker = Reranker.from_bytes(blob) if blob else None
        model = Model(
            entity=entity, version=f"{name}@v{info.version}", settings=settings,
            review_threshold=info.review_threshold or float(meta["review_threshold"]),
            auto_merge_threshold=info.auto_merge_threshold or float(meta["auto_merge_threshold"]),
            extras=tuple(ExtraField(**e) for e in meta.get("extras", [])), meta=meta,
            reranker=reranker)
        return RegisteredModel(model, reranker, info)


def _info(version: ModelVersion) -> VersionInfo:
    return VersionInfo(version=int(version.version), run_id=version.run_id,
                       aliases=tuple(getattr(version, "aliases", ()) or ()), tags=dict(version.tags or {}),
                       created_at_ms=int(version.creation_timestamp or 0))


def quiet_artifact_progress() -> None:
    """MLflow draws a progress bar on stderr for every artifact download; the service's log is no place for it."""
    mlflow.environment_variables.MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)
