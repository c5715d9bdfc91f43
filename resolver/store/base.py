"""What the store's parts share: `load_sql` and `StoreBase`, the members of `Store` they run on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any, Protocol

import duckdb

from resolver.records import Entity


@cache
def load_sql(name: str) -> str:
    """The text of `resolver/store/sql/<name>.sql`."""
    return (files("resolver.store") / "sql" / f"{name}.sql").read_text(encoding="utf-8")


class StoreBase(Protocol):
    """The members of `Store` that its parts (decisions, scan results, jobs) call; `Store` implements them.

    Each part subclasses this protocol, so mypy checks the calls it makes, and `Store` cannot be built
    while one is missing (a member without a body is abstract). The protocol sits last in `Store`'s
    MRO, so the real methods always win. Their docstrings are on `Store` and `DecisionStore`.
    """

    def _cursor(self) -> duckdb.DuckDBPyConnection: ...

    def _execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None, *,
                 step: str = "") -> duckdb.DuckDBPyConnection: ...

    def _dicts(self, sql: str, params: Sequence[Any] | dict[str, Any], *, step: str) -> list[dict[str, Any]]: ...

    def _stamp(self) -> datetime: ...

    def _transaction(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...

    def record_details(self, account_id: str, entity: Entity, record_ids: Sequence[str]
                       ) -> dict[str, dict[str, Any]]: ...

    def links_in_force(self, account_id: str, entity: Entity, among: Sequence[str] | None = None
                       ) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]: ...

    def _keep_before_images(self, con: duckdb.DuckDBPyConnection, account_id: str, entity: Entity, group_id: str,
                            survivor_id: str, absorbed_ids: Sequence[str], merged_by: str | None) -> None: ...
