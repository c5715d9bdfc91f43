"""How much of a value the normalizers read, and where they may cut it.

Every normalizer runs in time linear in its input, but a value can still be a 1 MB string from
a file cell or a careless client, and the caches keyed on values would keep such strings. So a
normalizer parses at most `MAX_PARSED_CHARS` characters of a value (after whitespace is
collapsed). Real names, companies, phone and email fields are a few hundred characters at most,
and the API refuses fields over 2,000 characters by default, so the cap changes nothing that is
a real value; 4,096 leaves room for a field holding a few dozen phones or addresses.

A longer value is cut where no token is split in two (`clip`): a phone number, an address or a
word that straddles the cut is dropped whole, never read as a shorter number or word that might
match another record. Values whose whole text is one token (one address, an INN, a site, an
identifier) are refused instead of cut, since a prefix of one is not the same value.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_PARSED_CHARS = 4096

# Characters that can be inside one written phone number (phones._RUN): digits, "+", separators.
_PHONE_PUNCTUATION = frozenset("+ \t\u00a0-\u2010\u2011\u2012\u2013\u2014\u2015().")
# Characters that end an address in free text (emails._IN_TEXT_STOP) or split an email field.
_ADDRESS_STOPS = frozenset("<>()[]{},;:\"'«»“”„/\\")


def clip(text: str, can_cut: Callable[[str, str], bool], limit: int = MAX_PARSED_CHARS) -> str:
    """`text` itself when it fits in `limit`; else its longest head of at most `limit` characters
    that ends where `can_cut(last kept, first dropped)` allows; "" when no such place exists.

    Looks at no more than `limit` characters from the cut backwards.
    """
    if len(text) <= limit:
        return text
    for end in range(limit, 0, -1):
        if can_cut(text[end - 1], text[end]):
            return text[:end]
    return ""


def in_phone(ch: str) -> bool:
    """True for a character that can be inside one written phone number."""
    return ch.isdigit() or ch in _PHONE_PUNCTUATION


def ends_address(ch: str) -> bool:
    """True for a character that cannot be inside an email address written in text."""
    return ch.isspace() or ch in _ADDRESS_STOPS


def between_phones(before: str, after: str) -> bool:
    """A cut here splits no phone number: one side cannot be part of a number."""
    return not (in_phone(before) and in_phone(after))


def between_addresses(before: str, after: str) -> bool:
    """A cut here splits no email address."""
    return ends_address(before) or ends_address(after)


def between_words(before: str, after: str) -> bool:
    """A cut here splits no word: it falls next to whitespace."""
    return before.isspace() or after.isspace()


def clip_words(text: str) -> str:
    """`text` up to `MAX_PARSED_CHARS` characters, cut between words (for free-text fields)."""
    return clip(text, between_words)


def between_name_parts(before: str, after: str) -> bool:
    """A cut in a contact's name field that splits no word, address or phone number.

    It falls on whitespace (which ends words and addresses) next to a character that cannot be
    inside a phone number (a space between two digits may be inside one).
    """
    if after.isspace():
        return not in_phone(before)
    if before.isspace():
        return not in_phone(after)
    return False
