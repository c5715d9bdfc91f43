"""amoCRM API v4 contacts and companies (pages, lists, single objects, JSON/JSONL files) -> records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resolver.errors import InputError, InputProblem
from resolver.records import Entity, Record

__all__ = ["read_amocrm", "read_amocrm_file", "record_from_amocrm"]

# API v4 lists entities under `_embedded.<collection>` in `GET /api/v4/contacts` and `/companies`.
_COLLECTION: dict[Entity, str] = {"contact": "contacts", "company": "companies"}

# amoCRM's system field codes (custom_fields_values[].field_code in API v4). An account's own
# fields have no code and are found by name or id instead.
_PHONE, _EMAIL, _WEB, _POSITION, _ADDRESS = "PHONE", "EMAIL", "WEB", "POSITION", "ADDRESS"
_INN_FIELD_NAMES = frozenset({"инн", "inn"})  # casefolded; INN is an account field, not a system one
_ADDRESS_EXTRA = "address"

# Every amoCRM pipeline has two fixed final statuses with the same ids in all accounts:
# 142 "Успешно реализовано" (won) and 143 "Закрыто и не реализовано" (lost) (API v4, leads
# pipelines and statuses). Any other status, or a lead listed without one, is still open.
_CLOSED_LEAD_STATUSES = frozenset({142, 143})

_EXTRA_SEPARATOR = "; "

# Keys only an entity has: an object with any of them is an entity (perhaps a bad one, e.g.
# without an id, whose `_embedded.companies` must not make it look like a page of companies).
_ENTITY_KEYS = frozenset({"id", "name", "first_name", "last_name", "custom_fields_values"})


@dataclass
class _Problems:
    """Problems found so far in one input; raised together as one InputError."""

    source: str | None
    items: list[InputProblem] = field(default_factory=list)
    by_line: bool = False  # .jsonl: locate by 1-based line; a JSON list: by 0-based item index

    def add(self, reason: str, line: int | None, field: str | None = None) -> None:
        if self.by_line:
            self.items.append(InputProblem(reason, self.source, line=line, field=field))
        else:
            self.items.append(InputProblem(reason, self.source, field=field, item=line))

    def raise_if_any(self) -> None:
        if self.items:
            raise InputError(list(self.items))


def read_amocrm(
    data: object,
    entity: Entity,
    *,
    source: str | None = None,
    extra_fields: Mapping[str, str] | None = None,
) -> list[Record]:
    """Turn parsed amoCRM API v4 JSON into records.

    Args:
        data: a list of entities, a page (`_embedded.contacts` / `_embedded.companies`),
            a list of pages, or a single entity object.
        entity: "contact" or "company"; picks the page collection to read.
        source: file name to put in error messages.
        extra_fields: config name -> custom field name (case-insensitive) or field_id as a
            string; the field's values, joined with "; ", go to `Record.extra[config name]`.

    Returns:
        One record per distinct id. When an id repeats (pages fetched while the account was
        being edited), the entity with the latest `updated_at` wins; on a tie, the later one.

    Raises:
        InputError: every problem in the input at once (line = 0-based index of the entity in
        the flattened list); nothing is returned when any entity is bad.
    """
    try:
        entities = _flatten(data, entity)
    except ValueError as exc:
        raise InputError.one(str(exc), source=source) from exc
    return _read_entities(enumerate(entities), entity, source=source, extra_fields=extra_fields)


def record_from_amocrm(
    obj: Mapping[str, Any],
    entity: Entity,
    *,
    index: int = 0,
    source: str | None = None,
    extra_fields: Mapping[str, str] | None = None,
) -> Record:
    """Turn one amoCRM API v4 entity into a record; raises InputError naming every bad field."""
    problems = _Problems(source)
    record = _parse_entity(obj, entity, index, problems, _ExtraMatcher.build(extra_fields))
    problems.raise_if_any()
    assert record is not None  # a None record always comes with a problem
    return record


def read_amocrm_file(
    path: Path, entity: Entity, *, extra_fields: Mapping[str, str] | None = None
) -> list[Record]:
    """Read a .json file (any shape `read_amocrm` takes) or .jsonl (one entity or page a line).

    In .jsonl files problems name the 1-based line; in .json files, the entity's 0-based index.
    """
    source = path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError.one(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise InputError.one("not UTF-8 text", source=source, line=line) from exc
    if path.suffix.lower() == ".jsonl":
        return _read_jsonl(text, entity, source=source, extra_fields=extra_fields)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # `field` is shown as "column N" for files, which is what a JSON error needs.
        raise InputError.one(
            f"invalid JSON: {exc.msg}", source=source, line=exc.lineno, field=str(exc.colno)
        ) from exc
    return read_amocrm(data, entity, source=source, extra_fields=extra_fields)


def _read_jsonl(
    text: str, entity: Entity, *, source: str, extra_fields: Mapping[str, str] | None
) -> list[Record]:
    problems = _Problems(source, by_line=True)
    located = _jsonl_entities(text, entity, problems)
    return _read_entities(located, entity, source=source, extra_fields=extra_fields, problems=problems)


def _jsonl_entities(text: str, entity: Entity, problems: _Problems) -> Iterator[tuple[int, object]]:
    """(line, entity) pairs; lazy, so that problems stay in line order with the entities' own."""
    for line_no, line in enumerate(text.splitlines(), start=1):
        for obj in _jsonl_line(line, line_no, entity, problems):
            yield line_no, obj


def _jsonl_line(line: str, line_no: int, entity: Entity, problems: _Problems) -> list[object]:
    """The entities of one JSONL line (an entity or a page); [] and a problem for a bad line."""
    if not line.strip():
        return []
    try:
        return _flatten(json.loads(line), entity, top_level=False)
    except json.JSONDecodeError as exc:
        problems.add(f"invalid JSON: {exc.msg}", line_no, str(exc.colno))
    except RecursionError:
        problems.add("invalid JSON: nested too deeply", line_no)
    except ValueError as exc:
        problems.add(str(exc), line_no)
    return []


def _read_entities(
    located: Iterable[tuple[int, object]],
    entity: Entity,
    *,
    source: str | None,
    extra_fields: Mapping[str, str] | None,
    problems: _Problems | None = None,
) -> list[Record]:
    problems = problems or _Problems(source)
    matcher = _ExtraMatcher.build(extra_fields)
    latest: dict[str, Record] = {}
    for line, obj in located:
        record = _parse_entity(obj, entity, line, problems, matcher)
        if record is None:
            continue
        kept = latest.get(record.record_id)
        if kept is None or _update_key(record) >= _update_key(kept):
            latest[record.record_id] = record
    problems.raise_if_any()
    return list(latest.values())


_NEVER = datetime.min.replace(tzinfo=UTC)


def _update_key(record: Record) -> datetime:
    return record.updated_at or _NEVER


# --- top-level shapes -------------------------------------------------------------------------


def _flatten(data: object, entity: Entity, *, top_level: bool = True) -> list[object]:
    """Entities of a list, page, list of pages or single object; ValueError for other shapes."""
    if isinstance(data, list) and top_level:
        flat: list[object] = []
        for item in data:
            page = _page_entities(item, entity)
            flat.extend([item] if page is None else page)
        return flat
    if isinstance(data, Mapping):
        page = _page_entities(data, entity)
        return [data] if page is None else page
    raise ValueError(_expected_shape(entity, data))


def _page_entities(item: object, entity: Entity) -> list[object] | None:
    """A page's entities; None for an entity object; ValueError for a page of something else."""
    if not isinstance(item, Mapping) or not _ENTITY_KEYS.isdisjoint(item):
        return None
    embedded = item.get("_embedded")
    collection = _COLLECTION[entity]
    if isinstance(embedded, Mapping) and collection in embedded:
        entities = embedded[collection]
        if not isinstance(entities, list):
            raise ValueError(f"_embedded.{collection} is {_describe(entities)}, expected a list")
        return entities
    if isinstance(embedded, Mapping) or "_page" in item:
        raise ValueError(_expected_shape(entity, item))
    return None


def _expected_shape(entity: Entity, data: object) -> str:
    collection = _COLLECTION[entity]
    return (
        f"expected a list of {collection}, a page with _embedded.{collection}, a list of such pages "
        f"or one {entity} object; got {_describe(data)}"
    )


def _describe(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        embedded = value.get("_embedded")
        if _ENTITY_KEYS.isdisjoint(value) and isinstance(embedded, Mapping) and embedded:
            return "a page with " + ", ".join(f"_embedded.{key}" for key in embedded)
        return "an object"
    return type(value).__name__


# --- one entity -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ExtraMatcher:
    """Finds the custom fields that `extra_fields` names, by field_name or field_id."""

    by_name: Mapping[str, tuple[str, ...]]  # casefolded field_name -> config names
    by_id: Mapping[str, tuple[str, ...]]  # field_id as text -> config names
    names: frozenset[str]  # every config name

    @classmethod
    def build(cls, extra_fields: Mapping[str, str] | None) -> _ExtraMatcher:
        by_name: dict[str, tuple[str, ...]] = {}
        by_id: dict[str, tuple[str, ...]] = {}
        for config_name, source_field in (extra_fields or {}).items():
            key = source_field.strip()
            target = by_id if key.isascii() and key.isdigit() else by_name
            key = key if target is by_id else key.casefold()
            target[key] = (*target.get(key, ()), config_name)
        return cls(by_name, by_id, frozenset((extra_fields or {}).keys()))

    def config_names(self, field_id: object, field_name: str | None) -> tuple[str, ...]:
        found: tuple[str, ...] = ()
        if field_name:
            found += self.by_name.get(field_name.casefold(), ())
        if isinstance(field_id, int | str) and not isinstance(field_id, bool):
            found += self.by_id.get(str(field_id).strip(), ())
        return found


@dataclass
class _CustomValues:
    """What `custom_fields_values` holds for the record, before it becomes one."""

    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    websites: list[str] = field(default_factory=list)
    positions: list[str] = field(default_factory=list)
    inns: list[str] = field(default_factory=list)
    extra: dict[str, list[str]] = field(default_factory=dict)


def _parse_entity(
    obj: object, entity: Entity, line: int, problems: _Problems, matcher: _ExtraMatcher, *, keep_raw: bool = True
) -> Record | None:
    if not isinstance(obj, Mapping):
        problems.add(f"expected a {entity} object, got {_describe(obj)}", line)
        return None
    found_before = len(problems.items)

    record_id = _read_id(obj.get("id"), "id", line, problems)
    name = _read_text(obj.get("name"), "name", line, problems)
    if not name:
        # Contacts created through the API or forms may carry only first_name / last_name.
        parts = (_read_text(obj.get(key), key, line, problems) for key in ("first_name", "last_name"))
        name = " ".join(part for part in parts if part) or None
    custom = _read_custom_fields(obj.get("custom_fields_values"), line, problems, matcher)
    responsible = _read_text(obj.get("responsible_user_id"), "responsible_user_id", line, problems)
    created_at = _read_time(obj.get("created_at"), "created_at", line, problems)
    updated_at = _read_time(obj.get("updated_at"), "updated_at", line, problems)
    deleted = obj.get("is_deleted")
    if deleted is not None and not isinstance(deleted, bool):
        problems.add(f"expected true or false, got {_describe(deleted)}", line, "is_deleted")
    company_ids, company_names, lead_ids, open_lead_ids = _read_embedded(obj.get("_embedded"), line, problems)

    if len(problems.items) > found_before or record_id is None:
        return None
    return Record(
        entity=entity,
        record_id=record_id,
        name=name,
        phones=tuple(custom.phones),
        emails=tuple(custom.emails),
        company_name=company_names[0] if company_names else None,
        company_ids=tuple(company_ids),
        lead_ids=tuple(lead_ids),
        open_lead_ids=tuple(open_lead_ids),
        inn=_first(custom.inns),
        website=_first(custom.websites),
        position=_first(custom.positions),
        responsible_user_id=responsible,
        created_at=created_at,
        updated_at=updated_at,
        deleted=bool(deleted),
        extra={key: _EXTRA_SEPARATOR.join(values) for key, values in custom.extra.items() if values},
        raw=(obj if isinstance(obj, dict) else dict(obj)) if keep_raw else {},
    )


def _read_custom_fields(
    value: object, line: int, problems: _Problems, matcher: _ExtraMatcher
) -> _CustomValues:
    custom = _CustomValues()
    if value is None:  # amoCRM sends null, not [], for an entity without custom fields
        return custom
    if not isinstance(value, list):
        problems.add(f"expected a list, got {_describe(value)}", line, "custom_fields_values")
        return custom
    for i, cf in enumerate(value):
        if not isinstance(cf, Mapping):
            problems.add(f"expected an object, got {_describe(cf)}", line, f"custom_fields_values[{i}]")
            continue
        code = cf.get("field_code")
        code = code.strip().upper() if isinstance(code, str) and code.strip() else None
        field_name = cf.get("field_name")
        field_name = field_name.strip() if isinstance(field_name, str) else None
        extra_names = matcher.config_names(cf.get("field_id"), field_name) if matcher.names else ()
        targets: list[list[str]] = [custom.extra.setdefault(name, []) for name in extra_names]
        if code == _PHONE:
            targets.append(custom.phones)
        elif code == _EMAIL:
            targets.append(custom.emails)
        elif code == _WEB:
            targets.append(custom.websites)
        elif code == _POSITION:
            targets.append(custom.positions)
        elif code == _ADDRESS and not extra_names and _ADDRESS_EXTRA not in matcher.names:
            targets.append(custom.extra.setdefault(_ADDRESS_EXTRA, []))
        elif code is None and field_name and field_name.casefold() in _INN_FIELD_NAMES:
            targets.append(custom.inns)
        if not targets:
            # Fields we do not read are not checked: amoCRM has field types whose values are
            # objects (legal_entity, catalog items), and they must not reject a whole import.
            continue
        for text in _read_values(cf.get("values"), i, line, problems, allow_bool=bool(extra_names)):
            for target in targets:
                target.append(text)
    return custom


def _read_values(
    values: object, i: int, line: int, problems: _Problems, *, allow_bool: bool
) -> list[str]:
    """The texts of custom_fields_values[i].values (field paths are formatted only for a problem)."""
    if values is None:
        return []
    where = "custom_fields_values[{}].values"
    if not isinstance(values, list):
        problems.add(f"expected a list, got {_describe(values)}", line, where.format(i))
        return []
    texts = []
    for j, entry in enumerate(values):
        if not isinstance(entry, Mapping):
            problems.add(f"expected an object, got {_describe(entry)}", line, f"{where.format(i)}[{j}]")
            continue
        value = entry.get("value")
        if value.__class__ is str:  # the common case, as _read_text has it
            text: str | None = value.strip() or None
        elif allow_bool and isinstance(value, bool):
            texts.append("true" if value else "false")  # checkbox fields carry JSON booleans
            continue
        else:
            text = _read_text(value, f"{where.format(i)}[{j}].value", line, problems)
        if text:
            texts.append(text)
    return texts


def _read_embedded(
    embedded: object, line: int, problems: _Problems
) -> tuple[list[str], list[str], list[str], list[str]]:
    """Linked company ids and names, lead ids and open lead ids from `_embedded`."""
    company_ids: list[str] = []
    company_names: list[str] = []
    lead_ids: list[str] = []
    open_lead_ids: list[str] = []
    if embedded is None:
        return company_ids, company_names, lead_ids, open_lead_ids
    if not isinstance(embedded, Mapping):
        problems.add(f"expected an object, got {_describe(embedded)}", line, "_embedded")
        return company_ids, company_names, lead_ids, open_lead_ids
    for k, company in _embedded_items(embedded, "companies", line, problems):
        where = f"_embedded.companies[{k}]"
        company_id = _read_id(company.get("id"), f"{where}.id", line, problems)
        if company_id is not None:
            company_ids.append(company_id)
        company_name = _read_text(company.get("name"), f"{where}.name", line, problems)
        if company_name:
            company_names.append(company_name)
    for k, lead in _embedded_items(embedded, "leads", line, problems):
        where = f"_embedded.leads[{k}]"
        lead_id = _read_id(lead.get("id"), f"{where}.id", line, problems)
        status = lead.get("status_id")
        status_id = None if status is None else _read_id(status, f"{where}.status_id", line, problems)
        if lead_id is not None:
            lead_ids.append(lead_id)
            if status_id is None or int(status_id) not in _CLOSED_LEAD_STATUSES:
                open_lead_ids.append(lead_id)
    return company_ids, company_names, lead_ids, open_lead_ids


def _embedded_items(
    embedded: Mapping[str, Any], key: str, line: int, problems: _Problems
) -> list[tuple[int, Mapping[str, Any]]]:
    items = embedded.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        problems.add(f"expected a list, got {_describe(items)}", line, f"_embedded.{key}")
        return []
    good = []
    for k, item in enumerate(items):
        if isinstance(item, Mapping):
            good.append((k, item))
        else:
            problems.add(f"expected an object, got {_describe(item)}", line, f"_embedded.{key}[{k}]")
    return good


# --- scalar values ----------------------------------------------------------------------------


def _read_id(value: object, where: str, line: int, problems: _Problems) -> str | None:
    """An amoCRM id (a non-negative integer, or its digits as a string) as text."""
    if value is None:
        problems.add("missing id", line, where)
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return value.strip()
    plain = isinstance(value, str | int | float) and not isinstance(value, bool)
    shown = repr(value) if plain else _describe(value)
    problems.add(f"expected an integer id, got {shown}", line, where)
    return None


def _read_text(value: object, where: str, line: int, problems: _Problems) -> str | None:
    """A string or number as stripped text; None when absent or empty."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_text(value)
    problems.add(f"expected a string or number, got {_describe(value)}", line, where)
    return None


def _number_text(value: int | float) -> str:
    # Phones stored in number fields arrive as 79161234567 or 79161234567.0; both mean the digits.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _read_time(value: object, where: str, line: int, problems: _Problems) -> datetime | None:
    """amoCRM timestamps are unix seconds (API v4); they become timezone-aware UTC datetimes."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        shown = repr(value) if isinstance(value, str) else _describe(value)
        problems.add(f"expected unix seconds (a number), got {shown}", line, where)
        return None
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        problems.add(f"timestamp {value!r} is out of range", line, where)
        return None


def _first(values: list[str]) -> str | None:
    return values[0] if values else None
