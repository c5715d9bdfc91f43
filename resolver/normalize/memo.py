"""Normalize each distinct value once: a CRM base repeats its names, companies and emails heavily.

`memo_text` wraps a pure function of one text value in a bounded LRU cache (functools' C one). Values
longer than `MEMO_MAX_CHARS` are not cached: they are rare, and a hostile file of long unique values
would only fill the cache. Cached results are shared between calls, so the function must return an
immutable value (a tuple, a frozen dataclass, a str or None), never a list a caller could change.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar

__all__ = ["MEMO_MAX_CHARS", "MEMO_SIZE", "clear_memos", "memo_text"]

MEMO_MAX_CHARS = 256
# entries per cache: 300k distinct short values are a few tens of MB, and an account repeats far fewer
MEMO_SIZE = 1 << 18

T = TypeVar("T")
_CLEARS: list[Callable[[], None]] = []


def memo_text(func: Callable[[str | None], T]) -> Callable[[str | None], T]:
    """`func` with its results for short text values remembered (None and long values computed each time)."""
    cached = lru_cache(maxsize=MEMO_SIZE)(func)
    _CLEARS.append(cached.cache_clear)

    @wraps(func)
    def wrapper(text: str | None) -> T:
        if isinstance(text, str) and len(text) <= MEMO_MAX_CHARS:
            return cached(text)
        return func(text)

    return wrapper


def clear_memos() -> None:
    """Forget every remembered value (tests; a change of the tables the normalizers read)."""
    for clear in _CLEARS:
        clear()
