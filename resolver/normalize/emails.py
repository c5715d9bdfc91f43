"""Email addresses: cleanup, case folding, placeholder removal, free-mail vs corporate domains."""

from __future__ import annotations

import fnmatch
import re
from typing import TypeGuard

from resolver.normalize._limits import MAX_PARSED_CHARS, between_addresses, clip
from resolver.normalize._tables import read_lines, read_rows
from resolver.normalize.junk import clean_text, is_junk_text

_FREE_MAIL = frozenset(domain.lower() for domain in read_lines("free_mail.txt"))
_DOMAIN_ALIASES = {alias.lower(): canonical.lower() for alias, canonical in read_rows("mail_aliases.tsv")}
_PLACEHOLDER = re.compile("|".join(fnmatch.translate(p.lower()) for p in read_lines("junk_emails.txt")))

# Where a provider documents that several spellings of a login reach one mailbox, fold them.
# Gmail ignores dots in the login and anything after "+"; Yandex treats "." and "-" in a login as
# the same character and delivers "login+tag" to "login". (provider: drop dots, "+tag", "-" -> ".")
_LOGIN_RULES: dict[str, tuple[bool, bool, bool]] = {
    "gmail.com": (True, True, False),
    "yandex.ru": (False, True, True),
}

_STRIP = " \t\"'`«»“”„‘’<>()[]{},;:.!?"
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_ANGLE = re.compile(r"<([^<>]*)>")
_LOCAL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+")
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)+(?:[^\W\d_]{{2,}}|xn--[a-z0-9-]+)")
_FIELD_SEPARATORS = re.compile(r"[,;\s]+")
# An address inside free text (a name field) is a run of characters without spaces, brackets,
# quotes or separators that has "@" somewhere past its first and before its last character. Runs
# are found by one pass and tested for "@": a regex "run@run" would backtrack over the whole run
# from every start (quadratic in the run's length).
# Most email values are one address and nothing else. Such a value (letters and digits first and last, no
# space, separator, bracket, quote or colon) is left as it is by clean_text, the field split, the display
# name, "mailto:" and punctuation passes, so those are skipped (test_fast_paths.py compares both paths).
_SIMPLE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._%+-]*[A-Za-z0-9])?@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_IN_TEXT_RUN = re.compile(r"[^\s<>()\[\]{},;:\"'«»“”„/\\]+")


def normalize_email(text: str | None) -> str | None:
    """One address, trimmed and lowercased, or None when it is not an address or a placeholder.

    Strips "mailto:", a display name ("Иван <ivan@mail.ru>"), quotes and punctuation around it.
    Folds Yandex's and Google's alias domains (ya.ru -> yandex.ru, googlemail.com -> gmail.com)
    and the login spellings those providers treat as one mailbox (i.van+crm@gmail.com ->
    ivan@gmail.com). Placeholders (test@test.ru, noemail@…, a@a.ru, …@example.com) give None.
    """
    if _is_simple(text):  # nothing to strip or take out of it
        return None if is_junk_text(text) else _address(text.lower())
    return _normalize_email_full(text)


def _normalize_email_full(text: str | None) -> str | None:
    """`normalize_email` for any text (the fast path only takes simple ones)."""
    value = clean_text(text)
    if value is None or len(value) > MAX_PARSED_CHARS:  # longer is no address, and no prefix of one
        return None
    # the first "<…>" holding "@" (a display name's address); found by one pass over the brackets
    angle = next((m.group(1) for m in _ANGLE.finditer(value) if "@" in m.group(1)), None)
    if angle is not None:
        value = angle
    return _address(_MAILTO.sub("", value.strip(_STRIP)).strip(_STRIP).lower())


def _address(value: str) -> str | None:
    """The address of a lowercased value without display name, "mailto:" or punctuation around it."""
    local, at, domain = value.partition("@")
    if not at or "@" in domain or not _LOCAL.fullmatch(local):
        return None
    domain = domain.rstrip(".")
    if not _DOMAIN.fullmatch(domain):
        return None
    domain = _DOMAIN_ALIASES.get(domain, domain)
    local = _fold_login(local, domain)
    if not local:
        return None
    address = f"{local}@{domain}"
    return None if _is_placeholder(local, domain, address) else address


def normalize_emails(text: str | None) -> list[str]:
    """Every address in a field split on "," ";" and spaces, normalized, deduplicated, in order."""
    if _is_simple(text):  # one address and nothing around it: no separator to split on
        email = None if is_junk_text(text) else _address(text.lower())  # what normalize_email does with it
        return [email] if email is not None else []
    return _normalize_emails_full(text)


def _normalize_emails_full(text: str | None) -> list[str]:
    """`normalize_emails` for any text (the fast path only takes simple ones)."""
    value = clean_text(text)
    if value is None:
        return []
    found: dict[str, None] = {}  # a dict keeps the order and tests membership in O(1)
    for part in _FIELD_SEPARATORS.split(clip(value, between_addresses)):
        email = normalize_email(part)
        if email is not None:
            found[email] = None
    return list(found)


def split_emails(text: str) -> tuple[list[str], str]:
    """Addresses found in free text and the text without them (for name fields that carry one).

    Reads the first `MAX_PARSED_CHARS` characters, cut between two addresses or words.
    """
    found: dict[str, None] = {}

    def take(run: re.Match[str]) -> str:
        if "@" not in run.group()[1:-1]:
            return run.group()
        email = normalize_email(run.group())
        if email is not None:
            found[email] = None
        return " "

    rest = _IN_TEXT_RUN.sub(take, clip(text, between_addresses))
    return list(found), " ".join(rest.split())


def _is_simple(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and len(text) <= MAX_PARSED_CHARS and _SIMPLE.fullmatch(text) is not None


def email_domain(email: str) -> str:
    """The part after "@" ("" when there is none)."""
    _, at, domain = email.rpartition("@")
    return domain if at else ""


def email_local(email: str) -> str:
    """The part before "@" ("" when there is none)."""
    local, at, _ = email.rpartition("@")
    return local if at else ""


def is_free_mail(domain: str) -> bool:
    """True for public mailbox providers (mail.ru, gmail.com …): the domain names no employer."""
    value = domain.strip().lower().rpartition("@")[2].rstrip(".")
    return value in _FREE_MAIL or _DOMAIN_ALIASES.get(value, value) in _FREE_MAIL


def _fold_login(local: str, domain: str) -> str:
    rule = _LOGIN_RULES.get(domain)
    if rule is None:
        return local
    drop_dots, drop_tag, dash_is_dot = rule
    if drop_tag:
        local = local.partition("+")[0]
    if drop_dots:
        local = local.replace(".", "")
    if dash_is_dot:
        local = local.replace("-", ".")
    return local


def _is_placeholder(local: str, domain: str, address: str) -> bool:
    if _PLACEHOLDER.fullmatch(address):
        return True
    # test@test.ru, qwe@qwe.ru, a@a.ru: the same word typed twice to pass a required field
    if local == domain.split(".")[0]:
        return True
    # one character three times or more ("xxx@…"): nothing is left once that character is stripped
    return len(local) > 2 and not local.strip(local[0])
