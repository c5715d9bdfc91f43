"""Synthetic amoCRM companies: hidden companies, the ways their records differ, and their hard negatives."""

from __future__ import annotations

import random
from typing import Any

from training import synthetic_names as names
from training.synthetic.common import (
    _EMAIL_STYLES,
    _FEMALE,
    _FREE_MAIL,
    _MALE,
    _SURNAMES,
    _VARIATIONS,
    ACCOUNT_ID,
    COMPANY_ADDRESS_RATE,
    COMPANY_DOMAIN_RATE,
    COMPANY_ID_BASE,
    COMPANY_INN_RATE,
    DUPLICATE_RATE,
    NO_CONTACT_INFO_RATE,
    Phone,
    ShownEmail,
    ShownPhone,
    SyntheticSet,
    _check,
    _Factory,
    _fields,
    _gc_paused,
    _generate,
    _junk,
    _latin,
    _phone_format,
    _rendered_emails,
    _rendered_phones,
    _slug,
    _typo,
    _Weighted,
)

_CITIES = _Weighted(names.CITIES, [c[4] for c in names.CITIES])
_WEB_FORMS = _Weighted(("https://www.{d}/", "{d}", "http://{d}/contacts", "www.{d}", "https://{d}",
                        "http://www.{d}"), (30, 25, 10, 15, 15, 5))
_COMPANY_STYLES = _Weighted(
    ("quoted", "dquoted", "comma", "plain", "bare", "full", "latin", "lower", "upper"),
    (40, 12, 8, 12, 15, 4, 2, 3, 4),
)
_IP_STYLES = ("initials", "surname")  # ways to write an ИП that an LLC has no counterpart for
_FORMS = {short: (short, full, latin) for short, full, latin, _ in names.LEGAL_FORMS}
_FORM_PICK = _Weighted([f[0] for f in names.LEGAL_FORMS], [f[3] for f in names.LEGAL_FORMS])


def _inn(rng: random.Random, region: str, length: int) -> str:
    """A valid INN: region + tax office + serial + check digits (ФНС order ММВ-7-6/435@, 2012)."""
    checks = 1 if length == 10 else 2
    serial = length - 4 - checks
    digits = [int(ch) for ch in f"{region}{rng.randrange(1, 100):02d}{rng.randrange(10 ** serial):0{serial}d}"]
    weights = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    for _ in range(checks):
        digits.append(sum(w * d for w, d in zip(weights[-len(digits):], digits, strict=True)) % 11 % 10)
    return "".join(map(str, digits))


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

