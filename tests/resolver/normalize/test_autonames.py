"""Integration-made names give their phone, email or name and are never compared as names."""

import pytest

from resolver.normalize import AutoName, parse_autoname

P = "+79161234567"

AUTONAME_CASES = [
    # (id, text, AutoName)
    ("call-uis", "Новый контакт по звонку с +79161234567 из UIS", AutoName(None, (P,), (), "call")),
    ("call-incoming", "Входящий звонок +7 916 123-45-67", AutoName(None, (P,), (), "call")),
    ("call-missed", "Пропущенный звонок 89161234567", AutoName(None, (P,), (), "call")),
    ("call-from-number", "Звонок с номера 8 (916) 123-45-67", AutoName(None, (P,), (), "call")),
    ("call-without-number", "Исходящий звонок", AutoName(None, (), (), "call")),
    ("call-callback", "Обратный звонок", AutoName(None, (), (), "call")),
    ("form-quoted-name", "Заявка от «Иван»", AutoName("Иван", (), (), "form")),
    ("form-straight-quotes", 'Заявка от "Мария" +7 916 123 45 67', AutoName("Мария", (P,), (), "form")),
    ("form-site-name", "Заявка с сайта от Иван Петров", AutoName("Иван Петров", (), (), "form")),
    # what follows the name ("с сайта …") is not part of it
    ("form-name-then-site", "Заявка от Иван Петров с сайта romashka.ru",
     AutoName("Иван Петров", (), (), "form")),
    ("form-email-in-quotes", "Новый контакт «ivan@mail.ru» по заявке с сайта",
     AutoName(None, (), ("ivan@mail.ru",), "form")),
    ("form-from-email", "Заявка #123 от ivan@mail.ru", AutoName(None, (), ("ivan@mail.ru",), "form")),
    ("form-without-name", "Заявка с сайта romashka.ru", AutoName(None, (), (), "form")),
    ("chat-whatsapp", "Контакт из WhatsApp +79161234567", AutoName(None, (P,), (), "chat")),
    ("chat-whatsapp-first", "WhatsApp +7 916 123-45-67", AutoName(None, (P,), (), "chat")),
    # a handle is no name
    ("chat-telegram-handle", "Чат Telegram @ivanp", AutoName(None, (), (), "chat")),
    ("chat-avito", "Клиент с Авито", AutoName(None, (), (), "chat")),
    ("placeholder-new-contact", "Новый контакт", AutoName(None, (), (), "placeholder")),
    ("placeholder-new-lead", "Новый лид", AutoName(None, (), (), "placeholder")),
    ("placeholder-new-contact-phone", "Новый контакт +79161234567", AutoName(None, (P,), (), "placeholder")),
    ("placeholder-client-from-site", "Клиент с сайта", AutoName(None, (), (), "placeholder")),
    ("placeholder-site-visitor", "Посетитель сайта", AutoName(None, (), (), "placeholder")),
    ("placeholder-unknown", "Неизвестный", AutoName(None, (), (), "placeholder")),
    ("placeholder-no-name", "Без имени", AutoName(None, (), (), "placeholder")),
    ("placeholder-contact-number", "Контакт #12345", AutoName(None, (), (), "placeholder")),
    ("placeholder-client-number", "Клиент 12345", AutoName(None, (), (), "placeholder")),
    ("placeholder-client-phone", "Клиент 89161234567", AutoName(None, (P,), (), "placeholder")),
    ("placeholder-english", "New contact", AutoName(None, (), (), "placeholder")),
    ("placeholder-unknown-english", "Unknown", AutoName(None, (), (), "placeholder")),
    ("placeholder-case", "НОВЫЙ КОНТАКТ", AutoName(None, (), (), "placeholder")),
    ("value-phone", "+79161234567", AutoName(None, (P,), (), "value")),
    ("value-phone-formatted", "8 (916) 123-45-67", AutoName(None, (P,), (), "value")),
    ("value-email", "ivan@mail.ru", AutoName(None, (), ("ivan@mail.ru",), "value")),
    ("value-phone-and-email", "8 916 123-45-67, ivan@mail.ru",
     AutoName(None, (P,), ("ivan@mail.ru",), "value")),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in AUTONAME_CASES], ids=[c[0] for c in AUTONAME_CASES]
)
def test_parse_autoname(text, expected):
    assert parse_autoname(text) == expected


@pytest.mark.parametrize(
    "text",
    [None, "", "-", "Иван Петров", "Петров Иван Иванович", "Иван +7 916 123-45-67", "Оксана",
     "Клиентов Иван", "Звонарёв Пётр", "ООО Ромашка", "12345", "+7 (000) 000-00-00"],
    ids=["none", "empty", "dash", "name", "fio", "name-with-phone", "okSana-not-ok-channel",
         "surname-starting-like-client", "surname-starting-like-call", "company", "short-digits",
         "placeholder-phone"],
)
def test_person_names_and_junk_are_not_autonames(text):
    assert parse_autoname(text) is None
