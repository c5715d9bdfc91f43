"""Company names meet across legal-form spellings and scripts; INNs are checked; sites give a host."""

import random

import pytest

from resolver.normalize import CompanyName, is_valid_inn, normalize_inn, parse_company_name, website_domain

ROMASHKA = CompanyName(core="romashka", legal_form="ООО", tokens=("romashka",))

COMPANY_CASES = [
    # (id, text, CompanyName or None)
    ("quotes-guillemets", "ООО «Ромашка»", ROMASHKA),
    ("form-after-comma", "Ромашка, ООО", ROMASHKA),
    ("latin-ooo", "OOO Romashka", ROMASHKA),
    ("lowercase", "ооо ромашка", ROMASHKA),
    ("long-form", 'Общество с ограниченной ответственностью "Ромашка"', ROMASHKA),
    ("long-form-caps", "ОБЩЕСТВО С ОГРАНИЧЕННОЙ ОТВЕТСТВЕННОСТЬЮ «РОМАШКА»", ROMASHKA),
    # Latin "OOO" typed before a Cyrillic name
    ("latin-ooo-cyrillic-name", "OOO Ромашка", ROMASHKA),
    ("two-forms", "ООО «Ромашка» LLC", ROMASHKA),
    ("ip-person", "ИП Иванов Иван Иванович",
     CompanyName("ivan ivanov ivanovich", "ИП", ("ivan", "ivanov", "ivanovich"))),
    ("ip-person-form-last", "Иванов Иван Иванович ИП",
     CompanyName("ivan ivanov ivanovich", "ИП", ("ivan", "ivanov", "ivanovich"))),
    ("ip-long-form", "Индивидуальный предприниматель Иванов Иван",
     CompanyName("ivan ivanov", "ИП", ("ivan", "ivanov"))),
    ("zao-extra-words", "ЗАО ТД «Вектор-2000»",
     CompanyName("td vektor 2000", "ЗАО", ("2000", "td", "vektor"))),
    ("ao-bank", 'АО "Банк Русский Стандарт"',
     CompanyName("bank russki standart", "АО", ("bank", "russki", "standart"))),
    ("pao-latin", "PAO Sberbank", CompanyName("sberbank", "ПАО", ("sberbank",))),
    ("kz-too", "ТОО «Алем»", CompanyName("alem", "ТОО", ("alem",))),
    ("llc", "Romashka LLC", CompanyName("romashka", "LLC", ("romashka",))),
    ("corporation", "Acme Corporation", CompanyName("akme", "CORP", ("akme",))),
    ("gmbh", "Kamille GmbH", CompanyName("kamille", "GMBH", ("kamille",))),
    ("no-legal-form", "Ромашка", CompanyName("romashka", None, ("romashka",))),
    # one-letter words stay in the core, not in the tokens
    ("one-letter-word", "Иванов и партнеры", CompanyName("ivanov i partneri", None, ("ivanov", "partneri"))),
    ("number-sign", "Школа № 1", CompanyName("shkola 1", None, ("1", "shkola"))),
    # "ПК" is a computer more often than a cooperative, so it is no legal form here
    ("pk-not-a-form", "Ремонт ПК", CompanyName("remont pk", None, ("pk", "remont"))),
    ("only-legal-form", "ООО", None),
    ("only-long-form", "Индивидуальный предприниматель", None),
    ("junk-dash", "-", None),
    ("junk-net", "нет", None),
    ("none", None, None),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in COMPANY_CASES], ids=[c[0] for c in COMPANY_CASES]
)
def test_parse_company_name(text, expected):
    assert parse_company_name(text) == expected


def test_spellings_of_one_company_meet():
    spellings = ["ООО «Ромашка»", "Ромашка, ООО", "OOO Romashka", "ооо ромашка",
                 'Общество с ограниченной ответственностью "Ромашка"', "  ООО  'Ромашка' "]
    assert {parse_company_name(s) for s in spellings} == {ROMASHKA}


INN_CASES = [
    # (id, text, expected)
    ("sberbank-10", "7707083893", "7707083893"),
    ("yandex-10", "7736207543", "7736207543"),
    ("computed-10", "5406123450", "5406123450"),
    ("person-12", "500100732259", "500100732259"),
    ("computed-12", "770123456703", "770123456703"),
    ("spaces", "7707 083 893", "7707083893"),
    ("label", "ИНН: 7707083893", "7707083893"),
    ("bad-check-digit-10", "7707083894", None),
    ("bad-11th-digit-12", "500100732269", None),
    ("bad-12th-digit-12", "500100732258", None),
    ("11-digits", "77070838931", None),
    ("13-digits-ogrn", "1027700132195", None),
    # the check digits of all zeros add up, but there is no region 00
    ("all-zeros", "0000000000", None),
    ("letters", "77070838ab", None),
    ("junk", "-", None),
    ("none", None, None),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in INN_CASES], ids=[c[0] for c in INN_CASES])
def test_normalize_inn(text, expected):
    assert normalize_inn(text) == expected
    if text is not None:
        assert is_valid_inn(text) is (expected is not None)


def _check_digit(digits, weights):
    return str(sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10)


def test_inn_check_digits_follow_fns_weights():
    # built independently of the code under test: every body with its check digits is valid,
    # and any other last digit is not
    rng = random.Random(11)
    for _ in range(300):
        body = str(rng.randint(10, 99)) + "".join(rng.choice("0123456789") for _ in range(7))
        inn10 = body + _check_digit(body, (2, 4, 10, 3, 5, 9, 4, 6, 8))
        assert normalize_inn(inn10) == inn10
        assert normalize_inn(inn10[:-1] + str((int(inn10[-1]) + 1) % 10)) is None
        body12 = body + rng.choice("0123456789")
        inn11 = body12 + _check_digit(body12, (7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
        inn12 = inn11 + _check_digit(inn11, (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8))
        assert normalize_inn(inn12) == inn12


WEBSITE_CASES = [
    # (id, text, expected)
    ("url-with-path-and-query", "https://www.Romashka.ru/contacts?x=1", "romashka.ru"),
    ("bare-domain", "romashka.ru", "romashka.ru"),
    ("www-no-scheme", "www.romashka.ru", "romashka.ru"),
    ("caps-and-port", "HTTP://WWW.ROMASHKA.RU:8080/", "romashka.ru"),
    ("subdomain-kept", "shop.romashka.ru", "shop.romashka.ru"),
    ("cyrillic-domain", "http://ромашка.рф", "ромашка.рф"),
    ("cyrillic-domain-caps", "РОМАШКА.РФ", "ромашка.рф"),
    ("punycode-decoded", "xn--80aa3agjl3d.xn--p1ai", "ромашка.рф"),
    ("first-of-two", "www.romashka.ru, romashka.com", "romashka.ru"),
    ("email-domain", "info@romashka.ru", "romashka.ru"),
    ("email-free-mail", "ivan@mail.ru", None),
    ("vk-page", "https://vk.com/romashka", None),
    ("vk-mobile", "m.vk.com/romashka", None),
    ("instagram", "instagram.com/romashka", None),
    ("telegram", "t.me/romashka", None),
    ("whatsapp", "https://wa.me/79161234567", None),
    # a subdomain platform: the business's own subdomain identifies it
    ("tilda-subdomain", "romashka.tilda.ws", "romashka.tilda.ws"),
    ("tilda-bare", "tilda.ws", None),
    ("no-dot", "romashka", None),
    ("numeric-tld", "192.168.0.1", None),
    ("broken-ipv6", "http://[::1", None),
    ("junk-dash", "-", None),
    ("junk-net", "нет", None),
    ("none", None, None),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in WEBSITE_CASES], ids=[c[0] for c in WEBSITE_CASES]
)
def test_website_domain(text, expected):
    assert website_domain(text) == expected
