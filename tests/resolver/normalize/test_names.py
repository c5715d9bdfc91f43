"""Person names: Cyrillic and Latin spellings meet, word order is free, diminutives find the full name."""

import itertools

import pytest

from resolver.normalize import (
    NameParts,
    PersonName,
    fold_latin,
    parse_person_name,
    split_name_field,
    transliterate,
)
from resolver.normalize.names import _DIMINUTIVES

# Every spelling in a group must give the same key; the key itself is shown for reading.
SPELLING_GROUPS = [
    ("aleksandr", ["Александр", "Aleksandr", "Alexander", "Alexandr", "Aleksander"]),
    ("yulia", ["Юлия", "Yuliya", "Julia", "Yulia", "Iuliia", "Julija"]),
    ("evgeni", ["Евгений", "Evgeniy", "Evgeny", "Yevgeniy", "Evgenii", "Evgenij"]),
    ("sergei", ["Сергей", "Sergey", "Sergei", "Sergej"]),
    ("natalia", ["Наталья", "Наталия", "Natalia", "Natalya", "Nataliya", "Natalja"]),
    ("aleksei", ["Алексей", "Alexey", "Aleksei", "Alexei", "Aleksey"]),
    ("dmitri", ["Дмитрий", "Dmitry", "Dmitriy", "Dmitrii", "Dmitrij"]),
    ("tatiana", ["Татьяна", "Tatiana", "Tatyana", "Tatjana"]),
    ("ksenia", ["Ксения", "Ksenia", "Kseniya", "Xenia"]),
    ("mihail", ["Михаил", "Mikhail", "Mihail"]),
    ("fedor", ["Фёдор", "Федор", "Fyodor", "Fedor"]),
    ("petr", ["Пётр", "Petr", "Pyotr", "Peter"]),
    ("artem", ["Артём", "Artem", "Artyom"]),
    ("maria", ["Мария", "Maria", "Mariya", "Mariia"]),
    ("ilia", ["Илья", "Ilya", "Ilia", "Il'ya"]),
    ("maksim", ["Максим", "Maxim", "Maksim"]),
    ("viktor", ["Виктор", "Viktor", "Victor"]),
    ("nikolai", ["Николай", "Nikolay", "Nikolai", "Nicolai"]),
    ("ekaterina", ["Екатерина", "Ekaterina", "Yekaterina"]),
    ("maya", ["Майя", "Maya", "Maiia"]),
    ("vasilev", ["Васильев", "Vasilyev", "Vasiliev", "Vasilev"]),
    ("andreev", ["Андреев", "Andreev", "Andreyev"]),
    ("schukin", ["Щукин", "Shchukin", "Schukin"]),
    ("habarov", ["Хабаров", "Khabarov", "Habarov"]),
    ("liudmila", ["Людмила", "Lyudmila", "Liudmila"]),
    ("beli", ["Белый", "Belyy", "Bely", "Belyi"]),
    ("ivanovich", ["Иванович", "Ivanovich", "Ivanovitch"]),
]


@pytest.mark.parametrize(("key", "spellings"), SPELLING_GROUPS, ids=[g[0] for g in SPELLING_GROUPS])
def test_spellings_of_one_name_meet(key, spellings):
    assert {spelling: transliterate(spelling) for spelling in spellings} == dict.fromkeys(spellings, key)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Иван Петров", "ivan petrov"),
        ("Ёлкин", "elkin"),
        ("ООО «Ромашка»", "ooo «romashka»"),
        ("Жанна Цой", "zhanna tsoi"),
        ("Łukasz Müller", "lukasz mullr"),  # accents dropped; -er after a consonant -> -r
        ("Ивaн", "ivan"),  # a Latin "a" typed inside Cyrillic
        ("Қанат Әлиев", "kanat alev"),
    ],
    ids=["two-words", "yo-first", "punctuation-kept", "zh-ts", "latin-diacritics", "mixed-script", "kazakh"],
)
def test_transliterate(text, expected):
    assert transliterate(text) == expected


def test_fold_latin_is_idempotent():
    for _, spellings in SPELLING_GROUPS:
        for spelling in spellings:
            key = transliterate(spelling)
            assert fold_latin(key) == key, spelling


PERSON_CASES = [
    # (id, text, tokens, first, last, patronymic)
    ("first-last", "Иван Петров", ("ivan", "petrov"), "ivan", "petrov", None),
    ("last-first", "Петров Иван", ("ivan", "petrov"), "ivan", "petrov", None),
    ("latin", "Ivan Petrov", ("ivan", "petrov"), "ivan", "petrov", None),
    ("fio", "Петров Иван Иванович", ("ivan", "petrov"), "ivan", "petrov", "ivanovich"),
    ("fio-female", "Иванова Мария Сергеевна", ("ivanova", "maria"), "maria", "ivanova", "sergeevna"),
    ("io-no-surname", "Иван Петрович", ("ivan",), "ivan", None, "petrovich"),
    ("patronymic-ichna", "Мария Ильинична", ("maria",), "maria", None, "ilinichna"),
    ("patronymic-ilich", "Ильич Владимир Ленин", ("lenin", "vladimir"), "vladimir", "lenin", "ilich"),
    # a surname in -ович before the first name is a surname, the one after it the patronymic
    ("surname-ovich-fio", "Абрамович Роман Аркадьевич", ("abramovich", "roman"), "roman", "abramovich",
     "arkadevich"),
    ("surname-ovich-io-f", "Роман Аркадьевич Абрамович", ("abramovich", "roman"), "roman", "abramovich",
     "arkadevich"),
    ("surname-ovich-two-words", "Абрамович Роман", ("abramovich", "roman"), "roman", "abramovich", None),
    ("surname-ich", "Иван Бабич", ("babich", "ivan"), "ivan", "babich", None),
    ("ogly", "Мамедов Рашид Али оглы", ("mamedov", "rashid"), "rashid", "mamedov", "ali ogli"),
    ("kyzy", "Алиева Лейла Гасан кызы", ("aleva", "leyla"), "leyla", "aleva", "gasan kyzi"),
    ("unknown-first-before-patronymic", "Кузнецов Айбек Ахмедович", ("aybek", "kuznetsov"), "aybek",
     "kuznetsov", "ahmedovich"),
    ("initials-after", "Петров И.И.", ("petrov",), None, "petrov", None),
    ("initials-before", "И. И. Петров", ("petrov",), None, "petrov", None),
    ("initial-with-first", "Иван П.", ("ivan",), "ivan", None, None),
    ("single-unknown-word", "Петров", ("petrov",), None, None, None),
    ("single-first-name", "Иван", ("ivan",), "ivan", None, None),
    ("lone-patronymic-kept", "Петрович", ("petrovich",), None, None, None),
    ("diminutive-sasha", "Саша Петров", ("aleksandr", "petrov"), "aleksandr", "petrov", None),
    # Саша is also Александра: a female surname decides
    ("diminutive-sasha-female", "Саша Петрова", ("aleksandra", "petrova"), "aleksandra", "petrova", None),
    ("diminutive-latin", "Sasha Petrov", ("aleksandr", "petrov"), "aleksandr", "petrov", None),
    ("diminutive-zhenya-female-patronymic", "Женя Сергеевна", ("evgenia",), "evgenia", None, "sergeevna"),
    ("diminutive-valya-male", "Валя Петров", ("petrov", "valentin"), "valentin", "petrov", None),
    ("diminutive-seryozha", "Серёжа", ("sergei",), "sergei", None, None),
    ("diminutive-dima-latin", "Dima Ivanov", ("dmitri", "ivanov"), "dmitri", "ivanov", None),
    ("yo-and-case", "ПЁТР ФЁДОРОВ", ("fedorov", "petr"), "petr", "fedorov", None),
    ("punctuation-and-spaces", "  Иван,   Петров!! ", ("ivan", "petrov"), "ivan", "petrov", None),
    ("hyphenated-surname", "Петров-Водкин Кузьма", ("kuzma", "petrov", "vodkin"), "kuzma", "petrov", None),
    ("apostrophe", "Д'Артаньян Шарль", ("dartanian", "sharl"), None, "dartanian", None),
]


@pytest.mark.parametrize(
    ("text", "tokens", "first", "last", "patronymic"),
    [c[1:] for c in PERSON_CASES],
    ids=[c[0] for c in PERSON_CASES],
)
def test_parse_person_name(text, tokens, first, last, patronymic):
    assert parse_person_name(text) == PersonName(tokens=tokens, first=first, last=last, patronymic=patronymic)


@pytest.mark.parametrize(
    "text", [None, "", "-", "нет", "не указано", "12345", "+7 916 123-45-67", "Без имени", "И.И."],
    ids=["none", "empty", "dash", "net", "ne-ukazano", "digits", "phone", "bez-imeni", "initials-only"],
)
def test_parse_person_name_without_a_name_is_none(text):
    assert parse_person_name(text) is None


@pytest.mark.parametrize(
    "words", [("Петров", "Иван", "Иванович"), ("Ivanova", "Maria"), ("Саша", "Петров", "Сергеевич")],
    ids=["fio", "latin", "diminutive"],
)
def test_word_order_does_not_matter(words):
    keys = {parse_person_name(" ".join(order)) for order in itertools.permutations(words)}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [("Иван Петров", "Ivan Petrov"), ("Юлия Васильева", "Julia Vasilyeva"),
     ("Андрей Щукин", "Andrey Shchukin"), ("Алексей Фёдоров", "Alexei Fyodorov"),
     ("Наталья Соколова", "Natalya Sokolova")],
    ids=["ivan", "yulia", "andrei", "aleksei", "natalia"],
)
def test_cyrillic_and_latin_names_meet(cyrillic, latin):
    assert parse_person_name(cyrillic).key == parse_person_name(latin).key


def test_key_joins_sorted_tokens():
    assert parse_person_name("Петров Иван").key == "ivan petrov"


def test_diminutive_table_is_substantial_and_maps_to_known_names():
    assert len(_DIMINUTIVES) >= 60
    expected = {"sasha": "aleksandr", "dima": "dmitri", "katia": "ekaterina", "vova": "vladimir",
                "tema": "artem", "slava": "viacheslav", "gosha": "georgi", "zhora": "georgi",
                "maks": "maksim"}
    assert {dim: _DIMINUTIVES[dim]["default"] for dim in expected} == expected


SPLIT_CASES = [
    # (id, text, NameParts)
    ("company-in-brackets", "Иван Петров (ООО Ромашка)", NameParts("Иван Петров", (), (), "ООО Ромашка")),
    ("phone-after-name", "Иван +7 916 123-45-67", NameParts("Иван", ("+79161234567",), (), None)),
    ("email-after-name", "Мария mary@mail.ru", NameParts("Мария", (), ("mary@mail.ru",), None)),
    ("phone-and-email", "Анна 8 916 123 45 67, anna@mail.ru",
     NameParts("Анна", ("+79161234567",), ("anna@mail.ru",), None)),
    ("extension-not-in-name", "Иван +7 495 765-43-21 доб. 12",
     NameParts("Иван", ("+74957654321",), (), None)),
    # after "/" only a legal form or quotes make a company: conservative
    ("slash-plain-word-kept", "Петров Иван / Ромашка", NameParts("Петров Иван / Ромашка", (), (), None)),
    ("slash-legal-form", "Петров Иван / ООО Ромашка", NameParts("Петров Иван", (), (), "ООО Ромашка")),
    ("dash-quoted-legal-form", 'Петров Иван - ЗАО "Вектор"',
     NameParts("Петров Иван", (), (), 'ЗАО "Вектор"')),
    ("comma-quoted", "Иван, «Ромашка»", NameParts("Иван", (), (), "«Ромашка»")),
    ("legal-form-without-separator", "Иван Петров ООО Ромашка",
     NameParts("Иван Петров", (), (), "ООО Ромашка")),
    # a note in brackets ("Ваня", "бухгалтер") is dropped; a bracket that is all there is stays
    ("diminutive-in-brackets", "Иван (Ваня)", NameParts("Иван", (), (), None)),
    ("note-in-brackets", "Анна (бухгалтер)", NameParts("Анна", (), (), None)),
    ("whole-name-in-brackets", "(Иван Петров)", NameParts("Иван Петров", (), (), None)),
    ("ip-is-name-and-company", "ИП Иванов Иван Иванович",
     NameParts("Иванов Иван Иванович", (), (), "ИП Иванов Иван Иванович")),
    ("company-only", "ООО Ромашка", NameParts(None, (), (), "ООО Ромашка")),
    ("plain-name", "Петров Иван Иванович", NameParts("Петров Иван Иванович", (), (), None)),
    ("junk", "-", NameParts(None, (), (), None)),
    ("none", None, NameParts(None, (), (), None)),
    ("phone-only", "8 916 123-45-67", NameParts(None, ("+79161234567",), (), None)),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in SPLIT_CASES], ids=[c[0] for c in SPLIT_CASES])
def test_split_name_field(text, expected):
    assert split_name_field(text) == expected
