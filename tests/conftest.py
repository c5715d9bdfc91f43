"""Shared fixtures: a real DuckDB store file in tmp_path, the shipped default models."""

from collections.abc import Iterator

import pytest

from resolver.linkage import Model, load_model
from resolver.store import Store


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    """A fresh store in a real DuckDB file, closed after the test."""
    with Store(tmp_path / "store.duckdb") as s:
        yield s


@pytest.fixture(scope="session")
def default_models() -> dict[str, Model]:
    """The shipped default models by entity, as the CLI and the API load them."""
    return {entity: load_model(entity) for entity in ("contact", "company")}
