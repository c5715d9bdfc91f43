"""CSV and XLSX files -> records, through a column map like amoCRM's import field matching."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException

from resolver.errors import InputError, InputProblem
from resolver.records import Entity, Record

__all__ = ["DEFAULT_COLUMN_MAP", "TARGET_KEYS", "iter_table_batches", "parse_column_map", "read_table"]

# Keys a column can be mapped to; any other key in a map names an extra field (Record.extra).
TARGET_KEYS = (
    "id", "name", "first_name", "last_name", "phone", "email", "company", "inn", "website",
    "position", "responsible", "created_at", "updated_at", "deleted",
)  # fmt: skip

# Headers recognised without a map, casefolded; the order within a key is its priority when a
# file has several such columns for a one-value key. The Russian ones are amoCRM's export headers.
# "Имя" goes to first_name, not name: amoCRM exports it next to "Фамилия" and "Полное имя
# контакта", and a file with only "Имя" still gets it as the name (first + last = first).
DEFAULT_COLUMN_MAP: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "id": ("id",),
    "name": (
        "полное имя контакта", "полное имя", "фио", "наименование", "название компании", "название",
        "full name", "name",
    ),
    "first_name": ("имя", "first name", "first_name"),
    "last_name": ("фамилия", "last name", "last_name"),
    "phone": (
        "рабочий телефон", "мобильный телефон", "рабочий прямой телефон", "домашний телефон",
        "другой телефон", "телефон", "факс", "phone", "mobile",
    ),
    "email": ("рабочий email", "личный email", "другой email", "email", "e-mail", "почта"),
    "company": ("компания", "company"),
    "inn": ("инн", "inn"),
    "website": ("web", "сайт", "website"),
    "position": ("должность", "position"),
    "responsible": ("ответственный", "responsible"),
    "created_at": ("дата создания", "created_at"),
    "updated_at": ("дата изменения", "дата редактирования", "updated_at"),
    "deleted": ("deleted", "is_deleted"),
})  # fmt: skip

_IDENTIFYING_KEYS = ("name", "first_name", "last_name", "phone", "email", "company")  # else nothing to match
# Where a record's name comes from when no name column exists: a company export may hold the
# name only in "Компания" (amoCRM's contact export header, reused by hand-made company lists)
_NAME_FALLBACK: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "contact": ("first_name", "last_name"),
    "company": ("company",),
})
_MULTI_VALUE_SPLIT = re.compile(r"[,;\n]")  # amoCRM exports several phones / emails in one cell
_EXTRA_SEPARATOR = "; "
_DATE_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y")  # amoCRM's export formats
_DATE_EXPECTED = "expected dd.mm.yyyy HH:MM:SS, dd.mm.yyyy or ISO 8601"
_TRUE = frozenset({"1", "true", "yes", "y", "да", "д", "удален", "удалён"})
_FALSE = frozenset({"0", "false", "no", "n", "нет", "н"})
_DELIMITERS = (",", ";", "\t")  # tie order: comma first, as RFC 4180 has it
_SNIFF_CHARS = 64 * 1024
_CHECK_BYTES = 1 << 20
_MAP_HINT = '--map name="Полное имя" phone="Рабочий телефон" email="Рабочий email"'


def parse_column_map(items: Sequence[str]) -> dict[str, list[str]]:
    """Parse CLI map items such as 'phone=Рабочий телефон' or 'phone=Рабочий телефон|Мобильный'.

    A key may repeat; its headers are collected in order. Target keys are matched
    case-insensitively; any other key names an extra field and is kept as written.
    Raises InputError naming every item that is not `key=header[|header…]`.
    """
    column_map: dict[str, list[str]] = {}
    problems = []
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        headers = [_unquote(header) for header in value.split("|")]
        if not sep or not key or not all(headers):
            problems.append(InputProblem(f'cannot read map item {item!r}, expected key="Column header"'))
            continue
        key = key.casefold() if key.casefold() in TARGET_KEYS else key
        known = column_map.setdefault(key, [])
        known.extend(header for header in headers if header not in known)
    if problems:
        raise InputError(problems)
    return column_map


def read_table(
    path: Path,
    entity: Entity,
    *,
    column_map: Mapping[str, Sequence[str]] | None = None,
    extra_fields: Mapping[str, str] | None = None,
    tz: str = "Europe/Moscow",
) -> list[Record]:
    """Read a CSV (UTF-8 or cp1251; ',', ';' or tab) or XLSX file (first sheet) into records.

    Args:
        path: the file; `.xlsx` / `.xlsm` is read as a workbook, anything else as delimited text.
        entity: "contact" or "company".
        column_map: key -> headers, overriding `DEFAULT_COLUMN_MAP` for its keys; keys outside
            `TARGET_KEYS` become extra fields.
        extra_fields: config name -> header; the cells go to `Record.extra[config name]`.
        tz: zone of dates written without one. amoCRM exports dates in the account's time, which
            is Moscow for most Russian accounts; they are stored in UTC.

    Returns:
        One record per data row, blank rows skipped. Without an id column the row's line
        number (header = line 1, as a spreadsheet shows it) is the record id.

    Raises:
        InputError: every problem found, each naming the file, the line and the column header.
    """
    batches = iter_table_batches(path, entity, column_map=column_map, extra_fields=extra_fields, tz=tz)
    return [record for batch in batches for record in batch]


def iter_table_batches(
    path: Path,
    entity: Entity,
    *,
    column_map: Mapping[str, Sequence[str]] | None = None,
    extra_fields: Mapping[str, str] | None = None,
    tz: str = "Europe/Moscow",
    batch_size: int = 20_000,
) -> Iterator[list[Record]]:
    """`read_table` as batches of at most `batch_size` records, the file read row by row (memory holds a
    batch, not the file). Problems are raised together after the last batch (InputError), so a caller
    writes the batches as one unit."""
    source = path.name
    zone = _zone(tz)
    rows = _xlsx_rows(path) if path.suffix.lower() in {".xlsx", ".xlsm"} else _csv_rows(path)
    problems: list[InputProblem] = []
    records: list[Record] = []
    with closing(rows):
        try:
            header_line, header = next((n, cells) for n, cells in rows if _has_values(cells))
        except StopIteration:
            raise InputError.one("the file is empty", source=source) from None
        except _Unreadable as exc:
            raise InputError.one(exc.reason, source=source, line=exc.line) from exc
        plan = _plan_columns(header, header_line, column_map, extra_fields, source, entity)
        seen_ids: dict[str, int] = {}
        try:
            for line, cells in rows:
                if _has_values(cells):
                    row = _Row(cells, line, plan, source, zone, problems)
                    record = row.to_record(entity, seen_ids)
                    if record is not None:
                        records.append(record)
                        if len(records) >= batch_size:
                            yield records
                            records = []
        except _Unreadable as exc:
            problems.append(InputProblem(exc.reason, source, exc.line))
    if records:
        yield records
    if problems:
        raise InputError(problems)


# --- columns ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ColumnPlan:
    """Which columns feed which key, in priority order, and the header of every column."""

    headers: tuple[str, ...]  # as written, stripped
    raw_keys: tuple[str, ...]  # unique keys for Record.raw
    targets: Mapping[str, tuple[int, ...]]
    extra: Mapping[str, tuple[int, ...]]
    has_id_column: bool


def _plan_columns(
    header: list[object],
    header_line: int,
    column_map: Mapping[str, Sequence[str]] | None,
    extra_fields: Mapping[str, str] | None,
    source: str,
    entity: Entity = "contact",
) -> _ColumnPlan:
    headers = tuple(_cell_text(cell) or "" for cell in header)
    folded = [_fold(h) for h in headers]
    column_map = column_map or {}
    explicit = {key: [_fold(h) for h in hs] for key, hs in column_map.items()}
    problems = [
        InputProblem(
            f"no column {' or '.join(repr(h) for h in column_map[key])} for {key!r}; "
            f"headers found: {_list_headers(headers)}",
            source, header_line,
        )
        for key, wanted in explicit.items()
        if not set(wanted) & set(folded)
    ]  # fmt: skip
    if problems:
        raise InputError(problems)

    claimed = {i for wanted in explicit.values() for i, h in enumerate(folded) if h in wanted}
    targets: dict[str, tuple[int, ...]] = {}
    extra: dict[str, tuple[int, ...]] = {}
    for key in dict.fromkeys([*DEFAULT_COLUMN_MAP, *explicit]):
        if key in explicit:
            columns = _columns_for(explicit[key], folded, taken=set())
        else:  # a header the map gives to one key is not also read for another by default
            columns = _columns_for(DEFAULT_COLUMN_MAP[key], folded, taken=claimed)
        if columns:
            (targets if key in TARGET_KEYS else extra)[key] = columns
    for config_name, header_name in (extra_fields or {}).items():
        columns = _columns_for([_fold(header_name)], folded, taken=set())
        if columns:
            extra[config_name] = tuple(dict.fromkeys([*extra.get(config_name, ()), *columns]))
        elif config_name not in extra:  # neither the header nor a --map item for it is in the file
            problems.append(InputProblem(f"no column {header_name!r} for the extra field {config_name!r}; "
                                         f"headers found: {_list_headers(headers)}", source, header_line))
    if problems:
        raise InputError(problems)

    if not any(key in targets for key in _IDENTIFYING_KEYS):
        raise InputError.one(
            f"no name, phone or email column among the headers {_list_headers(headers)}; "
            f"say which columns to read, e.g. {_MAP_HINT}",
            source=source,
            line=header_line,
        )
    if not any(key in targets for key in ("name", *_NAME_FALLBACK[entity])):
        # phones alone would run, and find nothing a person could check: say so instead
        raise InputError.one(
            f"no column is read as the {entity}'s name among the headers {_list_headers(headers)}; "
            f'say which one, e.g. --map name="{_first_header(headers)}"',
            source=source,
            line=header_line,
        )
    return _ColumnPlan(
        headers=headers,
        raw_keys=_unique_keys(headers),
        targets=targets,
        extra=extra,
        has_id_column="id" in targets,
    )


def _columns_for(wanted: Sequence[str], folded: Sequence[str], *, taken: set[int]) -> tuple[int, ...]:
    """Indexes of the columns whose header is in `wanted`, in `wanted` order, then file order."""
    return tuple(
        i for header in dict.fromkeys(wanted) for i, h in enumerate(folded) if h == header and i not in taken
    )


def _fold(header: str) -> str:
    return " ".join(header.split()).casefold()


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text


def _first_header(headers: Sequence[str]) -> str:
    """The header most likely to hold a name, for the hint: one saying name, else the first but an id."""
    named = [h for h in headers if any(w in h.casefold() for w in ("name", "назв", "имя", "наимен"))]
    return next(iter(named), next((h for h in headers if h and h.casefold() != "id"), "Name"))


def _list_headers(headers: Sequence[str]) -> str:
    return ", ".join(repr(h) for h in headers if h) or "(none)"


def _unique_keys(headers: Sequence[str]) -> tuple[str, ...]:
    keys: list[str] = []
    for i, header in enumerate(headers):
        key = header or f"column {i + 1}"
        n = 2
        while key in keys:  # a repeated header must not hide the other column's value in raw
            key = f"{header or f'column {i + 1}'} ({n})"
            n += 1
        keys.append(key)
    return tuple(keys)


# --- one row ----------------------------------------------------------------------------------


@dataclass
class _Row:
    """One data row being read; problems go to the shared list."""

    cells: list[object]
    line: int
    plan: _ColumnPlan
    source: str
    zone: tzinfo
    problems: list[InputProblem]
    _found_before: int = field(init=False)

    def __post_init__(self) -> None:
        self._found_before = len(self.problems)

    def to_record(self, entity: Entity, seen_ids: dict[str, int]) -> Record | None:
        record_id = self._record_id(seen_ids)
        name = self.first("name")
        if name is None:
            name = " ".join(part for part in (self.first(k) for k in _NAME_FALLBACK[entity]) if part)
        created_at = self.date("created_at")
        updated_at = self.date("updated_at")
        deleted = self.flag("deleted")
        if len(self.problems) > self._found_before or record_id is None:
            return None
        return Record(
            entity=entity,
            record_id=record_id,
            name=name or None,
            phones=self.many("phone"),
            emails=self.many("email"),
            company_name=self.first("company"),
            inn=self.first("inn"),
            website=self.first("website"),
            position=self.first("position"),
            # amoCRM exports the responsible user's name, not the id; kept as written.
            responsible_user_id=self.first("responsible"),
            created_at=created_at,
            updated_at=updated_at,
            deleted=deleted,
            extra=self.extra(),
            raw={key: _json_value(self.cell(i)) for i, key in enumerate(self.plan.raw_keys)},
        )

    def _record_id(self, seen_ids: dict[str, int]) -> str | None:
        if not self.plan.has_id_column:
            return str(self.line)  # line numbers as ids, so a file without ids works alone
        found = self.texts("id")
        if not found:
            self.problem(self.plan.targets["id"][0], "empty id")
            return None
        column, record_id = found[0]
        first_line = seen_ids.setdefault(record_id, self.line)
        if first_line != self.line:
            self.problem(column, f"duplicate id {record_id!r}, first on line {first_line}")
            return None
        return record_id

    def cell(self, column: int) -> object:
        return self.cells[column] if column < len(self.cells) else None

    def texts(self, key: str, *, extra: bool = False) -> list[tuple[int, str]]:
        """Non-empty (column, text) pairs for a key, in the plan's priority order."""
        columns = (self.plan.extra if extra else self.plan.targets).get(key, ())
        found = ((column, _cell_text(self.cell(column))) for column in columns)
        return [(column, text) for column, text in found if text]

    def first(self, key: str) -> str | None:
        found = self.texts(key)
        return found[0][1] if found else None

    def many(self, key: str) -> tuple[str, ...]:
        pieces = (piece.strip() for _, text in self.texts(key) for piece in _MULTI_VALUE_SPLIT.split(text))
        return tuple(piece for piece in pieces if piece)

    def extra(self) -> dict[str, str]:
        joined = {
            key: _EXTRA_SEPARATOR.join(text for _, text in self.texts(key, extra=True))
            for key in self.plan.extra
        }
        return {key: value for key, value in joined.items() if value}

    def date(self, key: str) -> datetime | None:
        for column in self.plan.targets.get(key, ()):
            value = self.cell(column)
            if isinstance(value, datetime | date):  # an Excel date cell, already parsed
                return _to_utc(value, self.zone)
            text = _cell_text(value)
            if text:
                parsed = _parse_date(text)
                if parsed is None:
                    self.problem(column, f"cannot read date '{text}', {_DATE_EXPECTED}")
                    return None
                return _to_utc(parsed, self.zone)
        return None

    def flag(self, key: str) -> bool:
        found = self.texts(key)
        if not found:
            return False
        column, text = found[0]
        if text.casefold() in _TRUE:
            return True
        if text.casefold() not in _FALSE:
            self.problem(column, f"cannot read {text!r} as yes or no, expected 1/0, true/false or да/нет")
        return False

    def problem(self, column: int, reason: str) -> None:
        self.problems.append(InputProblem(reason, self.source, self.line, self.plan.headers[column]))


# --- values -----------------------------------------------------------------------------------


def _cell_text(value: object) -> str | None:
    """A cell as stripped text; None when empty. XLSX cells may be numbers, dates or booleans."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # phones stored as numbers: 79161234567.0 -> "79161234567"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).strip() or None


def _json_value(value: object) -> object:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return _cell_text(value)


def _has_values(cells: Sequence[object]) -> bool:
    return any(_cell_text(cell) for cell in cells)


def _parse_date(text: str) -> datetime | None:
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _to_utc(value: datetime | date, zone: tzinfo) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InputError.one(f"unknown time zone {name!r}, expected an IANA name like Europe/Moscow") from exc


# --- files ------------------------------------------------------------------------------------


class _Unreadable(Exception):
    """The file stops making sense at a line; reading cannot go on."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _csv_rows(path: Path) -> Generator[tuple[int, list[object]], None, None]:
    """Rows of a delimited text file with their line numbers (header = 1), read as a stream."""
    encoding = _encoding(path)
    try:
        fh = io.TextIOWrapper(path.open("rb"), encoding=encoding, newline="")
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc}") from exc
    with fh:
        delimiter = _sniff_delimiter(fh.read(_SNIFF_CHARS).lstrip("\r\n"))  # the header, past blank lines
        fh.seek(0)
        reader = csv.reader(fh, delimiter=delimiter)
        line = 0
        try:
            for line, row in enumerate(reader, start=1):
                yield line, list(row)
        except csv.Error as exc:
            raise _Unreadable(f"cannot read CSV: {exc}", line + 1) from exc


def _encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else cp1251: the whole file is
    checked in chunks, without holding it."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                encodings: tuple[str, ...] = ("utf-16",)
            elif head.startswith(codecs.BOM_UTF8):
                encodings = ("utf-8-sig",)
            else:  # strict UTF-8 first: cp1251 decodes almost any bytes, so it can only be the fallback
                encodings = ("utf-8", "cp1251")
            for encoding in encodings:
                fh.seek(0)
                decoder = codecs.getincrementaldecoder(encoding)()
                newlines = 0
                try:
                    while chunk := fh.read(_CHECK_BYTES):
                        decoder.decode(chunk)
                        newlines += chunk.count(b"\n")
                    decoder.decode(b"", final=True)
                    return encoding
                except UnicodeDecodeError as exc:
                    line = newlines + chunk[: max(exc.start, 0)].count(b"\n") + 1
    except OSError as exc:
        raise _Unreadable(f"cannot read file: {exc.strerror or exc}") from exc
    raise _Unreadable(f"cannot decode the text as {' or '.join(encodings)}", line)


def _sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the header into the most columns (quotes respected)."""
    best, best_count = _DELIMITERS[0], 1
    for delimiter in _DELIMITERS:
        try:
            header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
        except csv.Error:
            continue
        if len(header) > best_count:
            best, best_count = delimiter, len(header)
    return best


def _xlsx_rows(path: Path) -> Generator[tuple[int, list[object]], None, None]:
    """Rows of the first sheet with their row numbers; cells keep Excel's types."""
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise _Unreadable(f"cannot open as XLSX: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        # Some writers store a wrong sheet size, which would cut rows short in read-only mode.
        sheet.reset_dimensions()
        for line, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, list(row)
    finally:
        workbook.close()
