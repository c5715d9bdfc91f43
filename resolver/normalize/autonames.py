"""Names that integrations make up ("Новый контакт по звонку с +7… из UIS") -> their phone, email, name.

Telephony, site forms and chat widgets create amoCRM contacts before a person gives a name, and
name them after the event. Such a name is not a person's: comparing "Входящий звонок" with
"Входящий звонок" would merge strangers. `parse_autoname` recognises these names from a table
of patterns and returns what they do carry. A pattern's `name` group, when it matches, holds a
person's name ("Заявка от «Иван»").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resolver.normalize._limits import between_name_parts, clip
from resolver.normalize.emails import normalize_emails, split_emails
from resolver.normalize.names import is_plain, split_name_field
from resolver.normalize.phones import normalize_phones, split_phones


@dataclass(frozen=True)
class AutoName:
    """What an integration-made name carries.

    `source` says which kind of integration made it: "call" (telephony, call tracking), "form"
    (a site form or request), "chat" (messengers and chat widgets), "placeholder" (a generic name
    such as "Новый контакт", "Клиент 12345"), "value" (the name field holds only a phone or email).
    """

    name: str | None
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    source: str


_QUOTES = str.maketrans({q: '"' for q in "«»“”„‟‹›"})
_CHANNELS = (
    r"whats\s?app|wa|telegram|tg|телеграм\w*|viber|вайбер|instagram|insta|инстаграм\w*|"
    r"вконтакте|vk|вк|avito|авито|jivo\w*|jivosite|живосайт|facebook|fb|messenger|"
    r"мессенджер\w*|wazzup|chat2desk|umnico|radist|онлайн[-\s]?чат\w*|одноклассники|ok"
)
_PERSON_NOUNS = r"контакт|клиент|лид|покупатель|пользователь|посетитель|гость|абонент|заказчик"

# (source, pattern[, name pattern]) in order; the first that matches wins. Patterns run on the
# text with quotes unified to '"', and search (not match) unless anchored. A rule with a name
# pattern matches only when that is found after the pattern's match; its `name` group is the name.
# (Two searches, not one regex "word.*?от (name)": that would scan the rest of the text again from
# every occurrence of the word when no "от" follows, quadratic in the number of words.)
_PATTERNS: list[tuple[str, re.Pattern[str], re.Pattern[str] | None]] = [
    (source, re.compile(p, re.IGNORECASE), re.compile(name[0], re.IGNORECASE) if name else None)
    for source, p, *name in [
    # "Новый контакт по звонку с +7…", "Входящий звонок …", "Пропущенный звонок …", "Звонок с номера …"
    ("call", r"\bзвон(?:ок|ка|ку|ки|ков)\b|\bcall(?:s|back)?\b|коллтрекинг|call\s?tracking"),
    # "Заявка от «Иван»", "Заявка с сайта от Иван Петров", "… по заявке с сайта", "Лид с сайта"
    ("form", r"\b(?:заявк\w*|обращени\w*|лид|lead|request)\b", r"\bот\s+(?P<name>.+)$"),
    ("form", r"\b(?:заявк\w*|форм[аы]\s+(?:на|с)\s+сайт\w*|обратн\w+\s+связ\w*|лид\s+с\s+сайта|"
             r"web\s?form|lead\s+from)"),
    # "Контакт из WhatsApp +7…", "Чат Telegram @ivanp", "WhatsApp +7…", "Диалог #123"
    ("chat", rf"^(?:новый\s+|новая\s+)?(?:{_PERSON_NOUNS}|чат|диалог|сообщение|переписка)\b"
             rf"[^\w]*(?:из|в|с|через|по)?\s*(?:{_CHANNELS})\b"),
    ("chat", rf"^(?:{_CHANNELS})\b|^(?:чат|диалог|переписка)\b"),
    # "Новый контакт", "Новый лид", "Контакт #12345", "Клиент 12345", "Посетитель сайта",
    # "Неизвестный", "Без имени", "New contact", "Unknown"
    ("placeholder", rf"^(?:нов(?:ый|ая|ое)|new)\s+(?:{_PERSON_NOUNS}|сделка|обращение|contact|lead|"
                    r"client|customer|user)\b"),
    ("placeholder", rf"^(?:{_PERSON_NOUNS}|contact|client|customer|lead|user|visitor|guest)\s*"
                    r"(?:#|№|n|no\.?|id)?\s*\d+$"),
    ("placeholder", rf"^(?:{_PERSON_NOUNS})(?:\s+(?:с|из|на)\s+сайта.*|\s+сайта)?$"),
    ("placeholder", r"^(?:неизвестн\w*|без\s+имени|безымянн\w*|аноним\w*|имя\s+не\s+указано|"
                    r"unknown|anonymous|no\s?name|without\s+name)(?:\s+(?:контакт|клиент|абонент|"
                    r"номер|contact|caller))?$"),
]]
# Any of the patterns: a plain name (names.is_plain) none of them finds is no auto-name, since it
# holds no phone or email either (one search instead of one per pattern)
_ANY_PATTERN = re.compile("|".join(f"(?:{pattern.pattern})" for _, pattern, _ in _PATTERNS), re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]+)"')
# A name group runs to the end; what follows the name ("… с сайта romashka.ru") is not the name.
_NAME_TAIL = re.compile(r"\s+(?:с|из|по|на|через|via|from)\s+.*$", re.IGNORECASE)
_TRAILING_PUNCT = " .,;:!?-—"


def parse_autoname(text: str | None) -> AutoName | None:
    """What an integration-made name carries, or None when the text is a person's name.

    Example:
        >>> parse_autoname("Новый контакт по звонку с +79161234567 из UIS")
        AutoName(name=None, phones=('+79161234567',), emails=(), source='call')
        >>> parse_autoname("Заявка от «Иван»").name
        'Иван'
        >>> parse_autoname("Иван Петров") is None
        True
    """
    if text is None or (is_plain(text) and _ANY_PATTERN.search(text) is None):
        return None
    return _parse_autoname_full(text)


def _parse_autoname_full(text: str | None) -> AutoName | None:
    """`parse_autoname` for any text (the fast path only answers None for plain ones)."""
    if text is None:
        return None
    value = " ".join(str(text).translate(_QUOTES).split()).strip(_TRAILING_PUNCT)
    # a longer field is read up to MAX_PARSED_CHARS, cut where no word, phone or address is split
    value = clip(value, between_name_parts)
    if not value:
        return None
    for source, pattern, name_after in _PATTERNS:
        match = pattern.search(value)
        if match is None:
            continue
        if name_after is None:
            return _autoname(value, source, None)
        named = name_after.search(value, match.end())
        if named is not None:
            return _autoname(value, source, named.group("name"))
    return _bare_value(value)


def _autoname(value: str, source: str, candidate: str | None) -> AutoName:
    phones = normalize_phones(value)
    emails = normalize_emails(value)
    name = None
    if source == "form":
        if candidate is None:
            quoted = _QUOTED.search(value)
            candidate = quoted.group(1) if quoted else None
        name = _person(candidate)
    return AutoName(name=name, phones=tuple(phones), emails=tuple(emails), source=source)


def _person(candidate: str | None) -> str | None:
    """The person's name from a pattern's name part, without quotes, tails, phones or emails."""
    if not candidate:
        return None
    quoted = _QUOTED.match(candidate.strip())
    candidate = quoted.group(1) if quoted else _NAME_TAIL.sub("", candidate)
    return split_name_field(candidate.replace('"', " ")).name


def _bare_value(value: str) -> AutoName | None:
    """A name field holding only phones and emails ("+79161234567", "ivan@mail.ru")."""
    emails, rest = split_emails(value)
    phones, rest = split_phones(rest)
    if not (phones or emails) or any(ch.isalnum() for ch in rest):
        return None
    return AutoName(name=None, phones=tuple(phones), emails=tuple(emails), source="value")
