"""A second generator of amoCRM-shaped contacts and companies, for measuring like an outsider (issue 14).

The default models are trained and tuned on `training/synthetic` (seeds 11 and 23; bench seed 1001).
This module is a separate code path with other mixes of duplicate kinds and traps, and kinds that
generator lacks:

- companies: branches of one holding ("Ромашка-Север" / "Ромашка-Юг", and the head office "Ромашка")
  and group members ("ГК Ромашка" / "Ромашка Логистик") sharing the head office's phone, site and mail
  domain; firms in one business centre sharing its reception phone; sibling sites whose names differ
  by a number or a place word; one name in two cities with two INNs;
- contacts: the same full name at one company with a new phone and no email (the same person);
  namesakes at large companies (different people); a department mailbox several people share; a
  family on one home phone (Гусев / Гусева); colleagues on one office line.

`truth` maps record id -> hidden entity key; `hard_negatives` maps record id -> "<kind>:<cluster>", the
records of one cluster being different entities that share what the kind names. Tune on
`TUNING_SEEDS` only; `REPORTED_SEED` gives the reported figure (bench/bench_heldout.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from training import synthetic_names as names
from training.synthetic.common import Entity, SyntheticSet

TUNING_SEEDS: tuple[int, ...] = tuple(range(500, 510))
REPORTED_SEED = 90417

_CONTACT_ID0, _COMPANY_ID0, _FIRM_ID0 = 40_000_000, 60_000_000, 80_000_000
_NOW = 1_764_547_200  # 2025-12-01 UTC, fixed: output never depends on the clock
_PLACES = ("Север", "Юг", "Запад", "Восток", "Центр", "Казань", "Самара", "Пермь", "Тула", "Уфа", "Омск")
_GROUP_WORDS = ("Логистик", "Трейд", "Девелопмент", "Строй", "Сервис", "Агро", "Финанс", "Медиа", "Проект")
_SITE_KINDS = ("Автосервис", "Автомойка", "Клиника", "Аптека", "Салон", "Магазин", "Кафе", "Склад")
_FORMS = ("ООО", "АО", "ПАО", "ЗАО")
_CITY_CODES = ("495", "499", "812", "343", "383", "843", "846", "342", "863", "861")
_MOBILE_CODES = ("900", "901", "903", "905", "906", "909", "915", "916", "917", "925", "926", "950", "977", "985")
_FREE_MAIL = ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "list.ru", "inbox.ru", "rambler.ru")
_DEPARTMENTS = ("sales", "info", "office", "zakaz", "buh", "hr", "snab")


def _inn(rng: random.Random) -> str:
    """A 10-digit legal entity INN with a valid check digit."""
    digits = [rng.randrange(1, 10)] + [rng.randrange(10) for _ in range(8)]
    check = sum(w * d for w, d in zip((2, 4, 10, 3, 5, 9, 4, 6, 8), digits, strict=True)) % 11 % 10
    return "".join(map(str, digits)) + str(check)


def _phone_text(rng: random.Random, nat: str) -> str:
    a, b, c, d = nat[:3], nat[3:6], nat[6:8], nat[8:]
    return rng.choice((f"+7{nat}", f"8 ({a}) {b}-{c}-{d}", f"+7 {a} {b} {c} {d}", f"8{nat}", f"7-{a}-{b}-{c}{d}",
                       f"+7({a}){b}{c}{d}"))


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 5:
        return word
    i = rng.randrange(1, len(word) - 2)
    kind = rng.randrange(3)
    if kind == 0:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == 1:  # a letter dropped
        return word[:i] + word[i + 1:]
    return word[:i] + word[i] + word[i:]  # a letter doubled


class _Values:
    """Unique phones, emails, INNs and domains of one run."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set[str]()

    def fresh(self, make: Callable[[], str]) -> str:
        value = make()
        while value in self.used:
            value = make()
        self.used.add(value)
        return value

    def mobile(self) -> str:
        return self.fresh(lambda: self.rng.choice(_MOBILE_CODES) + f"{self.rng.randrange(10_000_000):07d}")

    def landline(self) -> str:
        return self.fresh(lambda: self.rng.choice(_CITY_CODES) + f"{self.rng.randrange(2_000_000, 10_000_000)}")

    def inn(self) -> str:
        return self.fresh(lambda: _inn(self.rng))

    def domain(self, core: str) -> str:
        slug = "".join(ch for ch in names.translit(core) if ch.isalnum())[:20] or "firm"
        return self.fresh(lambda: slug + (str(self.rng.randrange(2, 99)) if slug + ".ru" in self.used else "") + ".ru")

    def email(self, login: str, domain: str) -> str:
        return self.fresh(lambda: login + (str(self.rng.randrange(1, 999)) if f"{login}@{domain}" in self.used
                                          else "") + "@" + domain)


def _fields(phones: list[str], emails: list[str], extra: Sequence[tuple[str, str]] = ()) -> list[dict[str, Any]] | None:
    out: list[dict[str, Any]] = []
    if phones:
        out.append({"field_id": 210001, "field_name": "Телефон", "field_code": "PHONE", "field_type": "multitext",
                    "values": [{"value": p, "enum_code": "WORK"} for p in phones]})
    if emails:
        out.append({"field_id": 210002, "field_name": "Email", "field_code": "EMAIL", "field_type": "multitext",
                    "values": [{"value": e, "enum_code": "WORK"} for e in emails]})
    for i, (name, value) in enumerate(extra):
        code = "WEB" if name == "Сайт" else None  # amoCRM's own site field; INN and address are the account's
        out.append({"field_id": 210010 + i, "field_name": name, "field_code": code, "field_type": "text",
                    "values": [{"value": value}]})
    return out or None


class _Run:
    """One generation run: its random source, the values handed out, the records written so far."""

    def __init__(self, n: int, seed: int, duplicate_rate: float) -> None:
        self.rng = random.Random(seed)
        self.values = _Values(self.rng)
        self.n, self.duplicate_rate = n, duplicate_rate
        self.entities: list[dict[str, Any]] = []
        self.truth: dict[str, str] = {}
        self.hard: dict[str, str] = {}

    def keep(self, entity: dict[str, Any], key: str, hard: str | None) -> None:
        rid = str(entity["id"])
        self.entities.append(entity)
        self.truth[rid] = key
        if hard:
            self.hard[rid] = hard

    def result(self, kind: Entity) -> SyntheticSet:
        kept = {str(e["id"]) for e in self.entities[: self.n]}  # a trap's last records may overshoot n
        return SyntheticSet(kind, self.entities[: self.n], {k: v for k, v in self.truth.items() if k in kept},
                            {k: v for k, v in self.hard.items() if k in kept})


# --- contacts -----------------------------------------------------------------------------------

@dataclass
class _Firm:
    id: int
    name: str
    domain: str
    large: bool
    reception: str


@dataclass
class _Person:
    key: str
    gender: str
    first: str
    last: str
    patronymic: str
    firm: _Firm | None
    phones: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


# Copy kinds and their weights: a mix other than training/synthetic's (more new phones and short forms)
_CONTACT_COPIES = {"diminutive": 14, "typo": 10, "patronymic": 12, "order": 10, "latin": 4, "phone_format": 14,
                   "drop_email": 8, "drop_phone": 6, "new_phone": 14, "second_phone": 5, "email_upper": 3,
                   "call_autoname": 4}
_CONTACT_TRAPS = {"namesake_bigco": 22, "mailbox": 18, "family": 16, "office_line": 16, "namesake": 14,
                  "gender_form": 14}


class _ContactGen(_Run):
    def __init__(self, n: int, seed: int, duplicate_rate: float) -> None:
        super().__init__(n, seed, duplicate_rate)
        self.persons = 0
        rng = self.rng
        self.firms: list[_Firm] = []
        for i in range(max(20, n // 25)):
            core = rng.choice(names.CORE_WORDS) + rng.choice(("", "", " Плюс", " Групп", "-М", " Про", "Тех"))
            dom = self.values.domain(core + str(i))
            self.firms.append(_Firm(_FIRM_ID0 + i, f"{rng.choice(_FORMS)} «{core}»", dom, rng.random() < 0.15,
                                    self.values.landline()))
        self.large = [f for f in self.firms if f.large] or self.firms[:1]
        self.small = [f for f in self.firms if not f.large] or self.firms[:1]

    def person(self, *, gender: str = "", first: str = "", last: str = "", firm: _Firm | None = None,
               common: bool = False) -> _Person:
        rng = self.rng
        gender = gender or rng.choice("mf")
        pool = names.MALE_FIRST_NAMES if gender == "m" else names.FEMALE_FIRST_NAMES
        first = first or rng.choice(pool[:8] if common else pool)
        last = last or rng.choice(names.SURNAMES[:12] if common else names.SURNAMES)
        father = rng.choice(names.MALE_FIRST_NAMES)
        self.persons += 1
        return _Person(f"hp-{self.persons}", gender, first, names.surname_form(last, gender),
                       names.patronymic(father, gender), firm)

    def contact_info(self, p: _Person, *, email: bool | None = None) -> None:
        rng = self.rng
        if rng.random() < 0.9:
            p.phones.append(self.values.mobile())
        if email if email is not None else rng.random() < 0.5:
            login = f"{names.translit(p.first)[0]}.{names.translit(p.last)}".replace("'", "")
            if p.firm is not None and rng.random() < 0.5:
                p.emails.append(self.values.email(login, p.firm.domain))
            else:
                p.emails.append(self.values.email(login + str(rng.randrange(70, 99)), rng.choice(_FREE_MAIL)))

    def emit(self, p: _Person, *, first: str | None = None, last: str | None = None, patronymic: bool = False,
             order: str = "lf", phones: list[str] | None = None, emails: list[str] | None = None,
             hard: str | None = None, name: str | None = None) -> None:
        rng = self.rng
        rid = str(_CONTACT_ID0 + len(self.entities) + 1)
        f, lst = first if first is not None else p.first, last if last is not None else p.last
        given = f"{f} {p.patronymic}" if patronymic else f
        full = name or (f"{lst} {given}" if order == "lf" else f"{given} {lst}")
        at = _NOW - rng.randrange(3 * 365 * 86_400)
        embedded: dict[str, Any] = {"tags": [], "leads": []}
        if p.firm is not None:
            embedded["companies"] = [{"id": p.firm.id, "name": p.firm.name}]
        phone_list = p.phones if phones is None else phones
        self.keep({
            "id": int(rid), "name": full, "first_name": given if name is None else full,
            "last_name": lst if name is None else "", "responsible_user_id": 610000 + rng.randrange(12),
            "created_at": at, "updated_at": at + rng.randrange(86_400 * 30), "is_deleted": False,
            "custom_fields_values": _fields([_phone_text(rng, x) for x in phone_list],
                                            p.emails if emails is None else emails),
            "_embedded": embedded,
        }, p.key, hard)

    def original(self, p: _Person, hard: str | None = None) -> None:
        rng = self.rng
        self.emit(p, patronymic=rng.random() < 0.3, order="lf" if rng.random() < 0.6 else "fl", hard=hard)

    def copy(self, p: _Person) -> None:
        rng = self.rng
        kind = rng.choices(list(_CONTACT_COPIES), weights=list(_CONTACT_COPIES.values()))[0]
        order = "lf" if rng.random() < 0.5 else "fl"
        if kind == "diminutive" and p.first in names.DIMINUTIVES:
            self.emit(p, first=rng.choice(names.DIMINUTIVES[p.first]), order=order)
        elif kind == "typo":
            self.emit(p, last=_typo(rng, p.last), order=order)
        elif kind == "patronymic":
            self.emit(p, patronymic=True, order="lf")
        elif kind == "latin":
            self.emit(p, first=names.translit(p.first).title(), last=names.translit(p.last).title(), order="fl")
        elif kind == "drop_email" and p.emails and p.phones:
            self.emit(p, emails=[], order=order)
        elif kind == "drop_phone" and p.emails and p.phones:
            self.emit(p, phones=[], order=order)
        elif kind == "new_phone" and p.firm is not None:
            # the same person at the same company on a new number, with no email
            self.emit(p, phones=[self.values.mobile()], emails=[], order=order)
        elif kind == "second_phone" and p.phones:
            self.emit(p, phones=[*p.phones, self.values.mobile()], order=order)
        elif kind == "email_upper" and p.emails:
            self.emit(p, emails=[e.upper() for e in p.emails], order=order)
        elif kind == "call_autoname" and p.phones:
            self.emit(p, name=f"Новый контакт по звонку с +7{p.phones[0]}", emails=[])
        else:
            self.emit(p, order=order)  # only the phone's spelling differs

    def trap(self, i: int) -> None:
        rng, v = self.rng, self.values
        kind = rng.choices(list(_CONTACT_TRAPS), weights=list(_CONTACT_TRAPS.values()))[0]
        key = f"{kind}:{i}"
        members: list[_Person] = []
        if kind == "namesake_bigco":  # one common name twice at a large company, each on own phone, no email
            firm = rng.choice(self.large)
            a = self.person(firm=firm, common=True)
            b = self.person(gender=a.gender, first=a.first, firm=firm)
            b.last = a.last
            for m in (a, b):
                m.phones = [v.mobile()]
            members = [a, b]
        elif kind == "mailbox":  # a department mailbox several people give
            firm = rng.choice(self.firms)
            box = v.email(rng.choice(_DEPARTMENTS), firm.domain)
            for _ in range(rng.randrange(2, 5)):
                m = self.person(firm=firm)
                m.phones = [v.mobile()] if rng.random() < 0.7 else []
                m.emails = [box]
                members.append(m)
        elif kind == "family":  # spouses or parent and child on one home phone
            home, surname = v.landline(), rng.choice(names.SURNAMES)
            for gender in rng.sample(["m", "f", rng.choice("mf")], rng.randrange(2, 4)):
                m = self.person(gender=gender, last=surname)
                m.phones = [home] + ([v.mobile()] if rng.random() < 0.4 else [])
                members.append(m)
            if len({(m.first, m.last) for m in members}) < len(members):
                members = members[:1]
        elif kind == "office_line":  # colleagues who give the office's line
            firm = rng.choice(self.firms)
            for _ in range(rng.randrange(2, 4)):
                m = self.person(firm=firm)
                m.phones = [firm.reception]
                members.append(m)
        elif kind == "namesake":  # one common full name, nothing else shared
            a = self.person(common=True)
            b = self.person(gender=a.gender, first=a.first)
            b.last = a.last
            for m in (a, b):
                self.contact_info(m)
            members = [a, b]
        else:  # gender_form: Гусев Александр / Гусева Александра on one phone (brother and sister, a couple)
            pairs = [("Александр", "Александра"), ("Евгений", "Евгения"), ("Валерий", "Валерия"),
                     ("Ярослав", "Ярослава"), ("Владислав", "Владислава"), ("Станислав", "Станислава")]
            male, female = rng.choice(pairs)
            surname = rng.choice([s for s in names.SURNAMES[:150] if names.surname_form(s, "f") != s])
            phone = v.mobile()
            members = [self.person(gender="m", first=male, last=surname), self.person(gender="f", first=female,
                                                                                  last=surname)]
            for m in members:
                m.phones = [phone]
        if len(members) < 2:
            return
        for m in members:
            self.original(m, hard=key)

    def run(self) -> SyntheticSet:
        rng = self.rng
        trap_every = 18  # one trap cluster per ~18 records
        i = 0
        while len(self.entities) < self.n:
            i += 1
            if i % trap_every == 0:
                self.trap(i)
                continue
            firm = None
            if rng.random() < 0.45:
                firm = rng.choice(self.large) if rng.random() < 0.4 else rng.choice(self.small)
            p = self.person(firm=firm)
            self.contact_info(p)
            if not p.phones and not p.emails:
                p.phones.append(self.values.mobile())
            self.original(p)
            if rng.random() < self.duplicate_rate:
                for _ in range(1 if rng.random() < 0.85 else 2):
                    self.copy(p)
        return self.result("contact")


def generate_heldout_contacts(n: int, *, seed: int = REPORTED_SEED, duplicate_rate: float = 0.13) -> SyntheticSet:
    """`n` amoCRM contacts with truth and hard negatives (see the module doc)."""
    if n < 10 or not 0 <= duplicate_rate < 1:
        raise ValueError("n must be at least 10 and duplicate_rate in [0, 1)")
    return _ContactGen(n, seed, duplicate_rate).run()


# --- companies ----------------------------------------------------------------------------------

@dataclass
class _Company:
    key: str
    form: str
    core: str
    inn: str | None
    domain: str | None
    phones: list[str]
    emails: list[str]
    address: str | None = None


_COMPANY_COPIES = {"form": 18, "quotes": 10, "case": 6, "typo": 12, "no_inn": 14, "phone_format": 12,
                   "new_phone": 8, "www": 8, "email_free": 6, "latin": 3, "plain": 3}
_COMPANY_TRAPS = {"holding_branch": 24, "holding_group": 20, "business_centre": 22, "sibling_site": 18,
                  "other_city": 16}


class _CompanyGen(_Run):
    def __init__(self, n: int, seed: int, duplicate_rate: float) -> None:
        super().__init__(n, seed, duplicate_rate)
        self.count = 0
        self.cores: set[str] = set()

    def core(self) -> str:
        rng = self.rng
        for _ in range(20):
            core = rng.choice(names.CORE_WORDS)
            if rng.random() < 0.5:
                core = f"{core}{rng.choice(('', '-')) }{rng.choice(names.CORE_ROOTS)}" if rng.random() < 0.5 else \
                    f"{rng.choice(names.CORE_PREFIXES)}{rng.choice(names.CORE_ROOTS).lower()}"
            if core not in self.cores:
                break
        self.cores.add(core)
        return core

    def company(self, core: str | None = None, *, inn: bool | None = None, domain: str | None = None,
                phones: list[str] | None = None, emails: list[str] | None = None) -> _Company:
        rng, v = self.rng, self.values
        core = core or self.core()
        self.count += 1
        dom = domain if domain is not None else (v.domain(core) if rng.random() < 0.6 else None)
        if emails is None:
            emails = [v.email(rng.choice(("info", "office", "mail")), dom)] if dom and rng.random() < 0.6 else (
                [v.email(names.translit(core).replace(" ", "")[:12] or "firm", rng.choice(_FREE_MAIL))]
                if rng.random() < 0.3 else [])
        has_inn = inn if inn is not None else rng.random() < 0.7
        return _Company(f"hc-{self.count}", rng.choice(_FORMS), core, v.inn() if has_inn else None, dom,
                        phones if phones is not None else [v.landline()], emails)

    def emit(self, c: _Company, *, name: str | None = None, inn: str | bool | None = True,
             domain: str | bool | None = True, phones: list[str] | None = None, emails: list[str] | None = None,
             hard: str | None = None) -> None:
        rng = self.rng
        rid = str(_COMPANY_ID0 + len(self.entities) + 1)
        extra: list[tuple[str, str]] = []
        inn_value = c.inn if inn is True else (inn or None)
        if inn_value:
            extra.append(("ИНН", inn_value))
        dom = c.domain if domain is True else (domain or None)
        if dom:
            extra.append(("Сайт", rng.choice((f"https://{dom}", f"www.{dom}", dom, f"http://{dom}/"))))
        if c.address:
            extra.append(("Адрес", c.address))
        at = _NOW - rng.randrange(4 * 365 * 86_400)
        self.keep({
            "id": int(rid), "name": name or f"{c.form} «{c.core}»", "responsible_user_id": 610000 + rng.randrange(12),
            "created_at": at, "updated_at": at + rng.randrange(86_400 * 60), "is_deleted": False,
            "custom_fields_values": _fields([_phone_text(rng, x) for x in (c.phones if phones is None else phones)],
                                            c.emails if emails is None else emails, extra),
            "_embedded": {"tags": [], "contacts": [], "leads": []},
        }, c.key, hard)

    def copy(self, c: _Company) -> None:
        rng, v = self.rng, self.values
        kind = rng.choices(list(_COMPANY_COPIES), weights=list(_COMPANY_COPIES.values()))[0]
        if kind == "form":
            full = {"ООО": "Общество с ограниченной ответственностью", "АО": "Акционерное общество",
                    "ПАО": "Публичное акционерное общество", "ЗАО": "Закрытое акционерное общество"}[c.form]
            self.emit(c, name=rng.choice((f"{full} «{c.core}»", c.core, f"{c.core}, {c.form}")))
        elif kind == "quotes":
            self.emit(c, name=rng.choice((f'{c.form} "{c.core}"', f"{c.form} {c.core}", f"«{c.core}»")))
        elif kind == "case":
            self.emit(c, name=f"{c.form} {c.core.upper()}")
        elif kind == "typo":
            self.emit(c, name=f"{c.form} «{_typo(rng, c.core)}»")
        elif kind == "no_inn":
            self.emit(c, inn=None)
        elif kind == "new_phone":
            self.emit(c, phones=[v.landline()], inn=None if rng.random() < 0.3 else True)
        elif kind == "www" and c.domain:
            self.emit(c, emails=[])
        elif kind == "email_free":
            self.emit(c, emails=[v.email(names.translit(c.core).replace(" ", "")[:10] or "firm", "mail.ru")])
        elif kind == "latin":
            self.emit(c, name=f"{c.form} {names.translit(c.core).title()}")
        else:
            self.emit(c)

    def trap(self, i: int) -> list[_Company]:
        rng, v = self.rng, self.values
        kind = rng.choices(list(_COMPANY_TRAPS), weights=list(_COMPANY_TRAPS.values()))[0]
        key = f"{kind}:{i}"
        out: list[_Company] = []
        if kind in ("holding_branch", "holding_group"):
            # one head-office phone, site and mail domain; each member its own INN (mostly shown)
            head = self.core()
            dom, phone = v.domain(head), v.landline()
            box = v.email("info", dom)
            if kind == "holding_branch":
                cores = [head] * (rng.random() < 0.5) + [f"{head}-{p}" if rng.random() < 0.6 else f"{head} {p}"
                                                         for p in rng.sample(_PLACES, rng.randrange(2, 4))]
            else:
                cores = [f"ГК {head}" if rng.random() < 0.6 else head] + [
                    f"{head} {w}" for w in rng.sample(_GROUP_WORDS, rng.randrange(1, 4))]
            for core in cores:
                out.append(self.company(core, inn=rng.random() < 0.85, domain=dom,
                                        phones=[phone] + ([v.landline()] if rng.random() < 0.4 else []),
                                        emails=[box] if rng.random() < 0.5 else [v.email(
                                            rng.choice(_DEPARTMENTS) + str(rng.randrange(10)), dom)]))
        elif kind == "business_centre":  # firms of one building on its reception phone and address
            phone = v.landline()
            street = rng.choice(("Ленина", "Мира", "Садовая", "Лесная", "Заводская", "Кирова"))
            address = f"г. Москва, ул. {street}, д. {rng.randrange(1, 120)}"
            for _ in range(rng.randrange(3, 7)):
                c = self.company(phones=[phone] + ([v.landline()] if rng.random() < 0.3 else []))
                c.address = address
                out.append(c)
        elif kind == "sibling_site":  # sites of one chain: "Автомойка Ромашка 2" / "... 5"; "Ромашка на Юге"
            chain, dom = f"{rng.choice(_SITE_KINDS)} {self.core()}", None
            dom = v.domain(chain)
            tails = [str(n) for n in rng.sample(range(1, 30), 3)] + [f"№{rng.randrange(30, 60)}"] + list(_PLACES[:5])
            for tail in rng.sample(tails, rng.randrange(2, 4)):
                out.append(self.company(f"{chain} {tail}", inn=False, domain=dom,
                                        emails=[v.email(rng.choice(_DEPARTMENTS), dom)]))
        else:  # other_city: one name, two legal entities in two cities
            core = self.core()
            out = [self.company(core, inn=True), self.company(core, inn=True)]
        for c in out:
            self.emit(c, hard=key)
        return out

    def run(self) -> SyntheticSet:
        rng = self.rng
        i = 0
        while len(self.entities) < self.n:
            i += 1
            if i % 12 == 0:
                for c in self.trap(i):  # trap members have duplicates too
                    if rng.random() < self.duplicate_rate / 2:
                        self.copy(c)
                continue
            c = self.company()
            self.emit(c)
            if rng.random() < self.duplicate_rate:
                for _ in range(1 if rng.random() < 0.8 else 2):
                    self.copy(c)
        return self.result("company")


def generate_heldout_companies(n: int, *, seed: int = REPORTED_SEED, duplicate_rate: float = 0.14) -> SyntheticSet:
    """`n` amoCRM companies with truth and hard negatives (see the module doc)."""
    if n < 10 or not 0 <= duplicate_rate < 1:
        raise ValueError("n must be at least 10 and duplicate_rate in [0, 1)")
    return _CompanyGen(n, seed, duplicate_rate).run()
