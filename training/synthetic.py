"""Synthetic amoCRM contacts and companies with known truth, for the demo, the tests and `make bench`.

Each record renders a hidden person or company. `truth` maps every record id to that hidden key, so
records with one key are duplicates; `hard_negatives` marks records planted to look alike while being
different people or companies. One `random.Random(seed)` drives everything: same arguments, same output.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import random
import re
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from resolver.normalize import normalize_email
from training import synthetic_names as names

Entity = Literal["contact", "company"]

# Shares of records (or of persons / companies where said). `make bench` numbers depend on them.
DUPLICATE_RATE = 0.10  # default share of records that are extra copies of an entity already present
EXTRA_COPIES_WEIGHTS = {1: 80, 2: 15, 3: 5}  # a duplicated entity has 2 records mostly, sometimes 3-4
VARIATIONS_PER_COPY_WEIGHTS = {1: 50, 2: 35, 3: 15}  # differences a copy carries from its original
HARD_NEGATIVE_RATE = 0.04  # records planted as hard negatives
NO_CONTACT_INFO_RATE = 0.05  # persons with neither phone nor e-mail
PHONE_ONLY_RATE = 0.30  # persons with a phone and no e-mail (the rest after EMAIL_ONLY_RATE have both)
EMAIL_ONLY_RATE = 0.10
SECOND_PHONE_RATE = 0.15
EMPLOYER_RATE = 0.30  # contacts linked to a company
CORPORATE_EMAIL_RATE = 0.40  # of persons with an employer and an e-mail
POSITION_RATE = 0.30
CONTACT_WEB_RATE = 0.03
JUNK_NAME_RATE = 0.02  # originals named "-", "нет", "" ...
AUTONAME_ORIGINAL_RATE = 0.02  # originals created by telephony or a web form (copies get it as a variation)
JUNK_FIELD_RATE = 0.04  # records, originals and copies alike, with a junk phone or e-mail mixed in
COMPANY_INN_RATE = 0.75  # company originals showing their INN
COMPANY_DOMAIN_RATE = 0.60  # companies (not ИП) with a website; ИП: a third of that
COMPANY_ADDRESS_RATE = 0.40
LEAD_RATE = 0.40  # records with 1-3 deals
UNTOUCHED_RATE = 0.30  # records never edited: updated_at == created_at

ACCOUNT_ID = 29_000_000
CONTACT_ID_BASE = 10_000_000
COMPANY_ID_BASE = 50_000_000
LEAD_ID_BASE = 70_000_000
USER_IDS: tuple[int, ...] = tuple(range(504141, 504161))
WON_STATUS, LOST_STATUS = 142, 143  # amoCRM's fixed closed statuses
OPEN_STATUSES: tuple[int, ...] = tuple(range(31_000_001, 31_000_006))
NOW = 1_735_689_600  # 2025-01-01 UTC; fixed so that output never depends on the clock
HISTORY_SECONDS = 5 * 365 * 86_400

# amoCRM field ids and enum ids as in /work/shared/data/amocrm samples; enum codes are amoCRM's own.
_PHONE_ENUMS = {"WORK": 300001, "MOB": 300002, "WORKDD": 300003, "FAX": 300004, "HOME": 300005}
_EMAIL_ENUMS = {"WORK": 300011, "PRIV": 300012, "OTHER": 300013}
_PLURAL: dict[Entity, str] = {"contact": "contacts", "company": "companies"}
_WRITE_CHUNK = 2000  # records encoded per write by write_set
_FOLDED_MAIL_DOMAINS = frozenset(("gmail.com", "yandex.ru", "ya.ru"))  # see resolver/normalize/emails.py


@dataclass(frozen=True)
class SyntheticSet:
    """Records of one entity with their truth.

    `truth`: record id (str) -> entity key; `hard_negatives`: record id -> cluster key such as
    "email:school5@edu.ru", "phone:office3", "name:ivanov-ivan-7", "family:petrov-2",
    "company:romashka-4", "legal:vektor-1", "freemail:mail.ru-5". Records of one cluster are
    different entities sharing what the prefix names.
    """

    entity: Entity
    entities: list[dict[str, Any]]
    truth: dict[str, str]
    hard_negatives: dict[str, str]


_T = TypeVar("_T")


class _Weighted(Generic[_T]):
    """Weighted choice by one `rng.random()` and a bisect (several times faster than `rng.choices`)."""

    __slots__ = ("cum", "items", "total")

    def __init__(self, items: Sequence[_T], weights: Sequence[float]) -> None:
        self.items, self.cum = tuple(items), tuple(accumulate(weights))
        self.total = self.cum[-1]

    def pick(self, rng: random.Random) -> _T:
        return self.items[bisect_right(self.cum, rng.random() * self.total)]


def _by_rank(items: Sequence[_T]) -> _Weighted[_T]:
    # Zipf-like: the head is ~25x as frequent as the tail, so popular names repeat as in real bases.
    return _Weighted(items, [1 / (rank + 3) for rank in range(len(items))])


def _from_dict(weights: dict[_T, int]) -> _Weighted[_T]:
    return _Weighted(list(weights), list(weights.values()))


_MALE, _FEMALE, _SURNAMES = (_by_rank(t) for t in (names.MALE_FIRST_NAMES, names.FEMALE_FIRST_NAMES,
                                                     names.SURNAMES))
_CORE_WORDS = _by_rank(names.CORE_WORDS)
_FREE_MAIL = _Weighted(names.FREE_MAIL_DOMAINS, names.FREE_MAIL_WEIGHTS)
_CITIES = _Weighted(names.CITIES, [c[4] for c in names.CITIES])
_EXTRA_COPIES, _VARIATIONS = _from_dict(EXTRA_COPIES_WEIGHTS), _from_dict(VARIATIONS_PER_COPY_WEIGHTS)
_LEADS_PER_RECORD = _from_dict({1: 60, 2: 28, 3: 12})
_LEAD_STATUS = _Weighted((*OPEN_STATUSES, WON_STATUS, LOST_STATUS), (9, 9, 9, 9, 9, 25, 30))

# Phone spellings seen in amoCRM bases; a-d are the digit groups of the national number.
_RU_FORMATS = _Weighted(
    ("+7{n}", "+7 ({a}) {b}-{c}-{d}", "8 {a} {b}-{c}-{d}", "+7 {a} {b}-{c}-{d}", "8{n}",
     "+7 ({a}) {b}{c}{d}", "{n}", "7{n}", "+7 {a} {b} {c} {d}", "8({a}){b}-{c}-{d}"),
    (24, 20, 10, 12, 10, 6, 5, 5, 5, 3),
)
_BY_FORMATS = _Weighted(("+375{n}", "+375 ({a}) {b}-{c}-{d}", "+375 {a} {b} {c} {d}", "375{n}",
                         "8 0{a} {b}-{c}-{d}"), (30, 30, 20, 10, 10))
# Logins from f(irst name), i(nitial), l(ast name), y(ear of birth), as Russians pick them.
_FREE_MAIL_LOGINS = ("{f}.{l}", "{l}.{f}", "{i}.{l}", "{i}{l}", "{l}{y}", "{f}{l}{y}", "{l}_{i}", "{f}_{l}{y}")
_CORPORATE_LOGINS = ("{f}.{l}", "{i}.{l}", "{i}{l}", "{f}")
_EMAIL_STYLES = _Weighted(("", "title", "upper", "space"), (92, 3, 2, 3))
_WEB_FORMS = _Weighted(("https://www.{d}/", "{d}", "http://{d}/contacts", "www.{d}", "https://{d}",
                        "http://www.{d}"), (30, 25, 10, 15, 15, 5))
_COMPANY_STYLES = _Weighted(
    ("quoted", "dquoted", "comma", "plain", "bare", "full", "latin", "lower", "upper"),
    (40, 12, 8, 12, 15, 4, 2, 3, 4),
)
_IP_STYLES = ("initials", "surname")  # ways to write an ИП that an LLC has no counterpart for
_FORMS = {short: (short, full, latin) for short, full, latin, _ in names.LEGAL_FORMS}
_FORM_PICK = _Weighted([f[0] for f in names.LEGAL_FORMS], [f[3] for f in names.LEGAL_FORMS])
_CYRILLIC = "абвгдежзиклмнопрстуфхцчшыэюя"

Phone = tuple[str, str, str, str]  # country code, national number, enum code, extension text
ShownPhone = tuple[str, str, str, str, str]  # a Phone and the format one record spells it in (_RU_FORMATS, _BY_FORMATS)
ShownEmail = tuple[str, str, str]  # address, enum code, style one record writes it in (_email_text)


class _Look(Protocol):
    """What contact and company looks share: the phones and e-mails a record shows, and its junk values."""

    phones: list[ShownPhone]
    emails: list[ShownEmail]
    junk_phone: str | None
    junk_email: str | None


def _phone_text(cc: str, nat: str, fmt: str) -> str:
    if cc == "375":
        return fmt.format(n=nat, a=nat[:2], b=nat[2:5], c=nat[5:7], d=nat[7:])
    return fmt.format(n=nat, a=nat[:3], b=nat[3:6], c=nat[6:8], d=nat[8:])


def _phone_format(rng: random.Random, cc: str, other_than: str = "") -> str:
    table = _BY_FORMATS if cc == "375" else _RU_FORMATS
    fmt = table.pick(rng)
    while fmt == other_than:
        fmt = table.pick(rng)
    return fmt


def _email_text(address: str, style: str) -> str:
    if style == "upper":
        return address.upper()
    if style == "space":
        return f" {address} "
    if style == "title":  # "Ivan.Petrov@Mail.ru", as phones' keyboards capitalise it
        login, _, domain = address.partition("@")
        return ".".join(part.capitalize() for part in login.split(".")) + "@" + domain.capitalize()
    return address


def _typo(rng: random.Random, word: str) -> str:
    """One-letter slip inside a word (never its first letter): swap, drop, double or replace."""
    spots = [i for i in range(1, len(word) - 1) if word[i].isalpha() and word[i + 1].isalpha()]
    if not spots:
        return word + word[-1:]
    i, kind = rng.choice(spots), rng.randrange(4)
    if kind == 0 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:
        return word[:i] + word[i + 1:]
    if kind == 2:
        return word[:i] + word[i] + word[i:]
    letter = rng.choice(_CYRILLIC.replace(word[i].lower(), ""))
    return word[:i] + (letter.upper() if word[i].isupper() else letter) + word[i + 1:]


def _latin(word: str) -> str:
    return names.translit(word).title()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", names.translit(text)).strip("-")


def _inn(rng: random.Random, region: str, length: int) -> str:
    """A valid INN: region + tax office + serial + check digits (ФНС order ММВ-7-6/435@, 2012)."""
    checks = 1 if length == 10 else 2
    serial = length - 4 - checks
    digits = [int(ch) for ch in f"{region}{rng.randrange(1, 100):02d}{rng.randrange(10 ** serial):0{serial}d}"]
    weights = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    for _ in range(checks):
        digits.append(sum(w * d for w, d in zip(weights[-len(digits):], digits, strict=True)) % 11 % 10)
    return "".join(map(str, digits))


class _Factory:
    """One generation run: its random source, every value handed out so far, and shared variations."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()  # phones, e-mails, domains, INNs and company names, kept unique

    def fresh(self, make: Callable[[int], str]) -> str:
        """`make(attempt)` until it gives a value not handed out before; `attempt` lets it widen its range."""
        attempt, value = 0, make(0)
        while value in self.used:
            attempt += 1
            value = make(attempt)
        self.used.add(value)
        return value

    def mobile(self, enum: str = "") -> Phone:
        rng, r = self.rng, self.rng.random()
        if r < 0.95:
            codes, cc = names.RU_MOBILE_CODES, "7"
        elif r < 0.98:
            codes, cc = names.KZ_MOBILE_CODES, "7"
        else:
            codes, cc = names.BY_MOBILE_CODES, "375"
        nat = self.fresh(lambda _: rng.choice(codes) + f"{rng.randrange(10_000_000):07d}")
        return cc, nat, enum or ("MOB" if rng.random() < 0.6 else "WORK"), ""

    def landline(self, code: str, enum: str = "WORK") -> Phone:
        rng = self.rng
        return "7", self.fresh(lambda _: code + str(rng.randrange(2_000_000, 10_000_000))), enum, ""

    def email(self, login: str, domain: str = "") -> str:
        """A new address `login@domain` (a free-mail domain by default), with digits added if taken."""
        domain = domain or _FREE_MAIL.pick(self.rng)
        attempt, address = 0, f"{login}@{domain}"
        # Unique as a mailbox, not as text: ya.ru and yandex.ru, or gmail's dots, are one mailbox.
        # Other generated addresses are already in normal form, and normalizing all costs ~1.5 s/318k.
        folded = domain in _FOLDED_MAIL_DOMAINS
        mailbox = (normalize_email(address) or address) if folded else address
        while mailbox in self.used:
            attempt += 1
            address = f"{login}{self.rng.randrange(1, 100 * attempt)}@{domain}"
            mailbox = (normalize_email(address) or address) if folded else address
        self.used.add(mailbox)
        return address

    def person_login(self, first: str, last: str, corporate: bool) -> str:
        rng, f = self.rng, names.translit(first)
        year = str(rng.randrange(1960, 2006))
        template = rng.choice(_CORPORATE_LOGINS if corporate else _FREE_MAIL_LOGINS)
        return template.format(f=f, i=f[0], l=names.translit(last), y=year if rng.random() < 0.5 else year[2:])

    def company_core(self) -> str:
        rng, r = self.rng, self.rng.random()
        if r < 0.45:
            core = _CORE_WORDS.pick(rng)
        elif r < 0.70:
            prefix, root = rng.choice(names.CORE_PREFIXES), rng.choice(names.CORE_ROOTS)
            core = prefix + (root.lower() if prefix == root else root)
        elif r < 0.80:
            core = f"{rng.choice(names.CORE_HEADS)}-{rng.choice(names.CORE_ROOTS)}"
        else:
            noun, form = rng.choice(names.CORE_NOUNS)
            core = f"{rng.choice(names.CORE_ADJECTIVES)[form]} {noun}"
        if rng.random() < 0.12:
            core = f"{rng.choice(names.CORE_QUALIFIERS)} {core}"
        if rng.random() < 0.20:
            core += rng.choice(names.CORE_SUFFIXES)
        return core

    def unique_core(self) -> str:
        # A few tries for a name no other company has; a huge base may still reuse one, as real ones do.
        core = self.company_core()
        for _ in range(10):
            if core not in self.used:
                break
            core = self.company_core()
        self.used.add(core)
        return core

    def domain(self, core: str, city_slug: str) -> str:
        slug = _slug(core)
        candidates = (f"{slug}.ru", f"{slug}-{city_slug}.ru", f"{slug}.com")
        return self.fresh(lambda attempt: candidates[attempt] if attempt < 3 else
                          f"{slug}{self.rng.randrange(2, 10 * attempt)}.ru")

    def v_phone_format(self, look: _Look, obj: object) -> bool:
        look.phones = [(cc, nat, enum, ext, _phone_format(self.rng, cc, fmt))
                       for cc, nat, enum, ext, fmt in look.phones]
        return bool(look.phones)

    def v_email_case(self, look: _Look, obj: object) -> bool:
        if not look.emails:
            return False
        address, enum, style = look.emails[0]
        look.emails[0] = (address, enum, self.rng.choice([s for s in _EMAIL_STYLES.items if s != style]))
        return True

    def v_phone_dropped(self, look: _Look, obj: object) -> bool:
        if len(look.phones) < 2 and not (look.phones and look.emails):
            return False
        del look.phones[0]
        return True

    def v_email_dropped(self, look: _Look, obj: object) -> bool:
        if not (look.emails and look.phones):
            return False
        look.emails = []
        return True

    def leads(self, next_id: int) -> list[dict[str, int]]:
        if self.rng.random() >= LEAD_RATE:
            return []
        count = _LEADS_PER_RECORD.pick(self.rng)
        return [{"id": next_id + i, "status_id": _LEAD_STATUS.pick(self.rng)} for i in range(count)]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic collector while generating.

    Generation allocates millions of small acyclic dicts and lists; each automatic collection
    rescans all of them, which made 318,000 contacts take 22 s instead of 9 s.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check(n: int, duplicate_rate: float) -> None:
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= duplicate_rate <= 0.5:
        raise ValueError(f"duplicate_rate must be within [0, 0.5], got {duplicate_rate}")


def _copies_per_original(rng: random.Random, n_originals: int, n_copies: int) -> list[int]:
    """How many extra copies each original gets so that they add up to `n_copies`."""
    copies = [0] * n_originals
    sizes: list[int] = []
    left = n_copies
    while left > 0:
        sizes.append(min(_EXTRA_COPIES.pick(rng), left))
        left -= sizes[-1]
    chosen = rng.sample(range(n_originals), min(len(sizes), n_originals)) if n_originals else []
    for i, size in enumerate(sizes):
        copies[chosen[i % len(chosen)]] += size
    return copies


class _Keyed(Protocol):
    """A hidden entity: its key ("person-17", "company-4") is what `truth` maps its records to."""

    @property
    def key(self) -> str: ...


_Hidden = TypeVar("_Hidden", bound=_Keyed)  # the hidden entity: _Person or _Company
_Shown = TypeVar("_Shown", bound=_Look)  # how one record shows it: _ContactLook or _CompanyLook


class _EntityFactory(Protocol[_Hidden, _Shown]):
    """What `_generate` needs of `_Contacts` and `_Companies`."""

    rng: random.Random

    def hard_negatives(self, budget: int, /) -> list[tuple[_Hidden, str]]: ...
    def original(self) -> _Hidden: ...
    def look(self, obj: _Hidden, /, *, planted: bool) -> _Shown: ...
    def copy_look(self, original: _Shown, obj: _Hidden, /) -> _Shown: ...
    def leads(self, next_id: int, /) -> list[dict[str, int]]: ...


# (record id, look, entity, created_at, updated_at, responsible user, leads) -> one amoCRM API entity
_Build = Callable[[int, _Shown, _Hidden, int, int, int, list[dict[str, int]]], dict[str, Any]]


def _generate(entity: Entity, factory: _EntityFactory[_Hidden, _Shown], n: int, duplicate_rate: float,
              build: _Build[_Shown, _Hidden], id_base: int) -> SyntheticSet:
    """Draw originals (planted hard negatives first) and their copies, and build each record as drawn."""
    rng = factory.rng
    n_copies = round(n * duplicate_rate) if n > 1 else 0
    n_originals = n - n_copies
    planted = factory.hard_negatives(min(round(n * HARD_NEGATIVE_RATE), n_originals))
    copies = _copies_per_original(rng, n_originals, n_copies)
    # Creation times are sorted up front and dealt to records in random order: ids then grow with
    # creation time, as amoCRM's do, and a record is built as soon as it is drawn (no looks kept).
    created = sorted(NOW - rng.randrange(86_400, HISTORY_SECONDS) for _ in range(n))
    ranks = list(range(n))
    rng.shuffle(ranks)
    entities: list[dict[str, Any]] = [{}] * n  # placeholders: the loop below deals every rank exactly once
    keys, hard_keys = [""] * n, [""] * n
    drawn, lead_id = 0, LEAD_ID_BASE
    for i, extra in enumerate(copies):
        obj, hard_key = planted[i] if i < len(planted) else (factory.original(), "")
        original = factory.look(obj, planted=bool(hard_key))
        for copy in range(extra + 1):
            look = factory.copy_look(original, obj) if copy else original
            rank, drawn = ranks[drawn], drawn + 1
            at = created[rank]
            updated = at if rng.random() < UNTOUCHED_RATE else at + rng.randrange(NOW - at)
            leads = factory.leads(lead_id + 1)
            lead_id += len(leads)
            entities[rank] = build(id_base + rank + 1, look, obj, at, updated, rng.choice(USER_IDS), leads)
            keys[rank], hard_keys[rank] = obj.key, "" if copy else hard_key
    truth = {str(id_base + rank + 1): key for rank, key in enumerate(keys)}
    hard = {str(id_base + rank + 1): key for rank, key in enumerate(hard_keys) if key}
    return SyntheticSet(entity, entities, truth, hard)


def _fields(phones: list[tuple[str, str]], emails: list[tuple[str, str]],
            extra: list[tuple[int, str, str | None, str, str]]) -> list[dict[str, Any]] | None:
    """amoCRM custom_fields_values: multitext PHONE / EMAIL with enums, then single-value fields."""
    fields: list[dict[str, Any]] = []
    if phones:
        fields.append({"field_id": 100001, "field_name": "Телефон", "field_code": "PHONE",
                       "field_type": "multitext", "values": [
                           {"value": v, "enum_id": _PHONE_ENUMS[e], "enum_code": e} for v, e in phones]})
    if emails:
        fields.append({"field_id": 100002, "field_name": "Email", "field_code": "EMAIL",
                       "field_type": "multitext", "values": [
                           {"value": v, "enum_id": _EMAIL_ENUMS[e], "enum_code": e} for v, e in emails]})
    for field_id, field_name, code, kind, value in extra:
        fields.append({"field_id": field_id, "field_name": field_name, "field_code": code,
                       "field_type": kind, "values": [{"value": value}]})
    return fields or None


def _junk(rng: random.Random, look: _Look) -> None:
    if rng.random() < JUNK_FIELD_RATE:
        if rng.random() < 0.5:
            look.junk_phone = rng.choice(names.JUNK_PHONES)
        else:
            look.junk_email = rng.choice(names.JUNK_EMAILS)


def _rendered_phones(look: _Look) -> list[tuple[str, str]]:
    values = [(_phone_text(cc, nat, fmt) + ext, enum) for cc, nat, enum, ext, fmt in look.phones]
    if look.junk_phone is not None:
        values.append((look.junk_phone, "WORK"))
    return values


def _rendered_emails(look: _Look) -> list[tuple[str, str]]:
    values = [(_email_text(address, style), enum) for address, enum, style in look.emails]
    if look.junk_email is not None:
        values.append((look.junk_email, "WORK"))
    return values


# --- contacts -------------------------------------------------------------------------------------

class _Person:
    __slots__ = ("company", "emails", "first", "formal", "key", "last", "patronymic", "phones", "position", "web")

    def __init__(self, key: str, first: str, patronymic: str, last: str) -> None:
        self.key, self.first, self.patronymic, self.last = key, first, patronymic, last
        self.formal = False  # every record of this person shows the patronymic
        self.phones: list[Phone] = []
        self.emails: list[tuple[str, str]] = []  # address, enum code
        self.company: int | None = None
        self.position: str | None = None
        self.web: str | None = None


class _ContactLook:
    """How one record writes its person: name form, which phones and e-mails and how they are spelled."""

    __slots__ = ("autoname", "case", "company", "emails", "first", "initials", "junk_email", "junk_name",
                 "junk_phone", "last", "latin", "order", "patronymic", "phones", "position", "web", "yo")

    # Set by _Contacts.look, changed by the variations; no __init__, as copy() fills every slot itself.
    first: str  # as written: may be a diminutive or carry a typo
    last: str
    patronymic: bool  # shown or not (the person's own is on _Person)
    order: Literal["lf", "fl", "f"]  # last-first, first-last, first name only
    latin: bool
    initials: bool
    yo: bool  # ё written as е
    case: Literal["", "upper", "lower"]  # a str method applied to the whole name, or none
    autoname: str | None  # "Новый контакт по звонку с …" in place of the name
    junk_name: str | None
    phones: list[ShownPhone]
    emails: list[ShownEmail]
    junk_phone: str | None
    junk_email: str | None
    company: int | None
    position: str | None
    web: str | None

    def copy(self) -> _ContactLook:
        twin = _ContactLook()
        for slot in self.__slots__:
            setattr(twin, slot, getattr(self, slot))
        twin.phones, twin.emails = list(self.phones), list(self.emails)
        return twin


def _contact_names(look: _ContactLook, p: _Person) -> tuple[str, str, str]:
    """(name, first_name, last_name) as amoCRM stores them; auto-names and junk sit in first_name."""
    if look.junk_name is not None:
        return look.junk_name, look.junk_name, ""
    if look.autoname is not None:
        return look.autoname, look.autoname, ""
    first, last, patronymic = look.first, look.last, p.patronymic if look.patronymic else ""
    if look.latin:
        first, last, patronymic = _latin(first), _latin(last), ""
    if look.initials:
        given = first[0] + "." + (patronymic[0] + "." if patronymic else "")
    else:
        given = f"{first} {patronymic}" if patronymic else first
    if look.order == "lf":
        name = f"{last} {given}"
    elif look.order == "fl":
        name = f"{given} {last}"
    else:
        name, last = given, ""
    if look.yo:  # people often type е for ё
        name, given, last = (s.replace("ё", "е").replace("Ё", "Е") for s in (name, given, last))
    if look.case:
        name, given, last = (getattr(s, look.case)() for s in (name, given, last))
    return name, given, last


class _Contacts(_Factory):
    """Persons, their records and the variations that make copies of one person differ."""

    def __init__(self, rng: random.Random, n: int, relatives: bool = False) -> None:
        super().__init__(rng)
        self.persons = 0
        self.relatives = relatives
        self.employers = [(COMPANY_ID_BASE + i + 1, self.domain(self.unique_core(), "msk"))
                          for i in range(max(5, n // 30))]

    def person(self, *, gender: str = "", first: str = "", surname: str = "", father: str = "") -> _Person:
        rng = self.rng
        gender = gender or ("m" if rng.random() < 0.5 else "f")
        first = first or (_MALE if gender == "m" else _FEMALE).pick(rng)
        patronymic = names.patronymic(father or _MALE.pick(rng), gender)
        self.persons += 1
        return _Person(f"person-{self.persons}", first, patronymic,
                       names.surname_form(surname or _SURNAMES.pick(rng), gender))

    def original(self) -> _Person:
        rng, p = self.rng, self.person()
        r = rng.random()  # [none | phone only | both | e-mail only] laid out along [0, 1)
        has_phone = NO_CONTACT_INFO_RATE <= r < 1 - EMAIL_ONLY_RATE
        has_email = r >= NO_CONTACT_INFO_RATE + PHONE_ONLY_RATE
        domain = None
        if rng.random() < EMPLOYER_RATE:
            p.company, domain = rng.choice(self.employers)
            p.web = f"https://{domain}/" if rng.random() < CONTACT_WEB_RATE / EMPLOYER_RATE else None
        if has_phone:
            p.phones.append(self.mobile() if rng.random() < 0.95 else
                            self.landline(rng.choice(names.RU_LANDLINE_CODES), "HOME"))
            if rng.random() < SECOND_PHONE_RATE:
                second = self.landline(rng.choice(names.RU_LANDLINE_CODES)) if domain else self.mobile()
                p.phones.append(second)
        if has_email:
            self.own_email(p, corporate=domain if rng.random() < CORPORATE_EMAIL_RATE else None)
        if rng.random() < POSITION_RATE:
            p.position = rng.choice(names.POSITIONS)
        return p

    def own_email(self, p: _Person, corporate: str | None = None) -> None:
        login = self.person_login(p.first, p.last, corporate is not None)
        enum = "WORK" if corporate or self.rng.random() < 0.5 else "PRIV"
        p.emails.append((self.email(login, corporate or ""), enum))

    # Hard negatives: different people who share one thing (design.md, "signals such as how many
    # distinct people share an email or phone").
    def hard_negatives(self, budget: int) -> list[tuple[_Person, str]]:
        kinds: tuple[tuple[Callable[[int, int], list[tuple[_Person, str]]], int, int], ...] = (
            (self.hn_shared_email, 5, 15), (self.hn_office_phone, 3, 10), (self.hn_namesakes, 2, 3),
            (self.hn_family, 2, 4))
        if self.relatives:
            kinds += ((self.hn_relatives, 2, 2),)
        planted: list[tuple[_Person, str]] = []
        cluster = 0
        while budget - len(planted) >= 2:
            make, lo, hi = kinds[cluster % len(kinds)]
            cluster += 1
            size = min(self.rng.randint(lo, hi), budget - len(planted))
            planted.extend(make(size, cluster))
        return planted

    def hn_shared_email(self, size: int, cluster: int) -> list[tuple[_Person, str]]:
        rng = self.rng
        if rng.random() < 0.4:  # teachers of one school write the school's mailbox
            school = rng.choice(("edu.ru", "yandex.ru", "mail.ru"))
            address = self.fresh(lambda attempt: f"school{rng.randrange(1, 300 + 10 * attempt)}@{school}")
            company, positions = None, names.SCHOOL_POSITIONS
        else:
            company, domain = rng.choice(self.employers)
            box = rng.choice(names.SHARED_MAILBOXES)
            address = self.fresh(lambda attempt: f"{box}{attempt or ''}@{domain}")
            positions = names.POSITIONS
        people = []
        for _ in range(size):
            p = self.person()
            p.emails.append((address, "WORK"))
            if rng.random() < 0.25:
                self.own_email(p)
            if rng.random() < 0.7:
                p.phones.append(self.mobile())
            p.company, p.position = company, rng.choice(positions)
            people.append((p, f"email:{address}"))
        return people

    def hn_office_phone(self, size: int, cluster: int) -> list[tuple[_Person, str]]:
        rng = self.rng
        office = self.landline(rng.choice(names.RU_LANDLINE_CODES))
        company, domain = rng.choice(self.employers)
        people = []
        for _ in range(size):
            p = self.person()
            ext = f" доб. {rng.randrange(100, 1000)}" if rng.random() < 0.3 else ""
            p.phones.append((*office[:3], ext))
            if rng.random() < 0.4:
                p.phones.append(self.mobile())
            if rng.random() < 0.8:
                self.own_email(p, corporate=domain if rng.random() < 0.5 else None)
            p.company, p.position = company, rng.choice(names.POSITIONS)
            people.append((p, f"phone:office{cluster}"))
        return people

    def hn_namesakes(self, size: int, cluster: int) -> list[tuple[_Person, str]]:
        rng = self.rng
        gender = "m" if rng.random() < 0.5 else "f"
        first = rng.choice((names.MALE_FIRST_NAMES if gender == "m" else names.FEMALE_FIRST_NAMES)[:10])
        surname, father = rng.choice(names.SURNAMES[:20]), _MALE.pick(rng)
        people = []
        for _ in range(size):
            p = self.person(gender=gender, first=first, surname=surname,
                            father=father if rng.random() < 0.5 else "")
            p.phones.append(self.mobile())
            self.own_email(p)
            people.append((p, f"name:{_slug(p.last)}-{_slug(first)}-{cluster}"))
        return people

    def hn_family(self, size: int, cluster: int) -> list[tuple[_Person, str]]:
        rng = self.rng
        surname = _SURNAMES.pick(rng)
        home = self.landline(rng.choice(names.RU_LANDLINE_CODES), "HOME") if rng.random() < 0.5 else \
            self.mobile("HOME")
        father = self.person(gender="m", surname=surname)
        family = [father, self.person(gender="f", surname=surname)]
        while len(family) < size:
            child = self.person(surname=surname, father=father.first)
            if all(child.first != member.first for member in family):
                family.append(child)
        for p in family[:size]:
            p.phones.append(home)
            if rng.random() < 0.5:
                p.phones.append(self.mobile())
            if rng.random() < 0.5:
                self.own_email(p)
        return [(p, f"family:{_slug(surname)}-{cluster}") for p in family[:size]]

    def hn_relatives(self, size: int, cluster: int) -> list[tuple[_Person, str]]:
        """Father and son (or mother and daughter) of one name on one home phone, told apart by the patronymic.

        Clinics, schools and banks keep full names, so both records show it. The shipped model has
        never seen such pairs (only `generate_contacts(relatives=True)` plants them): one name and
        one phone outweigh a differing patronymic, which is what reviewers must teach it.
        """
        rng = self.rng
        gender = "m" if rng.random() < 0.5 else "f"
        surname = _SURNAMES.pick(rng)
        home = self.landline(rng.choice(names.RU_LANDLINE_CODES), "HOME") if rng.random() < 0.6 else \
            self.mobile("HOME")
        elder = self.person(gender=gender, surname=surname)
        father = elder.first if gender == "m" else ""
        younger = self.person(gender=gender, first=elder.first, surname=surname, father=father)
        while younger.patronymic == elder.patronymic:
            younger = self.person(gender=gender, first=elder.first, surname=surname)
        people = [elder, younger][:size]
        for p in people:
            p.formal = True
            p.phones.append(home)
            if rng.random() < 0.4:
                p.phones.append(self.mobile())
            if rng.random() < 0.3:
                self.own_email(p)
        return [(p, f"relatives:{_slug(surname)}-{_slug(elder.first)}-{cluster}") for p in people]

    def look(self, p: _Person, *, planted: bool) -> _ContactLook:
        rng, look = self.rng, _ContactLook()
        look.first, look.last, look.latin, look.initials, look.autoname, look.junk_name = \
            p.first, p.last, False, False, None, None
        r = rng.random()
        look.order = "lf" if r < 0.45 else "fl" if r < 0.90 or planted else "f"
        look.patronymic = p.formal or rng.random() < 0.2
        look.yo = "ё" in p.first + p.last + p.patronymic and rng.random() < 0.3
        r = rng.random()
        look.case = "upper" if r < 0.02 else "lower" if r < 0.03 else ""
        look.phones = [(cc, nat, enum, ext, _phone_format(rng, cc)) for cc, nat, enum, ext in p.phones]
        look.emails = [(address, enum, _EMAIL_STYLES.pick(rng)) for address, enum in p.emails]
        look.company, look.position, look.web, look.junk_phone, look.junk_email = \
            p.company, p.position, p.web, None, None
        r = rng.random()
        if not planted and r < JUNK_NAME_RATE:
            look.junk_name = rng.choice(names.JUNK_NAMES)
        elif not planted and r < JUNK_NAME_RATE + AUTONAME_ORIGINAL_RATE:
            rng.choice((self.v_autoname_call, self.v_autoname_form, self.v_autoname_site))(look, p)
        _junk(rng, look)
        return look

    def copy_look(self, original: _ContactLook, p: _Person) -> _ContactLook:
        look, wanted = original.copy(), _VARIATIONS.pick(self.rng)
        look.junk_phone = look.junk_email = None
        for _ in range(8):  # not every variation applies to every look; a few retries find enough
            if wanted and self.variations.pick(self.rng)(self, look, p):
                wanted -= 1
        _junk(self.rng, look)
        return look

    # Variations: each returns whether it changed the look.
    def _named(self, look: _ContactLook) -> bool:
        return look.autoname is None and look.junk_name is None and not look.latin and not look.initials

    def v_name_order(self, look: _ContactLook, p: _Person) -> bool:
        if not self._named(look) or look.order == "f":
            return False
        look.order = "fl" if look.order == "lf" else "lf"
        return True

    def v_patronymic(self, look: _ContactLook, p: _Person) -> bool:
        if not self._named(look) or look.first != p.first:
            return False
        look.patronymic = not look.patronymic
        return True

    def v_diminutive(self, look: _ContactLook, p: _Person) -> bool:
        if not self._named(look) or look.first != p.first or p.first not in names.DIMINUTIVES:
            return False
        look.first, look.patronymic = self.rng.choice(names.DIMINUTIVES[p.first]), False
        return True

    def v_yo(self, look: _ContactLook, p: _Person) -> bool:
        if look.autoname is not None or "ё" not in look.first + look.last + p.patronymic:
            return False
        look.yo = not look.yo
        return True

    def v_case(self, look: _ContactLook, p: _Person) -> bool:
        look.case = "" if look.case else ("upper" if self.rng.random() < 0.8 else "lower")
        return look.autoname is None and look.junk_name is None

    def v_typo(self, look: _ContactLook, p: _Person) -> bool:
        if not self._named(look):
            return False
        if look.order == "f":
            look.first = _typo(self.rng, look.first)
        else:
            look.last = _typo(self.rng, look.last)
        return True

    def v_latin(self, look: _ContactLook, p: _Person) -> bool:
        if not self._named(look):
            return False
        look.latin, look.patronymic, look.yo = True, False, False
        return True

    def v_initials(self, look: _ContactLook, p: _Person) -> bool:
        if not self._named(look) or look.order == "f" or look.first != p.first:
            return False
        look.initials = True
        return True

    def v_phone_added(self, look: _ContactLook, p: _Person) -> bool:
        cc, nat, enum, ext = self.mobile()
        look.phones.append((cc, nat, enum, ext, _phone_format(self.rng, cc)))
        return True

    def v_phone_only(self, look: _ContactLook, p: _Person) -> bool:
        if not look.phones:
            return False
        look.emails, look.company, look.position, look.web = [], None, None, None
        return True

    def v_autoname_call(self, look: _ContactLook, p: _Person) -> bool:
        if not p.phones or look.junk_name is not None:
            return False
        cc, nat = p.phones[0][:2]
        provider = self.rng.choice(names.TELEPHONY_PROVIDERS)
        look.autoname = f"Новый контакт по звонку с +{cc}{nat} из {provider}"
        look.phones = [(cc, nat, "WORK", "", "+7{n}" if cc == "7" else "+375{n}")]
        look.emails, look.company, look.position, look.web = [], None, None, None
        return True

    def v_autoname_form(self, look: _ContactLook, p: _Person) -> bool:
        if not (look.phones or look.emails) or look.junk_name is not None:
            return False
        look.autoname = f"Заявка от «{look.first}»"
        if look.phones and look.emails and self.rng.random() < 0.5:
            if self.rng.random() < 0.5:
                look.phones = []
            else:
                look.emails = []
        look.company, look.position, look.web = None, None, None
        return True

    def v_autoname_site(self, look: _ContactLook, p: _Person) -> bool:
        if not p.emails or look.junk_name is not None:
            return False
        address, enum = p.emails[0]
        look.autoname = f"Новый контакт «{address}» по заявке с сайта"
        look.emails = [(address, enum, "")]
        if self.rng.random() < 0.7:
            look.phones = []
        look.company, look.position, look.web = None, None, None
        return True

    # What a copy changes, by weight: a phone spelled another way is the commonest difference.
    variations = _Weighted(
        (_Factory.v_phone_format, v_name_order, v_patronymic, v_diminutive, v_yo, v_case, v_typo, v_latin,
         v_initials, _Factory.v_email_case, v_phone_added, _Factory.v_phone_dropped, _Factory.v_email_dropped,
         v_phone_only, v_autoname_call, v_autoname_form, v_autoname_site),
        (18, 10, 6, 8, 3, 5, 8, 4, 4, 6, 5, 5, 6, 4, 4, 3, 2),
    )


def _contact_entity(record_id: int, look: _ContactLook, p: _Person, at: int, updated: int, user: int,
                    leads: list[dict[str, int]]) -> dict[str, Any]:
    name, first_name, last_name = _contact_names(look, p)
    creator = 0 if look.autoname else user  # integrations create records as user 0
    extra: list[tuple[int, str, str | None, str, str]] = []
    if look.position:
        extra.append((100003, "Должность", "POSITION", "text", look.position))
    if look.web:
        extra.append((100004, "Web", "WEB", "url", look.web))
    return {  # keys in the order GET /api/v4/contacts returns them
        "id": record_id, "name": name, "first_name": first_name, "last_name": last_name,
        "responsible_user_id": user, "group_id": 0, "created_by": creator,
        "updated_by": creator if updated == at else user, "created_at": at, "updated_at": updated,
        "closest_task_at": None, "is_deleted": False, "is_unsorted": False, "account_id": ACCOUNT_ID,
        "custom_fields_values": _fields(_rendered_phones(look), _rendered_emails(look), extra),
        "_links": {"self": {"href": f"https://example.amocrm.ru/api/v4/contacts/{record_id}"}},
        "_embedded": {"tags": [], "companies": [{"id": look.company}] if look.company else [],
                      "leads": leads},
    }


def generate_contacts(n: int, *, seed: int = 1, duplicate_rate: float = DUPLICATE_RATE,
                      relatives: bool = False) -> SyntheticSet:
    """`n` amoCRM contacts; about `duplicate_rate` of them are extra copies of a person already present.

    `relatives` also plants namesake relatives ("relatives:" clusters, see `_Contacts.hn_relatives`):
    a kind of hard negative the shipped model gets wrong, for measuring what reviewers teach it.
    """
    _check(n, duplicate_rate)
    with _gc_paused():
        return _generate("contact", _Contacts(random.Random(seed), n, relatives), n, duplicate_rate, _contact_entity,
                         CONTACT_ID_BASE)


# --- companies ------------------------------------------------------------------------------------

class _Company:
    __slots__ = ("address", "core", "domain", "emails", "form", "inn", "key", "person", "phones", "style")

    def __init__(self, key: str, form: str, core: str) -> None:
        self.key, self.form, self.core = key, form, core
        self.person: tuple[str, str, str] = ("", "", "")  # an ИП's surname, first name, patronymic
        self.inn = self.domain = self.address = ""
        self.phones: list[Phone] = []
        self.emails: list[tuple[str, str]] = []
        self.style: str | None = None  # planted hard negatives share one way of writing the name


class _CompanyLook:
    """How one record writes its company: name style, INN, website form, phones, e-mails."""

    __slots__ = ("address", "core", "emails", "inn", "junk_email", "junk_phone", "phones", "style", "web")

    # Set by _Companies.look, changed by the variations; no __init__, as copy() fills every slot itself.
    core: str  # as written: may carry a typo
    style: str  # one of _COMPANY_STYLES or _IP_STYLES, read by _company_name
    inn: bool  # shown or not
    address: bool  # shown or not
    web: str | None
    phones: list[ShownPhone]
    emails: list[ShownEmail]
    junk_phone: str | None
    junk_email: str | None

    def copy(self) -> _CompanyLook:
        twin = _CompanyLook()
        for slot in self.__slots__:
            setattr(twin, slot, getattr(self, slot))
        twin.phones, twin.emails = list(self.phones), list(self.emails)
        return twin


def _company_name(look: _CompanyLook, c: _Company) -> str:
    """The company's name in `look.style`: "ООО «Ромашка»", "Ромашка, ООО", "OOO Romashka", "ромашка"..."""
    short, full, latin = _FORMS[c.form]
    core, style = look.core, look.style
    if c.form == "ИП" and style in ("initials", "surname", "latin"):
        last, first, patronymic = c.person
        if style == "initials":
            return f"ИП {last} {first[0]}.{patronymic[0]}."
        return f"ИП {last}" if style == "surname" else f"IP {_latin(last)} {_latin(first)}"
    quoted = core if c.form == "ИП" else f"«{core}»"  # an ИП is named by its owner, without quotes
    if style == "dquoted":
        return f'{short} "{core}"' if c.form != "ИП" else f"{short} {core}"
    if style == "comma":
        return f"{core}, {short}"
    if style == "plain":
        return f"{short} {core}"
    if style == "bare":
        return core
    if style == "full":
        return f"{full} {quoted}"
    if style == "latin":
        return f"{latin} {_latin(core)}"
    if style == "lower":
        return core.lower()
    if style == "upper":
        return f"{short} {quoted.upper()}"
    return f"{short} {quoted}"


class _Companies(_Factory):
    """Companies, their records and the variations that make copies of one company differ."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.count = 0

    def company(self, *, core: str = "", form: str = "", city: names.City | tuple[()] = (),
                freemail: str = "") -> _Company:
        rng = self.rng
        form, city = form or _FORM_PICK.pick(rng), city or _CITIES.pick(rng)
        self.count += 1
        c = _Company(f"company-{self.count}", form, core)
        if form == "ИП":
            gender = "m" if rng.random() < 0.7 else "f"
            first = (_MALE if gender == "m" else _FEMALE).pick(rng)
            c.person = (names.surname_form(_SURNAMES.pick(rng), gender), first,
                        names.patronymic(_MALE.pick(rng), gender))
            c.core = " ".join(c.person)
        elif not core:
            c.core = self.unique_core()
        c.inn = self.fresh(lambda _: _inn(rng, city[1], 12 if form == "ИП" else 10))
        c.address = f"г. {city[0]}, {rng.choice(names.STREETS)}, д. {rng.randrange(1, 150)}"
        if rng.random() < 0.4:
            c.address += f", оф. {rng.randrange(1, 500)}"
        domain_rate = COMPANY_DOMAIN_RATE / (3 if form == "ИП" else 1)
        if not freemail and rng.random() < domain_rate:
            c.domain = self.domain(c.person[0] if form == "ИП" else c.core, city[3])
        if rng.random() < NO_CONTACT_INFO_RATE:
            return c
        if form == "ИП" and rng.random() < 0.8:
            c.phones.append(self.mobile("MOB"))
        else:
            c.phones.append(self.landline(rng.choice(city[2])))
            if rng.random() < 0.1:
                c.phones.append(self.landline(rng.choice(city[2]), rng.choice(("FAX", "WORKDD"))))
        if rng.random() < 0.25:
            c.phones.append(self.mobile())
        if c.domain:
            c.emails.append((self.email(rng.choice(("info", "info", "office", "sales")), c.domain), "WORK"))
        elif freemail or rng.random() < 0.8:
            slug = _slug(c.core)
            login = self.person_login(c.person[1], c.person[0], corporate=False) if form == "ИП" else \
                rng.choice((slug, f"{slug}-{city[3]}", f"{_FORMS[form][2].lower()}.{slug}"))
            c.emails.append((self.email(login, freemail), "WORK"))
        return c

    # Hard negatives: different companies that a name- or domain-only matcher would join.
    def hard_negatives(self, budget: int) -> list[tuple[_Company, str]]:
        kinds = ((self.hn_cities, 2, 4), (self.hn_legal_forms, 2, 3), (self.hn_freemail, 3, 6))
        planted: list[tuple[_Company, str]] = []
        cluster = 0
        while budget - len(planted) >= 2:
            make, lo, hi = kinds[cluster % len(kinds)]
            cluster += 1
            planted.extend(make(min(self.rng.randint(lo, hi), budget - len(planted)), cluster))
        return planted

    def hn_cities(self, size: int, cluster: int) -> list[tuple[_Company, str]]:
        """One name core in different cities: different INN region, phone codes, domains."""
        core, style = self.unique_core(), self.rng.choice(("quoted", "bare", "plain"))
        form = "ООО" if self.rng.random() < 0.8 else "АО"
        companies = [self.company(core=core, form=form, city=city)
                     for city in self.rng.sample(names.CITIES, size)]
        for c in companies:
            c.style = style
        return [(c, f"company:{_slug(core)}-{cluster}") for c in companies]

    def hn_legal_forms(self, size: int, cluster: int) -> list[tuple[_Company, str]]:
        """Namesakes with different legal forms and INNs ("ООО «Вектор»" and "АО «Вектор»")."""
        core, style = self.unique_core(), self.rng.choice(("quoted", "comma", "plain", "dquoted"))
        city = _CITIES.pick(self.rng) if self.rng.random() < 0.5 else ()
        companies = [self.company(core=core, form=form, city=city)
                     for form in self.rng.sample(("ООО", "АО", "ЗАО", "ПАО", "АНО"), size)]
        for c in companies:
            c.style = style
        return [(c, f"legal:{_slug(core)}-{cluster}") for c in companies]

    def hn_freemail(self, size: int, cluster: int) -> list[tuple[_Company, str]]:
        """Unrelated companies whose only e-mail is on one free-mail domain."""
        domain = _FREE_MAIL.pick(self.rng)
        companies = []
        for _ in range(size):
            c = self.company(form=self.rng.choice(("ООО", "ООО", "ИП")), freemail=domain)
            if not c.emails:  # the 5% without any phone or e-mail still need the shared domain here
                c.emails.append((self.email(_slug(c.core), domain), "WORK"))
            companies.append(c)
        return [(c, f"freemail:{domain}-{cluster}") for c in companies]

    def original(self) -> _Company:
        return self.company()

    def look(self, c: _Company, *, planted: bool) -> _CompanyLook:  # planted ones carry their style
        rng, look = self.rng, _CompanyLook()
        look.core, look.style = c.core, c.style or self.style(c)
        look.inn = rng.random() < COMPANY_INN_RATE
        look.web = _WEB_FORMS.pick(rng).format(d=c.domain) if c.domain and rng.random() < 0.85 else None
        look.address = rng.random() < COMPANY_ADDRESS_RATE
        look.phones = [(cc, nat, enum, ext, _phone_format(rng, cc)) for cc, nat, enum, ext in c.phones]
        look.emails = [(address, enum, _EMAIL_STYLES.pick(rng)) for address, enum in c.emails]
        look.junk_phone = look.junk_email = None
        _junk(rng, look)
        return look

    def style(self, c: _Company, other_than: str = "") -> str:
        style = other_than
        while style == other_than:
            is_ip_only = c.form == "ИП" and self.rng.random() < 0.25
            style = self.rng.choice(_IP_STYLES) if is_ip_only else _COMPANY_STYLES.pick(self.rng)
        return style

    def copy_look(self, original: _CompanyLook, c: _Company) -> _CompanyLook:
        look, wanted = original.copy(), _VARIATIONS.pick(self.rng)
        look.junk_phone = look.junk_email = None
        for _ in range(8):
            if wanted and self.variations.pick(self.rng)(self, look, c):
                wanted -= 1
        _junk(self.rng, look)
        return look

    def v_style(self, look: _CompanyLook, c: _Company) -> bool:
        look.style = self.style(c, look.style)
        return True

    def v_typo(self, look: _CompanyLook, c: _Company) -> bool:
        look.core = _typo(self.rng, look.core)
        return True

    def v_inn_missing(self, look: _CompanyLook, c: _Company) -> bool:
        changed, look.inn = look.inn, False
        return changed

    def v_web_missing(self, look: _CompanyLook, c: _Company) -> bool:
        changed, look.web = look.web is not None, None
        return changed

    def v_web_variant(self, look: _CompanyLook, c: _Company) -> bool:
        if not c.domain:
            return False
        web = look.web
        while web == look.web:
            web = _WEB_FORMS.pick(self.rng).format(d=c.domain)
        look.web = web
        return True

    def v_phone_added(self, look: _CompanyLook, c: _Company) -> bool:
        cc, nat, enum, ext = self.mobile()
        look.phones.append((cc, nat, enum, ext, _phone_format(self.rng, cc)))
        return True

    def v_address(self, look: _CompanyLook, c: _Company) -> bool:
        look.address = not look.address
        return True

    variations = _Weighted(
        (v_style, v_typo, _Factory.v_phone_format, v_inn_missing, v_web_missing, v_web_variant,
         _Factory.v_email_dropped, _Factory.v_email_case, v_phone_added, _Factory.v_phone_dropped, v_address),
        (25, 6, 14, 10, 8, 10, 6, 4, 4, 5, 3),
    )


def _company_entity(record_id: int, look: _CompanyLook, c: _Company, at: int, updated: int, user: int,
                    leads: list[dict[str, int]]) -> dict[str, Any]:
    extra: list[tuple[int, str, str | None, str, str]] = []
    if look.web:
        extra.append((100004, "Web", "WEB", "url", look.web))
    if look.address:
        extra.append((100005, "Адрес", "ADDRESS", "textarea", c.address))
    if look.inn:  # an account's own field: no field_code, found by its name (README of the samples)
        extra.append((600001, "ИНН", None, "text", c.inn))
    return {  # keys in the order GET /api/v4/companies returns them
        "id": record_id, "name": _company_name(look, c), "responsible_user_id": user, "group_id": 0,
        "created_by": user, "updated_by": user,
        "created_at": at, "updated_at": updated, "closest_task_at": None, "is_deleted": False,
        "account_id": ACCOUNT_ID,
        "custom_fields_values": _fields(_rendered_phones(look), _rendered_emails(look), extra),
        "_links": {"self": {"href": f"https://example.amocrm.ru/api/v4/companies/{record_id}"}},
        "_embedded": {"tags": [], "contacts": [], "leads": leads},
    }


def generate_companies(n: int, *, seed: int = 1, duplicate_rate: float = DUPLICATE_RATE) -> SyntheticSet:
    """`n` amoCRM companies; about `duplicate_rate` of them are extra copies of a company already present."""
    _check(n, duplicate_rate)
    with _gc_paused():
        return _generate("company", _Companies(random.Random(seed)), n, duplicate_rate, _company_entity,
                         COMPANY_ID_BASE)


# --- files ----------------------------------------------------------------------------------------

def write_set(s: SyntheticSet, out_dir: Path) -> tuple[Path, Path]:
    """Write `contacts.json` / `companies.json` (an amoCRM page) and `<same>_truth.csv`; return both paths."""
    plural = _PLURAL[s.entity]
    out_dir.mkdir(parents=True, exist_ok=True)
    page, truth = out_dir / f"{plural}.json", out_dir / f"{plural}_truth.csv"
    encode = json.JSONEncoder(ensure_ascii=False).encode
    with page.open("w", encoding="utf-8") as f:  # the same text as json.dump, a third of its time at 318k
        f.write(f'{{"_embedded": {{"{plural}": [')
        for start in range(0, len(s.entities), _WRITE_CHUNK):
            f.write((", " if start else "") + ", ".join(map(encode, s.entities[start:start + _WRITE_CHUNK])))
        f.write("]}}")
    with truth.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("record_id", "entity_key", "hard_negative"))
        writer.writerows((rid, key, s.hard_negatives.get(rid, "")) for rid, key in s.truth.items())
    return page, truth


class SyntheticGenerator(Protocol):
    """`generate_contacts` or `generate_companies` called with the arguments both take."""

    def __call__(self, n: int, *, seed: int = ..., duplicate_rate: float = ...) -> SyntheticSet: ...


GENERATORS: dict[Entity, SyntheticGenerator] = {
    "contact": generate_contacts, "company": generate_companies,
}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m training.synthetic --entity contact --n 20000 --seed 1 --out DIR`."""
    parser = argparse.ArgumentParser(prog="python -m training.synthetic", description=__doc__.splitlines()[0])
    parser.add_argument("--entity", choices=tuple(GENERATORS), default="contact")
    parser.add_argument("--n", type=int, default=20_000, help="number of records (default 20000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duplicate-rate", type=float, default=DUPLICATE_RATE)
    parser.add_argument("--out", type=Path, required=True, help="directory for the page and the truth CSV")
    args = parser.parse_args(argv)
    try:
        generated = GENERATORS[args.entity](args.n, seed=args.seed, duplicate_rate=args.duplicate_rate)
    except ValueError as exc:
        parser.error(str(exc))
    for path in write_set(generated, args.out):
        sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
