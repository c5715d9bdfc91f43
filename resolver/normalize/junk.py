"""Values that mean "empty" in a CRM field ("-", "нет", "не указан", "xxx"), and whitespace cleanup."""

from __future__ import annotations

import math
import re

from resolver.normalize._tables import read_lines

_JUNK = frozenset(value.casefold() for value in read_lines("junk.txt"))

# Zero-width characters and the BOM survive copy-paste from web forms and Excel but are not text.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# a letter or digit: what str.isalnum() says (the regex's \w is isalnum() plus "_")
_ALNUM = re.compile(r"[^\W_]")
_TRAILING_PUNCT = " .,;:!?"


def clean_text(value: object) -> str | None:
    """The value as one-line text with single spaces, or None when it is empty or junk.

    Non-strings are formatted (an Excel cell may hold 79161234567.0); NaN and None are empty.
    Junk: a placeholder from `data/junk.txt` (casefolded), text with no letter or digit ("—",
    "..."), or one character repeated ("xxx", "0000").
    """
    if value is None:
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        text = str(int(value)) if value.is_integer() else str(value)
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:  # an object whose __str__ fails is no text at all
            return None
    # str.split() without arguments splits on every Unicode space, NBSP and newlines included
    text = " ".join(text.translate(_INVISIBLE).split())
    if not text or is_junk_text(text):
        return None
    return text


def is_junk(value: object) -> bool:
    """True when the value carries nothing: None, empty, a placeholder such as "-" or "нет"."""
    return clean_text(value) is None


def is_junk_text(text: str) -> bool:
    """True for text clean_text has already cleaned that is junk all the same ("нет", "xxx", "—")."""
    if _ALNUM.search(text) is None:
        return True
    key = text.casefold().rstrip(_TRAILING_PUNCT)
    # one character three times or more ("xxx", "0000"): nothing is left once that character is stripped
    return key in _JUNK or (len(key) > 2 and not key.strip(key[0]))
