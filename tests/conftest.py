"""Shared fixtures: a real store (a DuckDB file in tmp_path, or a fresh PostgreSQL database), the shipped models.

A test module marked `pytest.mark.both_stores` runs each of its tests that uses `backend` (directly or
through `store`, `database_url`, the API fixtures) once per store: duckdb and postgres. The PostgreSQL
server is a throwaway one (tests/postgres.py), started once per session on first use.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from resolver.linkage import Model, load_model
from resolver.store import Store, open_store
from tests.postgres import PostgresServer

BACKENDS = ("duckdb", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "both_stores: run the module's store tests on DuckDB and on PostgreSQL")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("backend", BACKENDS, indirect=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store a test runs on: duckdb unless its module is marked both_stores (then each in turn)."""
    return str(getattr(request, "param", "duckdb"))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """A fresh, migrated PostgreSQL database for this test when it runs on postgres, else None."""
    if backend != "postgres":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def store_target(tmp_path: Path, database_url: str | None) -> str | Path:
    """What `open_store` takes for this test's store: the database URL, else a DuckDB file in tmp_path."""
    return database_url or tmp_path / "store.duckdb"


@pytest.fixture
def store(store_target: str | Path) -> Iterator[Store]:
    """A fresh store (a real DuckDB file, or a fresh PostgreSQL database), closed after the test."""
    with open_store(store_target) as s:
        yield s


@pytest.fixture(scope="session")
def default_models() -> dict[str, Model]:
    """The shipped default models by entity, as the CLI and the API load them."""
    return {entity: load_model(entity) for entity in ("contact", "company")}
