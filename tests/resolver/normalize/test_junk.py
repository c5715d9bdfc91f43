"""Junk values count as empty in every field; real values come back with whitespace cleaned."""

import math

import pytest

from resolver.normalize import clean_text, is_junk

CLEAN_CASES = [
    # (id, value, expected)
    ("none", None, None),
    ("empty", "", None),
    ("spaces-only", "   \t\n", None),
    ("nbsp-only", "\u00a0\u00a0", None),
    ("dash", "-", None),
    ("em-dash", "—", None),
    ("dot", ".", None),
    ("two-dots", "..", None),
    ("question", "?", None),
    ("punctuation-only", "-/-", None),
    ("net", "нет", None),
    ("net-capital-with-dot", "Нет.", None),
    ("ne-ukazan", "не указан", None),
    ("ne-ukazano-caps", "НЕ УКАЗАНО", None),
    ("no", "no", None),
    ("none-word", "None", None),
    ("null", "NULL", None),
    ("n/a", "n/a", None),
    ("na", "NA", None),
    ("netu", "нету", None),
    ("zero", "0", None),
    ("x", "x", None),
    ("xxx", "xxx", None),
    ("test-cyrillic", "тест", None),
    ("test-latin", "Test", None),
    ("bez-imeni", "Без имени", None),
    ("repeated-digit", "0000000", None),
    ("repeated-cyrillic", "ааа", None),
    ("zero-width-only", "\u200b\ufeff", None),
    ("nan-float", math.nan, None),
    ("name-kept", "  Иван   Петров ", "Иван Петров"),
    ("nbsp-collapsed", "Иван\u00a0Петров", "Иван Петров"),
    ("newline-collapsed", "ООО\n«Ромашка»", "ООО «Ромашка»"),
    ("zero-width-removed", "Ива\u200bн", "Иван"),
    ("excel-float-phone", 79161234567.0, "79161234567"),
    ("int", 7707083893, "7707083893"),
    ("short-real-word", "Ян", "Ян"),
    ("net-inside-text-kept", "нет связи с Иваном", "нет связи с Иваном"),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in CLEAN_CASES], ids=[c[0] for c in CLEAN_CASES])
def test_clean_text(value, expected):
    assert clean_text(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("-", True), ("не указано", True), (None, True), ("Иван", False), ("+79161234567", False)],
    ids=["dash", "ne-ukazano", "none", "name", "phone"],
)
def test_is_junk_is_clean_text_none(value, expected):
    assert is_junk(value) is expected
