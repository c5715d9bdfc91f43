"""What differs between contacts and companies, as data: columns, normalizers, comparisons, blocking.

Everything entity-specific lives here so the scan, the store and the CLI stay one code path
(style.md: no `if entity == "contact"` elsewhere). Each `EntitySpec` says which normalized
columns a record gets, how a `Record` fills them, which Splink comparisons score a pair,
which blocking rules generate candidate pairs, and which rules train the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import block_on
from splink.internals.blocking_rule_creator import BlockingRuleCreator
from splink.internals.comparison_creator import ComparisonCreator
from splink.internals.comparison_level_creator import ComparisonLevelCreator

from resolver.conflicts import company_conflict, contact_conflict
from resolver.errors import InputError
from resolver.normalize import (
    MAX_PARSED_CHARS,
    clean_text,
    clip_words,
    email_domain,
    is_free_mail,
    normalize_emails,
    normalize_inn,
    parse_autoname,
    parse_company_name,
    parse_person_name,
    split_name_field,
    transliterate,
    website_domain,
)
from resolver.normalize.addresses import SEPARATOR as ADDRESS_SEPARATOR
from resolver.normalize.addresses import normalize_address
from resolver.normalize.memo import memo_text
from resolver.normalize.phones import phone_values
from resolver.records import Entity, Record

ExtraKind = Literal["text", "date", "identifier", "address"]
EXTRA_KINDS: tuple[ExtraKind, ...] = ("text", "date", "identifier", "address")

# Name blocks longer than this would cost more comparisons than they find duplicates; a single
# first name ("Иван" from "Заявка от «Иван»") is such a block, so it links only by phone / email.
_MIN_TOKENS_FOR_NAME_BLOCK = 2
_NAME_KEY_PREFIX = 3
# Surnames less alike than this are different surnames, not a typo (Иванов/Иавнов is 0.91)
_OTHER_SURNAME_JW = 0.8


@dataclass(frozen=True)
class Column:
    """One normalized column of the `records` table; `sql_type` is DuckDB's."""

    name: str
    sql_type: str


@dataclass(frozen=True)
class ExtraField:
    """An account's own field added to matching (address, birthday, passport number …).

    `source` is where readers find it: a CSV/XLSX header, or an amoCRM custom field's name or id.
    """

    name: str
    kind: ExtraKind
    source: str

    @property
    def column(self) -> str:
        return f"x_{self.name}"

    @classmethod
    def parse(cls, text: str) -> ExtraField:
        """Parse `HEADER=KIND` (`Address=address`: the field is named after its header) or
        `NAME:KIND[:SOURCE]` (`address:text:Адрес`) as given on the command line."""
        if "=" in text:
            header, _, kind = text.rpartition("=")
            header, kind = header.strip(), kind.strip()
            if not header or kind not in EXTRA_KINDS:
                raise InputError.one(f"extra field {text!r}: expected NAME:KIND[:SOURCE] or HEADER=KIND with KIND "
                                     f"one of {', '.join(EXTRA_KINDS)}", field="--field")
            name = re.sub(r"[^a-z0-9]+", "_", transliterate(header)).strip("_")[:40] if header else ""
            if name and not name[0].isalpha():
                name = f"f_{name}"[:40]
            return cls(name or "field", kind, header)
        parts = [p.strip() for p in text.split(":", 2)]
        if len(parts) < 2 or not parts[0] or parts[1] not in EXTRA_KINDS:
            raise InputError.one(
                f"extra field {text!r}: expected NAME:KIND[:SOURCE] or HEADER=KIND "
                f"with KIND one of {', '.join(EXTRA_KINDS)}",
                field="--field",
            )
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", parts[0]):
            raise InputError.one(
                f"extra field name {parts[0]!r}: use lowercase latin letters, digits and _", field="--field"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) > 2 and parts[2] else parts[0])


# The new-phone rule (resolver/evidence.py): the same name (name_norm) at the same value of this column
RESCUE_COMPANY_COLUMN = "company_core"


@dataclass(frozen=True)
class EntitySpec:
    """How one entity is normalized, compared and blocked.

    `columns` are the normalized columns (besides ids and bookkeeping) the store keeps;
    `normalize` fills them from a `Record`; `comparisons` / `blocking_rules` build Splink
    settings; `deterministic_rules` estimate the prior; `em_rules` train m by EM, each rule
    leaving the others' fields free; `key_columns` give the candidate keys of the real-time check
    (the same values the blocking rules join on); `display_columns` go to the groups CSV.
    """

    entity: Entity
    columns: tuple[Column, ...]
    normalize: Callable[[Record], dict[str, Any]]
    comparisons: Callable[[], list[ComparisonCreator]]
    blocking_rules: Callable[[], list[BlockingRuleCreator]]
    deterministic_rules: Callable[[], list[BlockingRuleCreator]]
    em_rules: Callable[[], list[BlockingRuleCreator]]
    key_columns: tuple[str, ...]
    display_columns: tuple[str, ...] = ("name", "phones", "emails")
    # list columns whose values are counted over the base at scan time: `<col>_rare` holds the
    # values at most RARE_MAX different names carry, `<col>_few` at most FEW_MAX (_shared_levels)
    frequency_columns: tuple[str, ...] = ("phones", "emails")
    name_column: str = "name_norm"  # the normalized name, for rules that pair it with another field
    # why two records are two entities whatever value they share (None: no such rule); with
    # `shared_values` (comparison -> columns holding the values it shares) read by resolver/evidence.py
    conflict: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] | None = None
    shared_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # whether a shared value loses weight by how many names carry it (resolver/evidence.py); contacts'
    # phones and emails have it in their levels already, and a company is shared by all its staff
    discount_common_values: bool = True
    # pairs Splink scores at least this likely reach resolver/evidence.py, which may raise them to the
    # review threshold (contacts: the same person on a new phone); None: the review threshold
    prediction_floor: float | None = None
    # which pairs that rule can raise: those with the same value in each of these columns (contacts: one
    # name at one company); the scan compares only them down to the floor, the rest to the review threshold
    prediction_floor_columns: tuple[str, ...] = ()

    def floor_pairs_sql(self) -> str | None:
        """SQL over a blocking rule's `l`/`r` for the pairs `prediction_floor` is for (None: no such pairs)."""
        if self.prediction_floor is None or not self.prediction_floor_columns:
            return None
        return " AND ".join(f'l."{c}" = r."{c}"' for c in self.prediction_floor_columns)


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


@memo_text
def _emails_of(value: str | None) -> tuple[str, ...]:
    return tuple(normalize_emails(value))


# phones.py remembers its short values itself
_phones_of = phone_values


# each distinct company name is parsed once (resolver/normalize/memo.py)
_company_of = memo_text(parse_company_name)


def _or_none(values: list[str]) -> list[str] | None:
    # Splink treats [] as a value that disagrees with everything; None is "unknown" (notes 2.1)
    return values or None


# A phone or email that only the records of one person carry is strong evidence; one that an
# office or a school shares is weak. What counts is how many different names carry the value, not
# how many records: a caller with five auto-created copies is still one person. Counting each
# value over the base does for list columns what Splink's term-frequency adjustment does for one
# value (splink5-notes 2.1: no TF on arrays).
RARE_MAX = 3
FEW_MAX = 10
# The comparisons built by _shared_levels: agreeing on them means sharing one value, so their u
# falls as 1/N with the size of the base, as an exact match's term frequency does.
SHARED_VALUE_COMPARISONS = ("phone", "email")


def _shared_levels(col: str, what: str) -> list[Any]:
    return [
        cll.NullLevel(col),
        cll.ArrayIntersectLevel(f"{col}_rare", 1).configure(
            label_for_charts=f"shares a {what} at most {RARE_MAX} names have"),
        cll.ArrayIntersectLevel(f"{col}_few", 1).configure(
            label_for_charts=f"shares a {what} at most {FEW_MAX} names have"),
        cll.ArrayIntersectLevel(col, 1).configure(label_for_charts=f"shares a {what} many names have"),
        cll.ElseLevel(),
    ]


def _name_key(tokens: Sequence[str], prefix: int) -> str | None:
    if len(tokens) < _MIN_TOKENS_FOR_NAME_BLOCK:
        return None
    return " ".join(sorted(t[:prefix] for t in tokens))


# --- contacts ---------------------------------------------------------------------------------

CONTACT_COLUMNS = (
    Column("name_norm", "VARCHAR"),
    Column("name_tokens", "VARCHAR[]"),
    Column("name_key", "VARCHAR"),
    Column("first_name", "VARCHAR"),
    Column("last_name", "VARCHAR"),
    Column("patronymic", "VARCHAR"),
    Column("phones", "VARCHAR[]"),
    Column("phone", "VARCHAR"),
    Column("emails", "VARCHAR[]"),
    Column("email", "VARCHAR"),
    Column("company_core", "VARCHAR"),
    Column("name_source", "VARCHAR"),  # "name" | "auto:<kind>" | NULL: where the name came from
)


# What a contact's name field gives, computed once per distinct field (`_contact_name`), as a plain
# tuple (unpacked once per record): the name's columns name_norm, name_tokens (a tuple or None),
# name_key, first_name, last_name, patronymic; then phones and emails typed into the name (or an
# auto-created name's), a company typed after the name ("Иван Петров ООО Ромашка") and name_source.
_ContactName = tuple[str | None, tuple[str, ...] | None, str | None, str | None, str | None, str | None,
                     tuple[str, ...], tuple[str, ...], str | None, str | None]


@memo_text
def _contact_name(name: str | None) -> _ContactName:
    auto = parse_autoname(name)
    company: str | None = None
    if auto is not None:
        phones, emails = tuple(auto.phones), tuple(auto.emails)
        name_text: str | None = auto.name
        name_source: str | None = f"auto:{auto.source}"
    else:
        parts = split_name_field(name)
        phones, emails = tuple(parts.phones), tuple(parts.emails)
        name_text = parts.name
        company = parts.company
        name_source = "name" if name_text else None
    person = parse_person_name(name_text)
    if person is None:
        return (None, None, None, None, None, None, phones, emails, company, None)
    tokens = person.tokens
    return (person.key, tokens or None, _name_key(tokens, _NAME_KEY_PREFIX), person.first, person.last,
            person.patronymic, phones, emails, company, name_source)


def _values_of(raw: Sequence[str], more: tuple[str, ...], normalize: Callable[[str | None], tuple[str, ...]]
               ) -> list[str]:
    """The normalized values of a record's raw values and those its name carried, each once, in order."""
    if not more:
        if not raw:
            return []
        if len(raw) == 1:  # the common case: one value, whose normalizer gives each value once
            return list(normalize(raw[0]))
    out: list[str] = []
    for value in (*raw, *more):
        out.extend(normalize(value))
    return _unique(out)


def normalize_contact(record: Record) -> dict[str, Any]:
    """Normalized contact columns; auto-created names give their phone/email, never a name to compare."""
    (name_norm, tokens, name_key, first, last, patronymic, name_phones, name_emails, name_company,
     name_source) = _contact_name(record.name)
    phones = _values_of(record.phones, name_phones, _phones_of)
    emails = _values_of(record.emails, name_emails, _emails_of)
    company_name = record.company_name or name_company
    company = _company_of(company_name) if company_name else None
    return {
        "name_norm": name_norm,
        "name_tokens": list(tokens) if tokens else None,  # a list of its own: rows are the caller's
        "name_key": name_key,
        "first_name": first,
        "last_name": last,
        "patronymic": patronymic,
        "phones": phones or None,  # Splink treats [] as a value that disagrees with everything (_or_none)
        "phone": phones[0] if phones else None,
        "emails": emails or None,
        "email": emails[0] if emails else None,
        "company_core": company.core if company else None,
        "name_source": name_source,
    }


def _contact_comparisons() -> list[ComparisonCreator]:
    return [
        cl.CustomComparison(
            output_column_name="name",
            comparison_levels=[
                cll.NullLevel("name_norm"),
                cll.ExactMatchLevel("name_norm").configure(tf_adjustment_column="name_norm"),
                # two known, different first names: a family or colleagues, not one person
                cll.CustomLevel('"first_name_l" <> "first_name_r"', label_for_charts="different first names"),
                # namesakes by first name: Дмитрий Фёдоров and Дмитрий Орлов on one office line
                cll.CustomLevel(f'jaro_winkler_similarity("last_name_l", "last_name_r") < {_OTHER_SURNAME_JW}',
                                label_for_charts="different surnames"),
                cll.JaroWinklerLevel("name_norm", 0.94),
                cll.ArraySubsetLevel("name_tokens"),  # "ivan" vs "ivan petrov", initials dropped
                cll.ArrayIntersectLevel("name_tokens", 2),
                cll.JaroWinklerLevel("name_norm", 0.85),
                cll.ArrayIntersectLevel("name_tokens", 1),  # a surname shared by a family
                cll.ElseLevel(),
            ],
        ),
        # an office line or ten teachers on school5@edu.ru share a value many records have: it weighs little
        cl.CustomComparison(output_column_name="phone", comparison_levels=_shared_levels("phones", "phone")),
        cl.CustomComparison(output_column_name="email", comparison_levels=_shared_levels("emails", "email")),
        # the same patronymic makes a namesake unlikely; two different ones rule a duplicate out
        cl.CustomComparison(
            output_column_name="patronymic",
            comparison_levels=[
                cll.NullLevel("patronymic"),
                cll.ExactMatchLevel("patronymic"),
                cll.JaroWinklerLevel("patronymic", 0.9),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="company",
            comparison_levels=[
                cll.NullLevel("company_core"),
                cll.ExactMatchLevel("company_core"),
                cll.ElseLevel(),
            ],
        ),
    ]


def _contact_blocking() -> list[BlockingRuleCreator]:
    return [
        block_on("phones", arrays_to_explode=["phones"]),
        block_on("emails", arrays_to_explode=["emails"]),
        block_on("name_key"),
    ]


def _contact_deterministic() -> list[BlockingRuleCreator]:
    return [block_on("phone", "name_norm"), block_on("email", "name_norm")]


def _contact_em() -> list[BlockingRuleCreator]:
    return [block_on("name_key"), block_on("phone"), block_on("email")]


CONTACT = EntitySpec(
    entity="contact",
    columns=CONTACT_COLUMNS,
    normalize=normalize_contact,
    comparisons=_contact_comparisons,
    blocking_rules=_contact_blocking,
    deterministic_rules=_contact_deterministic,
    em_rules=_contact_em,
    key_columns=("phones", "emails", "name_key"),
    conflict=contact_conflict,
    # a shared phone, email or employer links colleagues and families, not one person, when the names conflict
    shared_values={"phone": ("phones",), "email": ("emails",), "company": ("company_core",)},
    discount_common_values=False,
    prediction_floor=0.01,
    prediction_floor_columns=("name_norm", RESCUE_COMPANY_COLUMN),  # resolver/evidence.py's new-phone rule
)


# --- companies --------------------------------------------------------------------------------

COMPANY_COLUMNS = (
    Column("name_core", "VARCHAR"),
    Column("name_tokens", "VARCHAR[]"),
    Column("name_key", "VARCHAR"),
    Column("legal_form", "VARCHAR"),
    Column("inn", "VARCHAR"),
    Column("domain", "VARCHAR"),
    Column("phones", "VARCHAR[]"),
    Column("phone", "VARCHAR"),
    Column("emails", "VARCHAR[]"),
    Column("email", "VARCHAR"),
    Column("email_domain", "VARCHAR"),  # the first corporate (not free-mail) email domain
)


def normalize_company(record: Record) -> dict[str, Any]:
    """Normalized company columns: name core without legal form, checked INN, site and mail domains."""
    company = _company_of(record.name)
    phones = _values_of(record.phones, (), _phones_of)
    emails = _values_of(record.emails, (), _emails_of)
    corporate = [d for d in (email_domain(e) for e in emails) if not is_free_mail(d)]
    tokens = list(company.tokens) if company else []
    domain = website_domain(record.website)
    return {
        "name_core": company.core if company else None,
        "name_tokens": _or_none(tokens),
        "name_key": " ".join(sorted(t[:4] for t in tokens)) if tokens else None,
        "legal_form": company.legal_form if company else None,
        "inn": normalize_inn(record.inn),
        "domain": domain,
        "phones": _or_none(phones),
        "phone": phones[0] if phones else None,
        "emails": _or_none(emails),
        "email": emails[0] if emails else None,
        "email_domain": corporate[0] if corporate else None,
    }


def _company_comparisons() -> list[ComparisonCreator]:
    return [
        cl.CustomComparison(
            output_column_name="name",
            comparison_levels=[
                cll.NullLevel("name_core"),
                cll.ExactMatchLevel("name_core").configure(tf_adjustment_column="name_core"),
                cll.JaroWinklerLevel("name_core", 0.94),
                cll.ArraySubsetLevel("name_tokens"),
                cll.ArrayIntersectLevel("name_tokens", 1),
                cll.ElseLevel(),
            ],
        ),
        # Two valid, different INNs are two legal entities, whatever the name says
        cl.ExactMatch("inn"),
        cl.CustomComparison(
            output_column_name="domain",
            comparison_levels=[
                cll.NullLevel("domain"),
                cll.ExactMatchLevel("domain").configure(tf_adjustment_column="domain"),
                cll.CustomLevel('"domain_l" = "email_domain_r" OR "email_domain_l" = "domain_r"',
                                label_for_charts="site domain = email domain"),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="email_domain",
            comparison_levels=[
                cll.NullLevel("email_domain"),
                cll.ExactMatchLevel("email_domain").configure(tf_adjustment_column="email_domain"),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(output_column_name="phone", comparison_levels=_shared_levels("phones", "phone")),
        cl.CustomComparison(output_column_name="email", comparison_levels=_shared_levels("emails", "email")),
    ]


def _company_blocking() -> list[BlockingRuleCreator]:
    return [
        block_on("inn"),
        block_on("domain"),
        block_on("phones", arrays_to_explode=["phones"]),
        block_on("emails", arrays_to_explode=["emails"]),
        block_on("name_key"),
    ]


def _company_deterministic() -> list[BlockingRuleCreator]:
    return [block_on("inn"), block_on("domain", "name_core")]


def _company_em() -> list[BlockingRuleCreator]:
    return [block_on("name_key"), block_on("inn"), block_on("phone")]


COMPANY = EntitySpec(
    entity="company",
    columns=COMPANY_COLUMNS,
    normalize=normalize_company,
    comparisons=_company_comparisons,
    blocking_rules=_company_blocking,
    deterministic_rules=_company_deterministic,
    em_rules=_company_em,
    key_columns=("inn", "domain", "phones", "emails", "name_key"),
    name_column="name_core",
    conflict=company_conflict,
    # a site and a mail domain are one value space: romashka.ru on both sides
    shared_values={"phone": ("phones",), "email": ("emails",), "domain": ("domain", "email_domain"),
                   "email_domain": ("email_domain",)},
)

SPECS: dict[Entity, EntitySpec] = {"contact": CONTACT, "company": COMPANY}


def spec_for(entity: str) -> EntitySpec:
    """The spec of `entity`; an unknown entity is an input error naming the choices."""
    try:
        return SPECS[entity]  # type: ignore[index]
    except KeyError:
        raise InputError.one(f"unknown entity {entity!r}; expected contact or company", field="entity") from None


# --- extra fields -----------------------------------------------------------------------------

_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y%m%d", "%d/%m/%Y", "%d.%m.%y")
_MAX_DATE_CHARS = 10  # the longest of _DATE_FORMATS ("31.12.2024")
_NON_WORD = re.compile(r"[^\w]+")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def normalize_extra(kind: ExtraKind, value: str | None) -> str | None:
    """An extra field's comparable form: text folded to Latin, a date as ISO, an id as [0-9A-Z].

    Text is read up to `MAX_PARSED_CHARS` characters, cut between words; an identifier longer than
    that is refused (None), since a prefix of an identifier is a different identifier.
    """
    text = clean_text(value)
    if text is None:
        return None
    if kind == "text":
        folded = _NON_WORD.sub(" ", transliterate(clip_words(text))).strip()
        return folded or None
    if kind == "address":
        return normalize_address(text)
    if kind == "identifier":
        if len(text) > MAX_PARSED_CHARS:
            return None
        ident = _NON_ALNUM.sub("", transliterate(text)).upper()
        return ident if ident and len(set(ident)) > 1 else None  # "000000" is a placeholder
    return _normalize_date(text)


def _normalize_date(text: str) -> str | None:
    head = text.split(maxsplit=1)[0]
    if len(head) > _MAX_DATE_CHARS:
        return None
    for fmt in _DATE_FORMATS:
        try:
            parsed = datetime.strptime(head, fmt).date()
        except ValueError:
            continue
        return parsed.isoformat() if date(1900, 1, 1) <= parsed <= date(2100, 1, 1) else None
    return None


def extra_comparison(extra: ExtraField) -> ComparisonCreator:
    """A comparison that fits the field's kind: fuzzy text, date with typo level, or exact id."""
    col = extra.column
    levels: list[ComparisonLevelCreator | dict[str, Any]]
    if extra.kind == "text":
        levels = [
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
            cll.JaroWinklerLevel(col, 0.92),
            cll.JaroWinklerLevel(col, 0.80),
            cll.ElseLevel(),
        ]
    elif extra.kind == "date":
        levels = [
            cll.NullLevel(col),
            cll.ExactMatchLevel(col),
            cll.DamerauLevenshteinLevel(col, 1),  # one mistyped or swapped digit
            cll.AbsoluteDateDifferenceLevel(col, input_is_string=True, threshold=1, metric="year"),
            cll.ElseLevel(),
        ]
    elif extra.kind == "address":
        levels = _address_levels(col)
    else:
        levels = [
            cll.NullLevel(col),
            cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),
            cll.DamerauLevenshteinLevel(col, 1),
            cll.ElseLevel(),
        ]
    return cl.CustomComparison(output_column_name=extra.name, comparison_levels=levels)


def _address_part(col: str, side: str, index: int) -> str:
    return f"split_part(\"{col}_{side}\", '{ADDRESS_SEPARATOR}', {index})"


def _address_levels(col: str) -> list[ComparisonLevelCreator | dict[str, Any]]:
    """`house|street|city` (resolver/normalize/addresses.py): the house number must agree, street and
    city may differ by a typo; a city only one side names does not count against a pair."""
    house_l, house_r = _address_part(col, "l", 1), _address_part(col, "r", 1)
    street_l, street_r = _address_part(col, "l", 2), _address_part(col, "r", 2)
    city_l, city_r = _address_part(col, "l", 3), _address_part(col, "r", 3)
    same_house = f"{house_l} <> '' AND {house_l} = {house_r}"
    city_fits = f"({city_l} = '' OR {city_r} = '' OR jaro_winkler_similarity({city_l}, {city_r}) >= 0.85)"

    def street(jw: float) -> str:
        return f"jaro_winkler_similarity({street_l}, {street_r}) >= {jw}"

    return [
        cll.NullLevel(col),
        cll.ExactMatchLevel(col).configure(tf_adjustment_column=col),  # a business centre's address weighs less
        cll.CustomLevel(f"{same_house} AND {street(0.92)} AND {city_fits}",
                        label_for_charts="same house, street alike"),
        cll.CustomLevel(f"{same_house} AND {street(0.80)} AND {city_fits}",
                        label_for_charts="same house, street similar"),
        cll.CustomLevel(f"{house_l} = '' AND {house_r} = '' AND {street(0.92)} AND {city_fits}",
                        label_for_charts="no house numbers, street alike"),
        cll.ElseLevel(),
    ]


def extra_blocking(extra: ExtraField) -> list[BlockingRuleCreator]:
    """Identifiers and dates are selective enough to block on; free text is not; an address by its
    house number and the first letters of its street."""
    if extra.kind == "address":
        col = extra.column
        return [block_on(f"split_part({col}, '{ADDRESS_SEPARATOR}', 1)",
                         f"substr(split_part({col}, '{ADDRESS_SEPARATOR}', 2), 1, 3)")]
    return [] if extra.kind == "text" else [block_on(extra.column)]


def extra_deterministic(extra: ExtraField, spec: EntitySpec) -> list[BlockingRuleCreator]:
    """Rules that (almost) only duplicates meet: the same identifier, or the same name and date."""
    if extra.kind == "identifier":
        return [block_on(extra.column)]
    if extra.kind in ("date", "address"):
        return [block_on(spec.name_column, extra.column)]
    return []
