"""CSV / XLSX + column map -> records: encodings, delimiters, dates, ids, errors by file, line, column."""

from datetime import UTC, datetime

import openpyxl
import pytest

from resolver.errors import InputError, InputProblem
from resolver.ingest.tabular import DEFAULT_COLUMN_MAP, TARGET_KEYS, parse_column_map, read_table

# An amoCRM-style contacts export: Russian headers, two phone columns, a multi-valued cell.
EXPORT = [
    ["ID", "Полное имя контакта", "Компания", "Рабочий телефон", "Мобильный телефон", "Рабочий email",
     "Должность", "Дата создания", "Ответственный"],
    ["3180001", " Петров Иван ", "ООО «Ромашка»", "+7 (495) 765-43-21, 8 916 123-45-67", "89161112233",
     "I.Petrov@romashka.ru; ivan@mail.ru", "Снабженец", "31.01.2024 12:00:00", "Анна Смирнова"],
    ["3180002", "Ёлкина Ольга", "", "", "", "olga@ёлка.рф", "", "01.02.2024", ""],
]  # fmt: skip


def _write_csv(path, rows, *, delimiter=",", encoding="utf-8"):
    text = "\r\n".join(delimiter.join(_quote(cell, delimiter) for cell in row) for row in rows) + "\r\n"
    path.write_bytes(text.encode(encoding))
    return path


def _quote(cell, delimiter):
    return f'"{cell}"' if any(ch in cell for ch in (delimiter, ",", ";", '"', "\n")) else cell


def _write_xlsx(path, rows):
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    workbook.save(path)
    return path


def _summary(records):
    return [
        (r.record_id, r.name, r.phones, r.emails, r.company_name, r.position, r.created_at) for r in records
    ]


DATES = "expected dd.mm.yyyy HH:MM:SS, dd.mm.yyyy or ISO 8601"

EXPORT_SUMMARY = [
    (
        "3180001",
        "Петров Иван",
        ("+7 (495) 765-43-21", "8 916 123-45-67", "89161112233"),  # work cell split, then mobile
        ("I.Petrov@romashka.ru", "ivan@mail.ru"),
        "ООО «Ромашка»",
        "Снабженец",
        datetime(2024, 1, 31, 9, 0, tzinfo=UTC),  # 12:00 Moscow
    ),
    ("3180002", "Ёлкина Ольга", (), ("olga@ёлка.рф",), None, None, datetime(2024, 1, 31, 21, 0, tzinfo=UTC)),
]


@pytest.mark.parametrize(
    ("delimiter", "encoding"),
    [
        (",", "utf-8"),
        (",", "utf-8-sig"),
        (";", "utf-8"),
        (";", "cp1251"),  # Excel on a Russian Windows saves "CSV (разделители — запятые)" like this
        ("\t", "utf-16"),  # Excel's "Unicode text": UTF-16 with a BOM, tab-separated
        ("\t", "cp1251"),
    ],
    ids=["comma-utf8", "comma-utf8-bom", "semicolon-utf8", "semicolon-cp1251", "tab-utf16", "tab-cp1251"],
)
def test_csv_export_reads_in_any_encoding_and_delimiter(tmp_path, delimiter, encoding):
    rows = [[cell.replace("ё", "е") for cell in row] for row in EXPORT] if encoding == "cp1251" else EXPORT
    path = _write_csv(tmp_path / "contacts.csv", rows, delimiter=delimiter, encoding=encoding)

    records = read_table(path, "contact")

    expected = EXPORT_SUMMARY
    if encoding == "cp1251":  # the .рф domain letter ё is not in cp1251; the test writes е instead
        olga = ("3180002", "Ёлкина Ольга", (), ("olga@елка.рф",), *EXPORT_SUMMARY[1][4:])
        expected = [EXPORT_SUMMARY[0], olga]
    assert _summary(records) == expected
    assert records[0].responsible_user_id == "Анна Смирнова"
    assert records[0].raw["Рабочий телефон"] == "+7 (495) 765-43-21, 8 916 123-45-67"


def test_xlsx_cells_keep_excel_types(tmp_path):
    rows = [
        ["ID", "Имя", "Фамилия", "Мобильный телефон", "Email", "ИНН", "Дата создания", "Дата изменения"],
        [3180001, "Иван", "Петров", 79161234567, "a@b.ru", 7707083893, datetime(2024, 1, 31, 12),
         "2024-02-01T10:00:00Z"],
        [3180002.0, "Ольга", None, 79161234568.0, None, None, None, None],
        [None, None, None, None, None, None, None, None],  # an empty row Excel keeps at the end
    ]  # fmt: skip
    path = _write_xlsx(tmp_path / "contacts.xlsx", rows)

    records = read_table(path, "contact")

    got = [(r.record_id, r.name, r.phones, r.emails, r.inn, r.created_at, r.updated_at) for r in records]
    assert got == [
        (
            "3180001",
            "Иван Петров",  # "Имя" + "Фамилия", no full-name column
            ("79161234567",),  # a phone stored as a number
            ("a@b.ru",),
            "7707083893",
            datetime(2024, 1, 31, 9, tzinfo=UTC),  # an Excel datetime, Moscow time
            datetime(2024, 2, 1, 10, tzinfo=UTC),  # ISO 8601 with a zone keeps its zone
        ),
        ("3180002", "Ольга", ("79161234568",), (), None, None, None),
    ]
    assert records[0].raw["Дата создания"] == "2024-01-31T12:00:00"


@pytest.mark.parametrize(
    ("cell", "phones"),
    [
        ("+7 916 123-45-67, +7 916 765-43-21", ("+7 916 123-45-67", "+7 916 765-43-21")),
        ("89161234567;89167654321;", ("89161234567", "89167654321")),
        ("8 916 123-45-67\n8 495 765-43-21", ("8 916 123-45-67", "8 495 765-43-21")),
        (" , ; ", ()),
        ("нет", ("нет",)),  # junk is kept; normalization decides it means empty
    ],
    ids=["comma", "semicolon-trailing", "newline-in-cell", "only-separators", "junk-kept"],
)
def test_multi_valued_phone_cells_are_split(tmp_path, cell, phones):
    path = _write_xlsx(tmp_path / "c.xlsx", [["Имя", "Телефон"], ["Иван", cell]])

    assert read_table(path, "contact")[0].phones == phones


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("31.01.2024 12:00:00", "Europe/Moscow", datetime(2024, 1, 31, 9, tzinfo=UTC)),
        ("31.01.2024 12:00", "Europe/Moscow", datetime(2024, 1, 31, 9, tzinfo=UTC)),
        ("31.01.2024", "Europe/Moscow", datetime(2024, 1, 30, 21, tzinfo=UTC)),
        ("2024-01-31 12:00:00", "Europe/Moscow", datetime(2024, 1, 31, 9, tzinfo=UTC)),
        ("2024-01-31T12:00:00+05:00", "Europe/Moscow", datetime(2024, 1, 31, 7, tzinfo=UTC)),
        ("31.01.2024 12:00:00", "Asia/Yekaterinburg", datetime(2024, 1, 31, 7, tzinfo=UTC)),
        ("31.01.2024 12:00:00", "UTC", datetime(2024, 1, 31, 12, tzinfo=UTC)),
    ],
    ids=["export-format", "no-seconds", "date-only", "iso-naive", "iso-with-offset", "other-zone", "utc"],
)
def test_dates_are_read_in_the_account_zone_and_stored_in_utc(tmp_path, text, tz, expected):
    path = _write_csv(tmp_path / "c.csv", [["Имя", "Дата изменения"], ["Иван", text]])

    assert read_table(path, "contact", tz=tz)[0].updated_at == expected


def test_bad_date_names_file_line_and_column(tmp_path):
    rows = [["Имя", "Дата создания"], ["Иван", "31.01.2024"], ["Ольга", "31.02.2024"]]
    path = _write_csv(tmp_path / "contacts.csv", rows)

    with pytest.raises(InputError) as caught:
        read_table(path, "contact")

    assert str(caught.value) == (
        f"contacts.csv, line 3, column Дата создания: cannot read date '31.02.2024', {DATES}"
    )


def test_every_bad_row_is_listed_in_one_error(tmp_path):
    rows = [
        ["ID", "ФИО", "Телефон", "Дата создания", "deleted"],
        ["1", "Иван", "8916", "01.01.2024", "нет"],
        ["", "Ольга", "8917", "", ""],  # line 3: empty id
        ["3", "Пётр", "", "вчера", "может быть"],  # line 4: bad date and bad flag
        ["1", "Иван", "8916", "", ""],  # line 5: id 1 again
        ["", "", "", "", ""],  # line 6: blank, skipped
        ["7", "Анна", "", "2024-13-01", ""],  # line 7: month 13
    ]
    path = _write_csv(tmp_path / "contacts.csv", rows)

    with pytest.raises(InputError) as caught:
        read_table(path, "contact")

    assert [(p.line, p.field, p.reason) for p in caught.value.problems] == [
        (3, "ID", "empty id"),
        (4, "Дата создания", f"cannot read date 'вчера', {DATES}"),
        (4, "deleted", "cannot read 'может быть' as yes or no, expected 1/0, true/false or да/нет"),
        (5, "ID", "duplicate id '1', first on line 2"),
        (7, "Дата создания", f"cannot read date '2024-13-01', {DATES}"),
    ]
    assert {p.source for p in caught.value.problems} == {"contacts.csv"}
    assert str(caught.value).endswith("(and 4 more problems)")


def test_without_id_column_line_numbers_are_ids(tmp_path):
    # line 1 is the header; the blank line 3 is skipped but still counted, as a spreadsheet shows it
    path = tmp_path / "c.csv"
    path.write_text("Имя;Телефон\nИван;8916\n\nОльга;8917\n", encoding="utf-8")

    assert [(r.record_id, r.name) for r in read_table(path, "contact")] == [("2", "Иван"), ("4", "Ольга")]


@pytest.mark.parametrize(
    ("value", "deleted"),
    [("1", True), ("Да", True), ("TRUE", True), ("удалён", True), ("0", False), ("нет", False), ("", False)],
    ids=["one", "da", "true-upper", "udalyon", "zero", "net", "empty"],
)
def test_deleted_column_reads_yes_and_no(tmp_path, value, deleted):
    path = _write_csv(tmp_path / "c.csv", [["Имя", "deleted"], ["Иван", value]])

    assert read_table(path, "contact")[0].deleted is deleted


# --- column map -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["name=Полное имя"], {"name": ["Полное имя"]}),
        (
            ["phone=Рабочий телефон", "phone=Мобильный телефон", "phone=Рабочий телефон"],
            {"phone": ["Рабочий телефон", "Мобильный телефон"]},
        ),
        (["email=Почта|E-mail 2"], {"email": ["Почта", "E-mail 2"]}),
        (['Phone = "Тел. (моб.)" '], {"phone": ["Тел. (моб.)"]}),  # quotes left by a config file
        (["Город=Город клиента"], {"Город": ["Город клиента"]}),  # not a target key: an extra field
        (["note=a=b"], {"note": ["a=b"]}),  # only the first "=" splits
        ([], {}),
    ],
    ids=["one", "repeated-key", "pipes", "quoted-any-case", "extra-key", "equals-in-header", "empty"],
)
def test_parse_column_map(items, expected):
    assert parse_column_map(items) == expected


def test_parse_column_map_names_every_bad_item():
    with pytest.raises(InputError) as caught:
        parse_column_map(["name=ФИО", "phone", "=Телефон", "email=", "inn=ИНН||"])

    assert [p.reason for p in caught.value.problems] == [
        f'cannot read map item {item!r}, expected key="Column header"'
        for item in ["phone", "=Телефон", "email=", "inn=ИНН||"]
    ]


def test_default_map_keys_are_targets_and_headers_casefolded():
    assert set(DEFAULT_COLUMN_MAP) <= set(TARGET_KEYS)
    headers = [h for hs in DEFAULT_COLUMN_MAP.values() for h in hs]
    assert all(h == h.casefold().strip() for h in headers)
    assert len(headers) == len(set(headers))  # one header never feeds two keys by default


@pytest.mark.parametrize(
    ("header", "column_map", "expected"),
    [
        # explicit map replaces the defaults for its key: only "Тел2" is read as a phone
        (["Имя", "Телефон", "Тел2"], {"phone": ["тел2"]}, ("Иван", ("2",), None)),
        # a header mapped explicitly is not read for its default key too
        (["Клиент", "Компания", "Телефон"], {"name": ["Компания"]}, ("Ромашка", ("1",), None)),
        (["Клиент", "Компания", "Телефон"], {"name": ["Клиент"]}, ("Иван", ("1",), "Ромашка")),
        (["  ПОЛНОЕ   ИМЯ ", "Телефон"], None, ("Иван", ("1",), None)),  # headers compare folded
    ],
    ids=["map-replaces-default", "map-claims-header", "map-leaves-others", "messy-header"],
)
def test_column_map_overrides_defaults(tmp_path, header, column_map, expected):
    values = {"Имя": "Иван", "Клиент": "Иван", "Компания": "Ромашка", "Телефон": "1", "Тел2": "2"}
    row = [values.get(h.strip(), "Иван") for h in header]
    path = _write_csv(tmp_path / "c.csv", [header, row])

    record = read_table(path, "contact", column_map=column_map)[0]

    assert (record.name, record.phones, record.company_name) == expected


def test_mapped_header_missing_from_the_file(tmp_path):
    path = _write_csv(tmp_path / "c.csv", [["Имя", "Телефон"], ["Иван", "1"]])

    with pytest.raises(InputError) as caught:
        read_table(path, "contact", column_map={"phone": ["Рабочий телефон", "Моб."]})

    assert caught.value.problems == [
        InputProblem(
            "no column 'Рабочий телефон' or 'Моб.' for 'phone'; headers found: 'Имя', 'Телефон'", "c.csv", 1
        )
    ]


def test_extra_fields_from_map_and_config(tmp_path):
    rows = [
        ["Имя", "Город", "Источник", "Источник 2", "Адрес"],
        ["Иван", "Москва", "сайт", "звонок", ""],
    ]
    path = _write_csv(tmp_path / "c.csv", rows)

    record = read_table(
        path,
        "contact",
        column_map={"city": ["Город"]},
        extra_fields={"source": "источник", "address": "Адрес"},
    )[0]

    # extra_fields names one header; the map may list several, joined with "; "; empty cells absent
    assert record.extra == {"city": "Москва", "source": "сайт"}
    record = read_table(path, "contact", column_map={"source": ["Источник", "Источник 2"]})[0]
    assert record.extra == {"source": "сайт; звонок"}


# --- whole-file problems ----------------------------------------------------------------------


def test_file_without_name_phone_or_email_column(tmp_path):
    path = _write_csv(tmp_path / "c.csv", [["Клиент", "Тел."], ["Иван", "8916"]])

    with pytest.raises(InputError) as caught:
        read_table(path, "contact")

    assert str(caught.value) == (
        "c.csv, line 1: no name, phone or email column among the headers 'Клиент', 'Тел.'; say which "
        'columns to read, e.g. --map name="Полное имя" phone="Рабочий телефон" email="Рабочий email"'
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\r\n;;\r\n", "the file is empty"),  # a BOM, a blank line, empty cells
        (b"\x98\x98", "cannot decode the text as utf-8 or cp1251"),  # 0x98 is unassigned in cp1251
    ],
    ids=["zero-bytes", "bom-and-blank-lines", "undecodable"],
)
def test_empty_or_unreadable_csv(tmp_path, content, reason):
    path = tmp_path / "c.csv"
    path.write_bytes(content)

    with pytest.raises(InputError) as caught:
        read_table(path, "contact")

    assert [p.reason for p in caught.value.problems] == [reason]


def test_header_only_file_has_no_records(tmp_path):
    path = _write_csv(tmp_path / "c.csv", [["ФИО", "Телефон"]])

    assert read_table(path, "contact") == []


def test_broken_xlsx_is_an_input_error(tmp_path):
    path = tmp_path / "c.xlsx"
    path.write_bytes(b"not a zip")

    with pytest.raises(InputError) as caught:
        read_table(path, "contact")

    assert caught.value.problems[0].source == "c.xlsx"
    assert caught.value.problems[0].reason.startswith("cannot open as XLSX")


def test_unknown_time_zone_is_an_input_error(tmp_path):
    path = _write_csv(tmp_path / "c.csv", [["ФИО"], ["Иван"]])

    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        read_table(path, "contact", tz="Mars/Olympus")


def test_a_company_list_with_only_a_company_column_gives_company_names(tmp_path):
    path = tmp_path / "companies.csv"
    path.write_text("Компания;ИНН\nООО «Ромашка»;7707083893\n", encoding="utf-8")
    (record,) = read_table(path, "company")
    assert (record.name, record.inn, record.company_name) == ("ООО «Ромашка»", "7707083893", "ООО «Ромашка»")


def test_a_file_with_phones_but_no_name_column_says_so(tmp_path):
    path = _write_csv(tmp_path / "c.csv", [["Site name", "Phone"], ["Ellington", "5346361"]])
    with pytest.raises(InputError) as caught:
        read_table(path, "company")
    assert str(caught.value) == ("c.csv, line 1: no column is read as the company's name among the headers "
                                 "'Site name', 'Phone'; say which one, e.g. --map name=\"Site name\"")


def test_an_extra_field_whose_header_is_not_in_the_file(tmp_path):
    path = _write_csv(tmp_path / "c.csv", [["Name", "Address"], ["Ellington", "224 N. Central"]])
    with pytest.raises(InputError) as caught:
        read_table(path, "company", extra_fields={"adres": "Adres"})
    assert str(caught.value) == ("c.csv, line 1: no column 'Adres' for the extra field 'adres'; "
                                 "headers found: 'Name', 'Address'")
