"""MLflow tracking and model registry: training runs, model versions, the `champion` alias, threshold tags.

The only module that imports mlflow (design.md). One registered model per account and entity,
named `crm-dedup-<account>-<entity>`; each version's files sit under its run's `model/`
artifact directory: `settings.json` (Splink), `meta.json` (what `load_model` reads besides the
settings) and, when labels allowed one, `reranker.json` (training/reranker.py). The thresholds are
tags on the version, so the ML owner moves them in the MLflow UI and the service follows within its
refresh interval.

Loading a version reads those three files as size-capped JSON and nothing else (training/artifacts.py):
no file of a version is ever unpickled. A version that fails is refused (RefusedModel, with a reason).
Each experiment and registered model is shared with its account's MLflow login only
(training/mlflow_access.py) before anything is logged into it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from resolver.entities import EXTRA_KINDS, ExtraField
from resolver.errors import ModelError
from resolver.linkage import Model
from resolver.records import Entity
from training.artifacts import MAX_BYTES, RefusedModel, read_json
from training.mlflow_access import TenantAccess
from training.reranker import Reranker

logger = logging.getLogger(__name__)

CHAMPION = "champion"
REVIEW_TAG = "review_threshold"
AUTO_MERGE_TAG = "auto_merge_threshold"
MODEL_DIR = "model"
SETTINGS_FILE = "settings.json"
META_FILE = "meta.json"
RERANKER_FILE = "reranker.json"
LEGACY_RERANKER_FILE = "reranker.joblib"  # a pickle: listed to say why a version is refused, never read
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_EXTRA_NAME = re.compile(r"[a-z][a-z0-9_]{0,40}")  # as ExtraField.parse accepts them


def registered_name(account_id: str, entity: Entity) -> str:
    """`crm-dedup-<account>-<entity>`; characters MLflow names and URLs dislike become `_`."""
    return f"crm-dedup-{_UNSAFE.sub('_', account_id)}-{entity}"


def artifact_root_for(tracking_uri: str) -> Path | None:
    """Where new experiments keep their artifacts: CRM_DEDUP_MLFLOW_ARTIFACT_ROOT when set (a directory every
    worker reaches, for a tracking store on PostgreSQL), else beside a local sqlite store (`var/mlflow.db` ->
    `var/mlruns`); None: the tracking server decides."""
    shared = os.environ.get("CRM_DEDUP_MLFLOW_ARTIFACT_ROOT")
    if shared:
        return Path(shared).resolve()
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri.removeprefix("sqlite:///")).resolve().parent / "mlruns"


def store_exists(tracking_uri: str) -> bool:
    """False for a local sqlite store that was never created: it can hold no champion yet."""
    return not tracking_uri.startswith("sqlite:///") or Path(tracking_uri.removeprefix("sqlite:///")).exists()


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
        """A version's model (thresholds from its tags, else from its meta) and its re-ranker.

        RefusedModel when its files cannot be used (see training/artifacts.py for the reasons);
        a plain ModelError when the store could not be asked (worth trying again later).
        """
        name = registered_name(account_id, entity)
        where = f"{name} version {info.version}"
        if info.run_id is None:
            raise RefusedModel("missing_file", f"{where} has no run to load its files from")
        sizes = self._model_files(info.run_id, where)
        with tempfile.TemporaryDirectory() as tmp:
            settings = self._read(info.run_id, sizes, SETTINGS_FILE, Path(tmp), where)
            meta = self._read(info.run_id, sizes, META_FILE, Path(tmp), where)
            document = (self._read(info.run_id, sizes, RERANKER_FILE, Path(tmp), where)
                        if RERANKER_FILE in sizes else None)
        if not isinstance(meta, dict):
            raise RefusedModel("invalid", f"{where}: {META_FILE} must be a JSON object")
        _check_settings(settings, where)
        reranker: Reranker | None = None
        if document is not None:
            try:
                reranker = Reranker.from_document(document)
            except ModelError as exc:
                raise RefusedModel("invalid", f"{where}: {RERANKER_FILE}: {exc}") from exc
        elif LEGACY_RERANKER_FILE in sizes:
            raise RefusedModel("legacy_pickle", f"{where} has only {LEGACY_RERANKER_FILE}, a pickle this service "
                                                f"never loads; retrain to store {RERANKER_FILE}")
        elif meta.get("reranker"):
            raise RefusedModel("missing_file", f"{where}: {META_FILE} names a re-ranker but {RERANKER_FILE} is missing")
        extras = _extras(meta.get("extras", []), where)
        model = Model(
            entity=entity, version=f"{name}@v{info.version}", settings=settings,
            review_threshold=_threshold(info.review_threshold, meta, REVIEW_TAG, where),
            auto_merge_threshold=_threshold(info.auto_merge_threshold, meta, AUTO_MERGE_TAG, where),
            extras=extras, meta=meta, reranker=reranker)
        return RegisteredModel(model, reranker, info)

    def _model_files(self, run_id: str, where: str) -> dict[str, int | None]:
        """file name -> size in bytes (None when the store does not say) of the run's `model/` files."""
        try:
            listed = self._client.list_artifacts(run_id, MODEL_DIR)
        except (MlflowException, OSError) as exc:
            raise ModelError(f"{where}: cannot list its model files: {exc}") from exc
        return {f.path.rpartition("/")[2]: f.file_size for f in listed if not f.is_dir}

    def _read(self, run_id: str, sizes: dict[str, int | None], file: str, tmp: Path, where: str) -> Any:
        """One model file as JSON: its size checked before it is fetched, its text parsed, nothing executed."""
        if file not in sizes:
            raise RefusedModel("missing_file", f"{where}: {file} is missing")
        size, limit = sizes[file], MAX_BYTES[file]
        if size is not None and size > limit:
            raise RefusedModel("too_large", f"{where}: {file} is {size} bytes, more than {limit}")
        try:
            local = Path(self._client.download_artifacts(run_id, f"{MODEL_DIR}/{file}", str(tmp)))
        except (MlflowException, OSError) as exc:
            raise ModelError(f"{where}: cannot fetch {file}: {exc}") from exc
        try:
            return read_json(local, name=file)
        except RefusedModel as exc:
            raise RefusedModel(exc.reason, f"{where}: {exc.detail}") from exc


def _check_settings(settings: Any, where: str) -> None:
    """The parts of Splink settings this service reads itself must be there, of the right types."""
    try:
        if not isinstance(settings, dict):
            raise TypeError("not a JSON object")
        comparisons = settings["comparisons"]
        if not isinstance(comparisons, list) or not comparisons:
            raise TypeError("comparisons must be a non-empty list")
        for comparison in comparisons:
            if not isinstance(comparison["output_column_name"], str):
                raise TypeError("a comparison's output_column_name must be a string")
            levels = comparison["comparison_levels"]
            if not isinstance(levels, list) or not all(isinstance(level, dict) for level in levels):
                raise TypeError("a comparison's comparison_levels must be a list of objects")
        prior = settings["probability_two_random_records_match"]
        if isinstance(prior, bool) or not isinstance(prior, int | float) or not 0.0 < prior < 1.0:
            raise TypeError("probability_two_random_records_match must be a number between 0 and 1")
    except (KeyError, TypeError) as exc:
        missing = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise RefusedModel("invalid", f"{where}: {SETTINGS_FILE}: {missing}") from exc


def _extras(value: Any, where: str) -> tuple[ExtraField, ...]:
    """The meta's extra fields, each as `ExtraField.parse` would accept it (their names reach SQL as columns)."""
    if not isinstance(value, list):
        raise RefusedModel("invalid", f"{where}: {META_FILE} extras must be a list")
    out = []
    for item in value:
        if (not isinstance(item, dict) or set(item) != {"name", "kind", "source"}
                or not all(isinstance(v, str) for v in item.values())
                or item["kind"] not in EXTRA_KINDS or not _EXTRA_NAME.fullmatch(item["name"])):
            raise RefusedModel("invalid", f"{where}: {META_FILE} extras: not an extra field: {str(item)[:80]}")
        out.append(ExtraField(item["name"], item["kind"], item["source"]))
    return tuple(out)


def _threshold(tagged: float | None, meta: dict[str, Any], key: str, where: str) -> float:
    """The tag's threshold if it is a usable one, else the meta's; RefusedModel when neither is."""
    if tagged is not None:
        return tagged
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < float(value) < 1.0:
        raise RefusedModel("thresholds", f"{where}: no usable {key} in its tags or {META_FILE}")
    return float(value)


def _info(version: ModelVersion) -> VersionInfo:
    return VersionInfo(version=int(version.version), run_id=version.run_id,
                       aliases=tuple(getattr(version, "aliases", ()) or ()), tags=dict(version.tags or {}),
                       created_at_ms=int(version.creation_timestamp or 0))


def quiet_artifact_progress() -> None:
    """MLflow draws a progress bar on stderr for every artifact download; the service's log is no place for it."""
    mlflow.environment_variables.MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR.set(False)
