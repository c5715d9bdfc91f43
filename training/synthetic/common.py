"""What both synthetic generators share: rates, random tables, value helpers, the factory base, the record loop."""

from __future__ import annotations

import gc
import random
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
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

