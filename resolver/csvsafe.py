"""CSV that a spreadsheet opens as text: every CSV the project writes goes through `writer` here.

A cell that begins with `=`, `+`, `-` or `@` is a formula to Excel, LibreOffice and Google Sheets
(`=HYPERLINK(...)` leaks data when clicked; DDE payloads run commands), and a leading tab or carriage
return can hide such a start from a quick look. Names and ids come from CRM users, so OWASP's
"CSV Injection" advice is followed: such a cell is written with a single quote in front, which
spreadsheets read as "this is text" (https://owasp.org/www-community/attacks/CSV_Injection).

The rule applies to every cell, whatever its type, so no written cell ever starts with one of those
characters. The project's own numbers (scores, probabilities, thresholds, 0/1 flags) are never
negative, so they are written unchanged. A phone in E.164 (`+79161234567`) is written as
`'+79161234567`: a spreadsheet shows it as text (some show the quote, some hide it) and keeps the
`+` instead of evaluating a sum. A program reading such a CSV back gets the original text with `restore`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["FORMULA_STARTS", "SafeWriter", "neutralise", "restore", "writer"]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


class _Writable(Protocol):
    def write(self, s: str, /) -> Any: ...


def neutralise(value: object) -> object:
    """The cell as it should be written: a quote in front of text a spreadsheet would run; None stays empty.

    Text that already starts with quotes before such a character gets one more, so `restore` gives
    back exactly what was written (`'=x` is written `''=x`).
    """
    if value is None:
        return value
    text = value if isinstance(value, str) else str(value)
    return _QUOTE + text if _quoted_start(text) else value


def restore(text: str) -> str:
    """The original text of a cell `neutralise` wrote (a reader's inverse); other cells unchanged."""
    return text[1:] if text.startswith(_QUOTE) and _quoted_start(text) else text


def _quoted_start(text: str) -> bool:
    # "=x", "'=x", "''=x" ... all begin (after any quotes) with a formula character
    return text.lstrip(_QUOTE).startswith(FORMULA_STARTS)


class SafeWriter:
    """`csv.writer` with every cell passed through `neutralise`.

    A row with a carriage return in a cell is written with every cell quoted: Python's writer
    (3.11) quotes only the characters of its own line terminator, so with "\n" a bare CR would end
    the row for any reader that takes CR as a line break, Excel included.
    """

    def __init__(self, out: _Writable, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)
        self._quoting_writer = csv.writer(out, **{**kwargs, "quoting": csv.QUOTE_ALL})

    def writerow(self, row: Iterable[object]) -> None:
        cells = [neutralise(v) for v in row]
        has_cr = any(isinstance(c, str) and "\r" in c for c in cells)
        (self._quoting_writer if has_cr else self._writer).writerow(cells)

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Writable, **kwargs: Any) -> SafeWriter:
    """A CSV writer on `out` (arguments as `csv.writer`) whose cells a spreadsheet cannot run."""
    return SafeWriter(out, **kwargs)
