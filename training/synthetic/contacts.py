"""Synthetic amoCRM contacts: hidden persons, the ways their records differ, and their hard negatives."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Literal

from training import synthetic_names as names
from training.synthetic.common import (
    _EMAIL_STYLES,
    _FEMALE,
    _MALE,
    _SURNAMES,
    _VARIATIONS,
    ACCOUNT_ID,
    AUTONAME_ORIGINAL_RATE,
    COMPANY_ID_BASE,
    CONTACT_ID_BASE,
    CONTACT_WEB_RATE,
    CORPORATE_EMAIL_RATE,
    DUPLICATE_RATE,
    EMAIL_ONLY_RATE,
    EMPLOYER_RATE,
    JUNK_NAME_RATE,
    NO_CONTACT_INFO_RATE,
    PHONE_ONLY_RATE,
    POSITION_RATE,
    SECOND_PHONE_RATE,
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

