"""Phone fields in any written form become E.164; junk, placeholders and invalid numbers vanish."""

import random
from collections.abc import Callable

import phonenumbers
import pytest

from resolver.normalize import normalize_phone, normalize_phones, split_phones
from resolver.normalize.phones import _belarusian_number, _fast_ru_nsn, _kazakh_number, _parse_with_phonenumbers

PHONE_CASES = [
    # (id, text, expected E.164 list)
    ("ru-8-spaces-dashes", "8 916 123-45-67", ["+79161234567"]),
    ("ru-plus7-brackets", "+7 (916) 1234567", ["+79161234567"]),
    ("ru-10-digits-mobile", "9161234567", ["+79161234567"]),
    ("ru-11-digits-7", "79161234567", ["+79161234567"]),
    ("ru-11-digits-8", "89161234567", ["+79161234567"]),
    ("ru-dots", "8.916.123.45.67", ["+79161234567"]),
    ("ru-moscow-landline", "8 (495) 765-43-21", ["+74957654321"]),
    ("ru-spb-landline-10-digits", "8121234567", ["+78121234567"]),
    ("ru-toll-free", "8 800 555-35-35", ["+78005553535"]),
    ("kz-almaty", "+7 727 355 53 65", ["+77273555365"]),
    ("kz-almaty-trunk-8", "8 727 355 53 65", ["+77273555365"]),
    ("by-mobile", "+375 29 123-45-67", ["+375291234567"]),
    ("de-with-00-prefix", "0049 30 1234567", ["+49301234567"]),
    ("ext-dob", "+7 (495) 765-43-21 доб. 12", ["+74957654321"]),
    ("ext-ext", "+7 495 765-43-21 ext. 5", ["+74957654321"]),
    ("ext-vn", "8 495 765 43 21 вн. 3", ["+74957654321"]),
    ("ext-x-glued", "+7 916 123-45-67x12", ["+79161234567"]),
    ("trailing-text", "8 916 123-45-67 (Иван, моб.)", ["+79161234567"]),
    ("two-comma", "8 916 123-45-67, 8 903 765-43-21", ["+79161234567", "+79037654321"]),
    ("two-semicolon", "8 916 123-45-67; 8 903 765-43-21", ["+79161234567", "+79037654321"]),
    ("two-slash", "8 916 123-45-67/8 903 765-43-21", ["+79161234567", "+79037654321"]),
    ("two-ili", "8 916 123-45-67 или 8 903 765-43-21", ["+79161234567", "+79037654321"]),
    ("two-newline", "89161234567\n89037654321", ["+79161234567", "+79037654321"]),
    # no separator at all: the run is read as back-to-back numbers
    ("two-spaces-only", "8 916 123 45 67 8 903 765 43 21", ["+79161234567", "+79037654321"]),
    ("two-glued", "8916123456789037654321", ["+79161234567", "+79037654321"]),
    ("same-number-twice", "8 916 123-45-67, +7 916 123 45 67", ["+79161234567"]),
    ("one-valid-one-junk", "+7 (000) 000-00-00, 8 916 123-45-67", ["+79161234567"]),
    ("placeholder-zeros", "+7 (000) 000-00-00", []),
    ("placeholder-nines", "+7 999 999-99-99", []),
    ("placeholder-ones", "1111111111", []),
    ("placeholder-ascending", "1234567890", []),
    ("placeholder-9s-10-digits", "9999999999", []),
    ("placeholder-subscriber-zeros", "+7 916 000-00-00", []),
    ("junk-zero", "0", []),
    ("junk-dash", "-", []),
    ("junk-net", "нет", []),
    ("none", None, []),
    ("empty", "", []),
    ("too-short", "123-45-67", []),
    ("invalid-ru-range", "+7 (123) 456-78-91", []),
    ("nine-digit-typo", "8 916 123-45-6", []),
    ("excel-float", 79161234567.0, ["+79161234567"]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in PHONE_CASES], ids=[c[0] for c in PHONE_CASES])
def test_normalize_phones(text, expected):
    assert normalize_phones(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8 916 123-45-67, 8 903 765-43-21", "+79161234567"), ("нет", None), (None, None)],
    ids=["first-of-two", "junk", "none"],
)
def test_normalize_phone_is_first_or_none(text, expected):
    assert normalize_phone(text) == expected


def test_region_changes_how_numbers_without_plus_are_read():
    # Minsk's "8 029 …" trunk form means nothing in Russia
    assert normalize_phones("8 029 123-45-67", region="BY") == ["+375291234567"]
    assert normalize_phones("8 029 123-45-67") == []


@pytest.mark.parametrize(
    ("text", "phones", "rest"),
    [
        ("Иван +7 916 123-45-67", ["+79161234567"], "Иван"),
        ("Иван +7 495 765-43-21 доб. 12", ["+74957654321"], "Иван"),
        ("Анна 8 916 123 45 67, 8 903 765 43 21 бухгалтер", ["+79161234567", "+79037654321"],
         "Анна, бухгалтер"),
        ("Иван Петров", [], "Иван Петров"),
    ],
    ids=["one-phone", "phone-with-extension", "two-phones-and-words", "no-phone"],
)
def test_split_phones_takes_numbers_out_of_text(text, phones, rest):
    assert split_phones(text) == (phones, rest)


def _library_e164(text: str) -> str | None:
    try:
        number = phonenumbers.parse(text, "RU")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(number, 0) if phonenumbers.is_valid_number(number) else None


def _random_ru_text(rng: random.Random) -> tuple[str, str, bool]:
    """A Russian-looking number in one of the ways people type it: (text, digits, has_plus)."""
    nsn = rng.choice("34893489348912567") + "".join(rng.choice("0123456789") for _ in range(9))
    prefix = rng.choice(["+7", "8", "7", ""])
    a, b, c, d = nsn[:3], nsn[3:6], nsn[6:8], nsn[8:]
    body = rng.choice(
        [f"{a}{b}{c}{d}", f" {a} {b}-{c}-{d}", f" ({a}) {b}-{c}-{d}", f"({a}){b}{c}{d}", f"-{a}-{b}-{c}-{d}",
         f" {a} {b} {c} {d}", f".{a}.{b}.{c}.{d}"]
    )
    text = (prefix + body).strip(" -.")
    return text, prefix.lstrip("+") + nsn, prefix.startswith("+")


def test_fast_path_agrees_with_phonenumbers():
    # The fast path may only answer when phonenumbers would answer the same; checked over a sample
    rng = random.Random(20261124)
    answered = 0
    for _ in range(5000):
        text, digits, plus = _random_ru_text(rng)
        nsn = _fast_ru_nsn(digits, plus)
        if nsn is None:
            continue
        answered += 1
        assert "+7" + nsn == _library_e164(text), text
    assert answered > 1500  # the sample does exercise the fast path


def _fast_path_agrees(fast: Callable[[str, bool], str | None], numbers: list[tuple[str, str]]) -> int:
    """Check a fast path for other countries' numbers on (prefix, national number) pairs: each answer is
    phonenumbers' answer, and normalize_phones reads the text as it would without the fast path.
    Returns how many it answered."""
    answered = 0
    for prefix, nsn in numbers:
        digits, plus = prefix.lstrip("+") + nsn, prefix.startswith("+")
        found = fast(digits, plus)
        if found is not None:
            answered += 1
            assert found == _parse_with_phonenumbers(digits, plus, "RU"), (prefix, nsn)
        assert normalize_phones(prefix + nsn) == normalize_phones_reference(prefix + nsn), (prefix, nsn)
    return answered


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def test_kazakh_fast_path_agrees_with_phonenumbers():
    # Kazakh numbers share Russia's +7; the fast path answers for the valid ones written as Russian ones are
    rng = random.Random(20261206)
    numbers = [(rng.choice(["+7", "7", "8", "", "+", "+8"]),
                rng.choice(["70", "71", "72", "74", "75", "77", "78", "7" + _digits(rng, 1)]) + _digits(rng, 8))
               for _ in range(6000)]
    assert _fast_path_agrees(_kazakh_number, numbers) > 1000  # the sample does exercise the fast path


def test_belarusian_fast_path_agrees_with_phonenumbers():
    rng = random.Random(375)
    numbers = [(rng.choice(["+375", "375", "+375"]),
                rng.choice(["29", "33", "44", "25", "17", "80", "0", "8", "90", "1", ""])
                + _digits(rng, rng.choice([7, 8, 9])))
               for _ in range(6000)]
    assert _fast_path_agrees(_belarusian_number, numbers) > 500


def normalize_phones_reference(text: str) -> list[str]:
    """normalize_phones with the fast paths for other countries' numbers turned off."""
    from resolver.normalize import phones

    saved = phones._kazakh_number, phones._belarusian_number
    phones._kazakh_number = phones._belarusian_number = lambda digits, plus: None  # type: ignore[assignment]
    try:
        return list(phones._normalize(text, "RU"))
    finally:
        phones._kazakh_number, phones._belarusian_number = saved


def test_normalize_phones_agrees_with_phonenumbers_on_random_russian_numbers():
    rng = random.Random(7)
    for _ in range(3000):
        text, _, _ = _random_ru_text(rng)
        expected = _library_e164(text)
        if expected is not None and len(set(expected[-7:])) == 1:
            continue  # a placeholder subscriber (000-00-00) is ours to drop, not the library's
        assert normalize_phones(text) == ([expected] if expected else []), text
