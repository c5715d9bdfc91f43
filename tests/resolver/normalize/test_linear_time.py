"""Every normalizer reads a 1 MB value of any shape, and reads only its first MAX_PARSED_CHARS.

A value reaches the normalizers from a file cell or a request body with no length of its own,
so a normalizer that is quadratic in some shape of text (a backtracking regex restarted at every
position, a loop that rescans the rest) freezes the service on one such value. Each case below
feeds 1 MB of one shape to one entry point under a generous timeout: linear code needs well under
a second, quadratic code hours. The timeout is a guard, not a measurement.

The second half checks what the cap does to a long value: numbers, addresses and words before
the cut are read as usual; one that straddles the cut is dropped whole, never read shortened.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

import pytest

from resolver.entities import COMPANY, CONTACT, EXTRA_KINDS, normalize_extra
from resolver.normalize import (
    MAX_PARSED_CHARS,
    clean_text,
    clip_words,
    find_legal_form,
    fold_latin,
    is_junk,
    normalize_email,
    normalize_emails,
    normalize_inn,
    normalize_phone,
    normalize_phones,
    parse_autoname,
    parse_company_name,
    parse_person_name,
    split_emails,
    split_name_field,
    split_phones,
    transliterate,
    website_domain,
)
from resolver.records import Record

SIZE = 1 << 20  # characters

# Each shape is built to hit a pattern that was (or easily becomes) super-linear.
SHAPES: dict[str, Callable[[int], str]] = {
    "letters": lambda n: "a" * n,
    "name words": lambda n: ("Иван Петров " * (n // 12 + 1))[:n],
    "phones with separators": lambda n: ("8 916 123-45-67 " * (n // 16 + 1))[:n],  # one huge run
    "digits": lambda n: "7" * n,
    "digits and spaces": lambda n: "1 " * (n // 2),
    "a@ repeated": lambda n: "a@" * (n // 2),
    "a. repeated then @": lambda n: "a." * (n // 2) + "@",
    "< then a@ repeated": lambda n: "<" + "a@" * (n // 2),
    "plus signs": lambda n: "+" * n,
    "open brackets": lambda n: "(" * n,
    "spaces between letters": lambda n: "a" + " " * n + "b",
    "extension mark then spaces": lambda n: "#" + " " * n + "1",
    "cyrillic": lambda n: "Ж" * n,
    "emoji": lambda n: "😀" * n,
    "NUL and RTL marks": lambda n: "\x00\u202e" * (n // 2),
    "lone surrogates": lambda n: "\ud800" * n,
    "i then a": lambda n: "i" * n + "a",
    "slash separators": lambda n: "a/" * (n // 2),
    "legal forms": lambda n: "ООО " * (n // 4),
    "form words without от": lambda n: "заявка " * (n // 7),
    "many addresses": lambda n: " ".join(f"u{i}@mail.ru" for i in range(n // 14)),
    "many phones": lambda n: ", ".join(f"+7916{i % 10_000_000:07d}" for i in range(n // 14)),
    "host labels": lambda n: "a." * (n // 2) + "ru",
    "url": lambda n: "https://" + "a." * (n // 2) + "ru/",
    "bracketed notes": lambda n: "Иван " + "(x)" * (n // 3) + " / ООО",
    "quotes": lambda n: "«" + "a" * n,
}


@cache
def shape(name: str) -> str:
    return SHAPES[name](SIZE)


def _record(entity: Any, value: str) -> Record:
    return Record(
        entity=entity, record_id="1", name=value, phones=(value, value), emails=(value, value),
        company_name=value, inn=value, website=value, position=value,
        extra={kind: value for kind in EXTRA_KINDS},
    )


ENTRY_POINTS: dict[str, Callable[[str], object]] = {
    "normalize_phones": normalize_phones,
    "normalize_phone": normalize_phone,
    "split_phones": split_phones,
    "normalize_email": normalize_email,
    "normalize_emails": normalize_emails,
    "split_emails": split_emails,
    "parse_person_name": parse_person_name,
    "split_name_field": split_name_field,
    "transliterate": transliterate,
    "fold_latin": fold_latin,
    "parse_company_name": parse_company_name,
    "find_legal_form": find_legal_form,
    "normalize_inn": normalize_inn,
    "website_domain": website_domain,
    "parse_autoname": parse_autoname,
    "clean_text": clean_text,
    "is_junk": is_junk,
    "clip_words": clip_words,
    **{f"normalize_extra[{kind}]": (lambda v, k=kind: normalize_extra(k, v)) for kind in EXTRA_KINDS},
    "CONTACT.normalize": lambda v: CONTACT.normalize(_record("contact", v)),
    "COMPANY.normalize": lambda v: COMPANY.normalize(_record("company", v)),
}

_E164 = re.compile(r"\+\d{8,15}")


def _check_result(result: object) -> None:
    """Lists come from the capped part of a value; text (transliterate, clean_text) from all of it."""
    if isinstance(result, str):
        assert len(result) <= 4 * SIZE + 2  # "щ" -> "shch" is the longest rewrite
    if isinstance(result, list):
        assert len(result) <= MAX_PARSED_CHARS
        assert all(isinstance(item, str) for item in result)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_1mb_value_is_read_in_linear_time(entry: str, shape_name: str) -> None:
    result = ENTRY_POINTS[entry](shape(shape_name))
    _check_result(result)
    if entry == "normalize_phones":
        assert all(_E164.fullmatch(phone) for phone in result)  # type: ignore[union-attr]


# --- what the cap does to a long value ---------------------------------------------------------

PHONE = "8 916 123-45-67"
E164 = "+79161234567"


def _padded(before: str, filler: str, after: str) -> str:
    """`before`, then `filler` repeated past the cap, then `after` (which the cap leaves out)."""
    return before + filler * (MAX_PARSED_CHARS // len(filler) + 1) + after


def test_values_within_the_cap_are_read_whole() -> None:
    many = ", ".join(f"8 916 123-45-{i:02d}" for i in range(10, 99))  # 89 numbers, ~1,500 chars
    assert len(many) < MAX_PARSED_CHARS
    assert len(normalize_phones(many)) == 89
    emails = " ".join(f"user{i}@romashka.ru" for i in range(150))
    assert len(emails) < MAX_PARSED_CHARS
    assert len(normalize_emails(emails)) == 150


def test_a_long_phone_field_gives_the_numbers_before_the_cut() -> None:
    assert normalize_phones(_padded(PHONE + ", ", "нет; ", "8 903 765-43-21")) == [E164]


def test_a_phone_number_cut_by_the_cap_is_dropped_not_shortened() -> None:
    # the field's only number straddles the cut: its head has 7+ digits and could read as a number
    text = "x, " * ((MAX_PARSED_CHARS - 8) // 3) + "+7 916 123 45 67"
    cut = MAX_PARSED_CHARS - len("x, " * ((MAX_PARSED_CHARS - 8) // 3))
    assert 0 < cut < len("+7 916 123 45 67")  # the number crosses the cut
    assert normalize_phones(text) == []
    assert split_phones(text)[0] == []


@pytest.mark.timeout(60)
def test_a_run_with_a_group_of_more_than_15_digits_ends() -> None:
    # no window of 15 digits or fewer starts at such a group: the reader moves past it
    assert normalize_phones("890376543217707083893, 8 916 123-45-67") == [E164]
    assert normalize_phones("1234567890123456789012 8 916 123 45 67") == [E164]


def test_a_field_of_digits_past_the_cap_gives_nothing() -> None:
    # one run of digits longer than the cap has no place to cut that splits no number
    assert normalize_phones(PHONE + " " + "1" * SIZE) == []


def test_an_address_cut_by_the_cap_is_dropped() -> None:
    local = "ivan.petrov"
    text = "a " * ((MAX_PARSED_CHARS - 5) // 2) + f"{local}@romashka.ru"
    assert normalize_emails(text) == []
    assert split_emails(text)[0] == []
    assert normalize_emails(_padded("ivan@romashka.ru ", "a ", "petr@romashka.ru")) == ["ivan@romashka.ru"]


def test_one_address_longer_than_the_cap_is_none() -> None:
    assert normalize_email("a" * MAX_PARSED_CHARS + "@romashka.ru") is None


def test_a_long_name_field_keeps_its_head_and_drops_the_cut_word() -> None:
    text = "Иван Петров " + "Иванович " * (MAX_PARSED_CHARS // 9) + "Сидоров"
    parts = split_name_field(text)
    assert parts.name is not None and parts.name.startswith("Иван Петров")
    assert "Сидоров" not in parts.name
    person = parse_person_name(text)
    assert person is not None and {"ivan", "petrov"} <= set(person.tokens)


def test_a_long_name_field_still_gives_its_phone_and_address() -> None:
    text = _padded(f"Иван {PHONE} ivan@romashka.ru ", "Ж ", "")
    parts = split_name_field(text)
    assert parts.phones == (E164,)
    assert parts.emails == ("ivan@romashka.ru",)


def test_an_identifier_longer_than_the_cap_is_refused_not_cut() -> None:
    # a prefix of an identifier is another identifier: two long ones must not meet on it
    assert normalize_extra("identifier", "AB" * MAX_PARSED_CHARS) is None
    assert normalize_extra("identifier", "45 06 123456") == "4506123456"


def test_a_long_text_extra_is_read_up_to_the_cap_in_whole_words() -> None:
    folded = normalize_extra("text", _padded("Москва ", "улица ", "Тверская"))
    assert folded is not None and folded.startswith("moskva ulitsa")
    assert "tverskaya" not in folded


def test_hosts_longer_than_dns_allows_are_not_hosts() -> None:
    assert website_domain("https://" + "a." * 127 + "ru/") is None  # 256 characters
    # a long path or query is no reason to lose the host before it
    assert website_domain("https://www.romashka.ru/" + "x" * SIZE) == "romashka.ru"
    assert website_domain("romashka.ru?utm=" + "x" * SIZE) == "romashka.ru"
    assert website_domain("https://" + "a" * SIZE + ".ru/") is None
