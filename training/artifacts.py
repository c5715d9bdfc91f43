"""Reading a model version's files as data only: size-capped UTF-8 JSON, and why a version is refused.

Nothing read from the registry is ever unpickled (a pickle runs code while it loads): the Splink
settings, the meta and the re-ranker are JSON, parsed by `json` and checked field by field. A
version whose files do not pass is refused with one of a few fixed reasons, which the service
logs, counts in `/metrics` and shows at `GET /v1/models/current` while it serves the shipped default.

This module imports neither mlflow nor scikit-learn, so the API can name the reasons cheaply.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from resolver.errors import ModelError

RefusalReason = Literal["missing_file", "too_large", "not_json", "invalid", "legacy_pickle", "thresholds"]
REFUSAL_REASONS: tuple[RefusalReason, ...] = (
    "missing_file",   # settings.json / meta.json absent, or meta names a re-ranker that is not there
    "too_large",      # a file over its size cap (MAX_BYTES)
    "not_json",       # not UTF-8 JSON: a pickle, an archive, garbage
    "invalid",        # JSON of the wrong shape, or a re-ranker kind outside the allow-list
    "legacy_pickle",  # only the old reranker.joblib: a pickle is never loaded
    "thresholds",     # no usable review / auto-merge threshold in the tags or the meta
)

# Size caps per file, far above what a trained version holds (settings ~10 KB, meta ~2 KB,
# a 200-tree re-ranker ~0.5 MB), so a planted giant is refused before it is parsed.
MAX_BYTES: dict[str, int] = {
    "settings.json": 4 * 1024 * 1024,
    "meta.json": 1024 * 1024,
    "reranker.json": 16 * 1024 * 1024,
}
DEFAULT_MAX_BYTES = 4 * 1024 * 1024


class RefusedModel(ModelError):
    """A version whose files cannot be used as they are: `reason` is one of REFUSAL_REASONS.

    Unlike other ModelErrors (the registry did not answer, for one), retrying does not help:
    the same version is refused again until someone points `champion` elsewhere.
    """

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RefusalReason = reason
        self.detail = detail


def read_json(path: Path, *, name: str | None = None, max_bytes: int | None = None) -> Any:
    """The JSON document in `path`, read as UTF-8 text with a size cap; RefusedModel otherwise."""
    label = name or path.name
    limit = max_bytes if max_bytes is not None else MAX_BYTES.get(path.name, DEFAULT_MAX_BYTES)
    try:
        with path.open("rb") as fh:
            blob = fh.read(limit + 1)
    except FileNotFoundError as exc:
        raise RefusedModel("missing_file", f"{label} is missing") from exc
    except OSError as exc:
        raise RefusedModel("missing_file", f"{label} cannot be read: {exc.strerror}") from exc
    return parse_json(blob, name=label, max_bytes=limit)


def parse_json(blob: bytes, *, name: str, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """`blob` parsed as UTF-8 JSON, refused when larger than `max_bytes` or not JSON at all."""
    if len(blob) > max_bytes:
        raise RefusedModel("too_large", f"{name} is larger than {max_bytes} bytes")
    try:
        return json.loads(blob.decode("utf-8"))
    except RecursionError as exc:  # "[[[[…" nested past Python's limit
        raise RefusedModel("not_json", f"{name} is nested too deeply") from exc
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise RefusedModel("not_json", f"{name} is not UTF-8 JSON ({type(exc).__name__})") from exc
