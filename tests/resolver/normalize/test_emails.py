"""Email fields: one spelling per mailbox, placeholders gone, free mail told from corporate domains."""

import pytest

from resolver.normalize import (
    email_domain,
    email_local,
    is_free_mail,
    normalize_email,
    normalize_emails,
    split_emails,
)

EMAIL_CASES = [
    # (id, text, expected)
    ("plain", "ivan@mail.ru", "ivan@mail.ru"),
    ("case-and-spaces", "  Ivan.Petrov@Mail.RU ", "ivan.petrov@mail.ru"),
    ("mailto", "mailto:ivan@mail.ru", "ivan@mail.ru"),
    ("mailto-caps", "MAILTO:Ivan@Mail.ru", "ivan@mail.ru"),
    ("display-name-angle", "Иван Петров <ivan@mail.ru>", "ivan@mail.ru"),
    ("angle-only", "<ivan@mail.ru>", "ivan@mail.ru"),
    ("double-quotes", '"ivan@mail.ru"', "ivan@mail.ru"),
    ("guillemets-and-comma", "«ivan@mail.ru»,", "ivan@mail.ru"),
    ("trailing-dot", "ivan@mail.ru.", "ivan@mail.ru"),
    ("cyrillic-domain", "иван@почта.рф", "иван@почта.рф"),
    ("ya-ru-folded", "ivan@ya.ru", "ivan@yandex.ru"),
    ("yandex-com-folded", "ivan@yandex.com", "ivan@yandex.ru"),
    ("yandex-kz-folded", "ivan@yandex.kz", "ivan@yandex.ru"),
    # Yandex: "." and "-" in a login are one mailbox
    ("yandex-dash-is-dot", "ivan-petrov@yandex.ru", "ivan.petrov@yandex.ru"),
    ("googlemail-folded", "ivan@googlemail.com", "ivan@gmail.com"),
    # Gmail ignores dots and "+tag"
    ("gmail-dots-and-tag", "I.Van+crm@gmail.com", "ivan@gmail.com"),
    ("mailru-dots-kept", "i.van@mail.ru", "i.van@mail.ru"),
    ("placeholder-test-ru", "test@test.ru", None),
    ("placeholder-test-com", "test@test.com", None),
    ("placeholder-noemail", "noemail@mail.ru", None),
    ("placeholder-no-no", "no@no.ru", None),
    ("placeholder-a-a", "a@a.ru", None),
    ("placeholder-example-com", "ivan@example.com", None),
    ("placeholder-example-ru", "ivan@example.ru", None),
    ("placeholder-same-word", "qwe@qwe.ru", None),
    ("placeholder-repeated-char", "xxx@mail.ru", None),
    ("placeholder-noreply", "noreply@romashka.ru", None),
    ("junk-net", "нет", None),
    ("junk-dash", "-", None),
    ("junk-at", "@", None),
    ("none", None, None),
    ("no-domain", "ivan@", None),
    ("no-local", "@mail.ru", None),
    ("domain-without-dot", "ivan@mail", None),
    ("space-inside", "ivan petrov@mail.ru", None),
    ("two-ats", "ivan@@mail.ru", None),
    ("two-addresses-one-value", "ivan@mail.ru;petr@bk.ru", None),
    ("numeric-tld", "ivan@mail.123", None),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in EMAIL_CASES], ids=[c[0] for c in EMAIL_CASES])
def test_normalize_email(text, expected):
    assert normalize_email(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ivan@mail.ru, petr@bk.ru", ["ivan@mail.ru", "petr@bk.ru"]),
        ("ivan@mail.ru; IVAN@mail.ru", ["ivan@mail.ru"]),
        ("ivan@mail.ru petr@bk.ru\nanna@gmail.com", ["ivan@mail.ru", "petr@bk.ru", "anna@gmail.com"]),
        ("test@test.ru, ivan@mail.ru", ["ivan@mail.ru"]),
        ("Иван <ivan@mail.ru>", ["ivan@mail.ru"]),
        ("нет", []),
        (None, []),
    ],
    ids=["comma", "case-duplicates", "spaces-and-newline", "placeholder-dropped", "display-name", "junk",
         "none"],
)
def test_normalize_emails_splits_dedupes_keeps_order(text, expected):
    assert normalize_emails(text) == expected


def test_split_emails_takes_addresses_out_of_text():
    assert split_emails("Мария mary@mail.ru (бухгалтер)") == (["mary@mail.ru"], "Мария (бухгалтер)")


@pytest.mark.parametrize(
    ("email", "domain", "local"),
    [("ivan@mail.ru", "mail.ru", "ivan"), ("a.b@romashka.ru", "romashka.ru", "a.b"), ("no-at", "", "")],
    ids=["free", "corporate", "not-an-email"],
)
def test_email_parts(email, domain, local):
    assert (email_domain(email), email_local(email)) == (domain, local)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("mail.ru", True), ("bk.ru", True), ("inbox.ru", True), ("list.ru", True), ("internet.ru", True),
        ("yandex.ru", True), ("ya.ru", True), ("gmail.com", True), ("rambler.ru", True), ("icloud.com", True),
        ("outlook.com", True), ("hotmail.com", True), ("yahoo.com", True), ("ukr.net", True),
        ("tut.by", True),
        ("Mail.RU", True), ("@gmail.com", True), ("romashka.ru", False), ("sberbank.ru", False), ("", False),
    ],
    ids=lambda v: str(v),
)
def test_is_free_mail(domain, expected):
    assert is_free_mail(domain) is expected
