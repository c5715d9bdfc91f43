"""The normalizers' fast paths give exactly what the full paths give (issue 15, item 1).

Plain name fields ("Иван Петров": letter words, single spaces) skip the phone, email, bracket and
separator passes; `find_legal_form` only tries the words a legal form can start with; a value that is
one bare address skips the email field's split and cleanup passes. Each fast path
is compared with the full one on generated text built from the pieces that steer the parsers:
keywords of auto-created names, legal forms, junk placeholders, digits, "@", brackets, quotes, odd
Unicode (superscript digits, combining accents, invisible characters, non-breaking spaces).
"""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resolver.normalize import autonames, emails, junk, names
from resolver.normalize.companies import _LEGAL_FORMS, _LONGEST_FORM, _WORD, find_legal_form
from resolver.normalize.names import is_plain, transliterate

_WORDS = [
    "Иван", "Петров", "Иванович", "Анна", "Саша", "Мария", "оглы", "Али", "Ivan", "Petrov", "Julia", "ЮЛИЯ",
    "звонок", "Звонка", "call", "Заявка", "заявку", "от", "Лид", "lead", "форма", "на", "сайте", "обратная",
    "связь", "Новый", "новая", "контакт", "Клиент", "клиент", "WhatsApp", "whats", "app", "Telegram", "чат",
    "Без", "имени", "Неизвестный", "unknown", "no", "name", "Посетитель", "сайта", "из", "с",
    "ООО", "ооо", "OOO", "ИП", "АО", "LLC", "Ltd", "Общество", "ограниченной", "ответственностью", "sp", "z", "o",
    "нет", "xxx", "Ромашка", "ТСЖ", "ИНН", "И", "Л", "ß", "İstanbul", "ǅ",
]
_PIECES = [
    " ", " ", " ", "  ", "\u00a0", "\u200b", "\t", "-", " - ", ".", ",", ";", "/", "|", "@", "«", "»", '"',
    "(", ")", "[", "]", "'", "’", "+7", "8", "916", "123-45-67", "1", "²", "Ⅻ", "\u0301", "ё", "x", "#", "№",
    "ivan@mail.ru", "+79161234567",
]

_TEXT = st.one_of(
    st.lists(st.sampled_from(_WORDS), min_size=1, max_size=6).map(" ".join),
    st.lists(st.sampled_from(_WORDS + _PIECES), min_size=1, max_size=12).map("".join),
    st.text(max_size=40),
)
_SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _find_legal_form_reference(text: str) -> tuple[int, int, str] | None:
    """find_legal_form as it was: every start, every length, each word transliterated afresh."""
    spans = [(m.start(), m.end(), transliterate(m.group())) for m in _WORD.finditer(text)]
    for i in range(len(spans)):
        for size in range(min(_LONGEST_FORM, len(spans) - i), 0, -1):
            canonical = _LEGAL_FORMS.get(tuple(word for _, _, word in spans[i : i + size]))
            if canonical is not None:
                return spans[i][0], spans[i + size - 1][1], canonical
    return None


@_SETTINGS
@given(_TEXT)
def test_name_fast_paths_equal_full_paths(text: str) -> None:
    assert names.split_name_field(text) == names._split_name_field_full(text)
    assert names.parse_person_name(text) == names._parse_person_name_full(text)
    assert autonames.parse_autoname(text) == autonames._parse_autoname_full(text)
    assert find_legal_form(text) == _find_legal_form_reference(text)


def test_plain_is_what_the_fast_paths_assume() -> None:
    assert is_plain("Иван Петров") and is_plain("Ivan") and is_plain("ООО Ромашка")
    for text in ["Иван  Петров", " Иван", "Иван ", "Иван\u00a0Петров", "Иван-Петров", "Иван2", "Иван_Петров",
                 "И. Петров", "a\u0301b", "", "Иван «Ромашка»", "x" * 5000, None, 12]:
        assert not is_plain(text), text


def test_fast_paths_on_the_cases_that_steer_them() -> None:
    cases = ["Иван Петров", "Без имени", "Новый контакт", "Клиент", "Заявка от Иван", "Звонок", "нет", "xxx",
             "Иван Петров ООО Ромашка", "ИП Иванов Иван", "Общество с ограниченной ответственностью Ромашка",
             "WhatsApp", "Ромашка sp z o o", "Али оглы Мамедов", "Саша", "Лид", "unknown caller", "no name",
             "²", "Ⅻ Ⅻ", "² Иван", "ⅫⅫⅫ", "ООО ²"]
    for text in cases:
        assert names.split_name_field(text) == names._split_name_field_full(text), text
        assert names.parse_person_name(text) == names._parse_person_name_full(text), text
        assert autonames.parse_autoname(text) == autonames._parse_autoname_full(text), text
        assert find_legal_form(text) == _find_legal_form_reference(text), text
    assert autonames.parse_autoname("Без имени") is not None
    assert names.split_name_field("Иван Петров ООО Ромашка").company == "ООО Ромашка"


_EMAIL_PIECES = ["ivan", "Ivan.Petrov", "+crm", "@", "@@", "gmail.com", "GMAIL.COM", "ya.ru", "yandex.ru", "mail.ru",
                 "test", "noreply", "example.com", "xxx", "a", ".", "-", "_", "%", ",", ";", " ", "<", ">", "mailto:",
                 "1", "123", "ромашка.рф", "xn--80aa", "'", '"', "\u200b", "ru", "com"]
_EMAIL_TEXT = st.one_of(
    st.lists(st.sampled_from(_EMAIL_PIECES), min_size=1, max_size=8).map("".join),
    st.text(alphabet="ab1.-_%+@ ,", max_size=30),
)


@_SETTINGS
@given(_EMAIL_TEXT)
def test_email_fast_paths_equal_full_paths(text: str) -> None:
    assert emails.normalize_email(text) == emails._normalize_email_full(text)
    assert emails.normalize_emails(text) == emails._normalize_emails_full(text)


def _is_junk_text_reference(text: str) -> bool:
    """is_junk_text as it was: a generator for the letter test, a regex for one repeated character."""
    if not any(ch.isalnum() for ch in text):
        return True
    key = text.casefold().rstrip(" .,;:!?")
    return key in junk._JUNK or re.fullmatch(r"(.)\1{2,}", key, re.DOTALL) is not None


@_SETTINGS
@given(st.one_of(_TEXT, st.text(alphabet="xX0_.- ?!\nß", max_size=8)))
def test_junk_test_equals_the_regex_one(text: str) -> None:
    assert junk.is_junk_text(text) == _is_junk_text_reference(text)
