"""EntitySpec normalization: auto-names, junk, name order, company names, INN, mail domains, extra fields."""

import pytest

from resolver.entities import COMPANY, CONTACT, SPECS, ExtraField, normalize_extra, spec_for
from resolver.errors import InputError
from resolver.records import Record


def contact(name, phones=(), emails=()):
    return CONTACT.normalize(Record("contact", "1", name=name, phones=tuple(phones), emails=tuple(emails)))


def company(name, *, inn=None, emails=(), website=None):
    return COMPANY.normalize(Record("company", "1", name=name, inn=inn, emails=tuple(emails), website=website))


def pick(row, keys):
    return {k: row[k] for k in keys}


CONTACT_KEYS = ("name_norm", "name_key", "phones", "emails", "name_source")


@pytest.mark.parametrize(
    ("name", "phones", "emails", "expected"),
    [
        ("Петров Иван", ["+7 916 123-45-67"], ["I.Petrov@Romashka.RU"],
         ("ivan petrov", "iva pet", ["+79161234567"], ["i.petrov@romashka.ru"], "name")),
        # telephony named the contact after the call: the phone is data, the text is no name
        ("Новый контакт по звонку с +79161234567 из UIS", [], [],
         (None, None, ["+79161234567"], None, None)),
        # the same phone written in the name and in the field is one phone
        ("Входящий звонок 8 916 123-45-67", ["+7 (916) 123-45-67"], [],
         (None, None, ["+79161234567"], None, None)),
        # a site form keeps the person's first name; one token gives no name block
        ("Заявка от «Иван»", [], [], ("ivan", None, None, None, "auto:form")),
        # placeholders typed to pass required fields count as empty
        ("-", ["+7 (000) 000-00-00", "нет"], ["test@test.ru", "-"], (None, None, None, None, None)),
        ("нет", [], [], (None, None, None, None, None)),
        (".", [], [], (None, None, None, None, None)),
        ("", [], [], (None, None, None, None, None)),
        (None, [], [], (None, None, None, None, None)),
        # one phone in three spellings, two emails differing by case and spaces
        ("Иван Петров", ["8 916 123 45 67", "+7 916 123-45-67", "9161234567"], [" ivan@MAIL.ru", "ivan@mail.ru"],
         ("ivan petrov", "iva pet", ["+79161234567"], ["ivan@mail.ru"], "name")),
        # a junk value next to a real one is dropped, the real one kept
        ("Иван Петров", ["0", "8 916 123 45 67"], ["test@test.ru", "ivan@mail.ru"],
         ("ivan petrov", "iva pet", ["+79161234567"], ["ivan@mail.ru"], "name")),
    ],
    ids=["plain", "autoname-call", "autoname-call-same-phone", "autoname-form-first-name", "junk-everything",
         "junk-net", "junk-dot", "empty", "none", "phone-spellings-fold", "junk-beside-real"],
)
def test_normalize_contact(name, phones, emails, expected):
    assert pick(contact(name, phones, emails), CONTACT_KEYS) == dict(zip(CONTACT_KEYS, expected, strict=True))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Петров Иван", "Иван Петров"),
        ("ПЕТРОВ иван", "Иван Петров"),
        ("Петров Иван Сергеевич", "Иван Петров"),  # the patronymic is set apart, not part of the name
        ("Ivan Petrov", "Иван Петров"),  # transliterated
        ("Саша Петров", "Петров Александр"),  # diminutive expanded
        ("Фёдоров Пётр", "Петр Федоров"),  # ё = е
    ],
    ids=["order", "case", "patronymic", "latin", "diminutive", "yo"],
)
def test_same_person_written_differently_gets_one_name_norm(left, right):
    a, b = contact(left), contact(right)
    assert (a["name_norm"], a["name_key"]) == (b["name_norm"], b["name_key"])
    assert a["name_norm"] is not None


@pytest.mark.parametrize(
    ("name", "tokens"),
    [
        ("Иван", ["ivan"]),
        ("Петров", ["petrov"]),
        ("Заявка от «Иван»", ["ivan"]),
    ],
    ids=["first-name-only", "surname-only", "form-first-name"],
)
def test_single_token_name_gets_no_name_key(name, tokens):
    # a block of every "Иван" in the base costs more comparisons than it finds duplicates
    row = contact(name)
    assert (row["name_tokens"], row["name_key"]) == (tokens, None)


@pytest.mark.parametrize(
    "name",
    ["ООО «Ромашка»", "Ромашка, ООО", 'ООО "Ромашка"', "Общество с ограниченной ответственностью «Ромашка»",
     "  ооо ромашка "],
    ids=["quoted", "form-after-comma", "straight-quotes", "full-legal-form", "lowercase-spaces"],
)
def test_company_name_core_ignores_legal_form_and_quotes(name):
    assert pick(company(name), ("name_core", "legal_form", "name_key")) == {
        "name_core": "romashka", "legal_form": "ООО", "name_key": "roma"}


@pytest.mark.parametrize(
    ("inn", "expected"),
    [
        ("7707083893", "7707083893"),  # 10 digits (legal entity), checksum ok
        ("7707083894", None),  # last digit off: the checksum catches a typo
        ("500100732259", "500100732259"),  # 12 digits (ИП), both check digits ok
        ("500100732250", None),
        ("7707 083 893", "7707083893"),  # spaces as people type them
        ("0000000000", None),  # passes the checksum, but is a placeholder
        ("123", None),
        ("-", None),
        ("нет", None),
        (None, None),
    ],
    ids=["valid-10", "bad-checksum-10", "valid-12", "bad-checksum-12", "spaces", "zeros", "short", "dash", "net",
         "none"],
)
def test_company_inn_is_checksum_validated(inn, expected):
    assert company("ООО «Ромашка»", inn=inn)["inn"] == expected


@pytest.mark.parametrize(
    ("emails", "website", "expected"),
    [
        (["ivan@mail.ru", "info@romashka.ru"], None, ("romashka.ru", None)),  # the first corporate domain
        (["ivan@gmail.com"], None, (None, None)),  # free mail says nothing about the company
        (["ivan@yandex.ru"], "https://www.romashka.ru/contacts", (None, "romashka.ru")),
        (["test@test.ru"], "-", (None, None)),
    ],
    ids=["corporate-after-free", "free-mail-only", "site-domain", "junk"],
)
def test_company_mail_and_site_domains(emails, website, expected):
    row = company("ООО «Ромашка»", emails=emails, website=website)
    assert (row["email_domain"], row["domain"]) == expected


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=list(SPECS))
def test_normalize_fills_exactly_the_spec_columns(spec):
    row = spec.normalize(Record(spec.entity, "1", name="-", phones=("+7 916 123-45-67",)))
    assert set(row) == {c.name for c in spec.columns}
    assert row["phones"] == ["+79161234567"]


def test_spec_for_unknown_entity_names_the_choices():
    with pytest.raises(InputError, match="expected contact or company"):
        spec_for("lead")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("address:text:Адрес", ExtraField("address", "text", "Адрес")),
        ("birthday:date:Дата рождения", ExtraField("birthday", "date", "Дата рождения")),
        ("passport:identifier", ExtraField("passport", "identifier", "passport")),  # source = name
        ("passport:identifier:", ExtraField("passport", "identifier", "passport")),
        (" addr : text : Адрес ", ExtraField("addr", "text", "Адрес")),
        ("x:text:a:b", ExtraField("x", "text", "a:b")),  # a header may hold a colon
        ("field_2:identifier:42", ExtraField("field_2", "identifier", "42")),  # an amoCRM field id
    ],
    ids=["text", "date-cyrillic-source", "no-source", "empty-source", "spaces", "colon-in-source", "field-id"],
)
def test_extra_field_parse(text, expected):
    assert ExtraField.parse(text) == expected
    assert expected.column == f"x_{expected.name}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("birthday", "expected NAME:KIND"),
        ("", "expected NAME:KIND"),
        (":text", "expected NAME:KIND"),
        ("bday:datetime", "KIND one of text, date, identifier"),
        ("Birthday:date", "lowercase latin"),
        ("адрес:text", "lowercase latin"),
        ("1st:text", "lowercase latin"),
        ("my-field:text", "lowercase latin"),  # the name becomes a column: x_my-field would need quoting
    ],
    ids=["no-kind", "empty", "no-name", "unknown-kind", "uppercase", "cyrillic-name", "leading-digit", "dash"],
)
def test_extra_field_parse_refuses(text, message):
    with pytest.raises(InputError, match=message) as info:
        ExtraField.parse(text)
    assert [p.field for p in info.value.problems] == ["--field"]


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("text", "ул. Ленина, д. 5", "ul lenina d 5"),
        ("text", "УЛ ЛЕНИНА Д 5", "ul lenina d 5"),
        ("text", "-", None),
        ("text", "!!!", None),
        ("text", "   ", None),
        ("date", "01.02.1990", "1990-02-01"),
        ("date", "1990-02-01", "1990-02-01"),
        ("date", "1990-02-01 00:00:00", "1990-02-01"),  # a datetime cell: the date part
        ("date", "19900201", "1990-02-01"),
        ("date", "01/02/1990", "1990-02-01"),
        ("date", "01.02.90", "1990-02-01"),
        ("date", "31.02.1990", None),  # no such day
        ("date", "01.01.1800", None),  # out of range: a placeholder, not a birthday
        ("date", "вчера", None),
        ("date", "нет", None),
        ("identifier", "45 06 123456", "4506123456"),
        ("identifier", "ab-12", "AB12"),
        ("identifier", "АВ 123", "AV123"),  # Cyrillic letters transliterated
        ("identifier", "000000", None),  # one repeated character: a placeholder
        ("identifier", "-", None),
        ("identifier", None, None),
    ],
    ids=["text-address", "text-case", "text-dash", "text-punct", "text-blank", "date-dotted", "date-iso",
         "date-datetime", "date-compact", "date-slashes", "date-short-year", "date-no-such-day", "date-1800",
         "date-word", "date-net", "id-spaces", "id-dash-case", "id-cyrillic", "id-zeros", "id-dash", "id-none"],
)
def test_normalize_extra(kind, value, expected):
    assert normalize_extra(kind, value) == expected
