"""The one exception hierarchy of crm-dedup.

    CrmDedupError
    ├── InputError      bad input: names the file, line and field (or batch index) at fault
    ├── NotFound        an account, record, group or model that does not exist
    ├── Conflict        a request that contradicts the stored state
    ├── ModelError      a model file or settings that cannot be used
    └── StoreError      the DuckDB store cannot be read or written

`api/errors.py` maps each class to one HTTP status; the CLI prints `str(exc)` and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class CrmDedupError(Exception):
    """Base of every error crm-dedup raises on purpose."""


@dataclass(frozen=True)
class InputProblem:
    """One problem in an input: where it is and why it is wrong."""

    reason: str
    source: str | None = None  # file name, or None for an API batch
    line: int | None = None  # 1-based line of a text file or spreadsheet, as an editor shows it
    field: str | None = None  # a column header (tables) or a field path (JSON, API bodies)
    item: int | None = None  # 0-based index of the object in a JSON list or an API batch

    def __str__(self) -> str:
        where = []
        if self.source:
            where.append(self.source)
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.item is not None:
            where.append(f"item {self.item}")
        if self.field:
            tabular = self.line is not None and self.item is None
            where.append(f"column {self.field}" if tabular else f"field {self.field}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason


@dataclass
class InputError(CrmDedupError):
    """Input that cannot be used; carries every problem found, not just the first."""

    problems: list[InputProblem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    @classmethod
    def one(cls, reason: str, *, source: str | None = None, line: int | None = None,
            field: str | None = None, item: int | None = None) -> InputError:
        return cls([InputProblem(reason, source, line, field, item)])

    def __str__(self) -> str:
        if not self.problems:
            return "invalid input"
        head = str(self.problems[0])
        more = len(self.problems) - 1
        return head if more == 0 else f"{head} (and {more} more problem{'s' if more > 1 else ''})"


class NotFound(CrmDedupError):
    """The thing asked for does not exist in this account."""


class Conflict(CrmDedupError):
    """The request contradicts what is stored."""


class ModelError(CrmDedupError):
    """A model (Splink settings JSON, thresholds) cannot be loaded or used."""


class StoreError(CrmDedupError):
    """The store cannot be opened, read or written."""
