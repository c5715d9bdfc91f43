"""Company identity: name core without legal form, legal form, INN checksum, website domain.

INN (ИНН, taxpayer number) check digits follow the rule of ФНС России (order of the Federal Tax
Service on the INN structure; the same weights are used by every INN validator): a legal
entity's 10-digit INN ends with (Σ wᵢ·dᵢ mod 11) mod 10 over its first 9 digits with weights
2 4 10 3 5 9 4 6 8; an individual's 12-digit INN ends with two such digits, the 11th over the
first 10 digits with weights 7 2 4 10 3 5 9 4 6 8, the 12th over the first 11 with weights
3 7 2 4 10 3 5 9 4 6 8.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from resolver.normalize._limits import MAX_PARSED_CHARS, between_words, clip
from resolver.normalize._tables import read_rows
from resolver.normalize.emails import is_free_mail
from resolver.normalize.junk import clean_text
from resolver.normalize.names import parse_person_name, transliterate, word_key

_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11_WEIGHTS = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN_LABEL = re.compile(r"^\s*(?:инн|inn)\s*[:№#]?\s*", re.IGNORECASE)
_INN_SPACES = re.compile(r"[\s\-]+")
# "ИНН: 7707 083 893" is some 20 characters; a longer value is no INN (and no prefix of one).
_MAX_INN_CHARS = 64

# Legal forms whose name is a person's: "ИП Иванов Иван Иванович" is Иванов's business.
PERSON_LEGAL_FORMS = frozenset({"ИП", "КФХ", "ФЛП"})

_QUOTES = re.compile(r"[«»“”„‟\"'‘’`]")
_WORD = re.compile(r"[^\W_]+")


def _load_legal_forms() -> dict[tuple[str, ...], str]:
    """Transliterated word sequence of each variant -> canonical form."""
    forms: dict[tuple[str, ...], str] = {}
    for variant, canonical in read_rows("legal_forms.tsv"):
        forms[tuple(_WORD.findall(transliterate(variant)))] = canonical
    return forms


_LEGAL_FORMS = _load_legal_forms()
_LONGEST_FORM = max(len(words) for words in _LEGAL_FORMS)
# a legal form can only start at one of these words: find_legal_form tries no other start
_FORM_FIRST_WORDS = frozenset(words[0] for words in _LEGAL_FORMS)


def _load_shared_hosts() -> dict[str, str]:
    return {host.lower(): kind for host, kind in read_rows("shared_hosts.tsv")}


_SHARED_HOSTS = _load_shared_hosts()


@dataclass(frozen=True)
class CompanyName:
    """A company name as comparable parts.

    `core` is the name without legal form, quotes and punctuation, transliterated (folded
    Latin, `names.transliterate`), words in their written order; `tokens` its unique words,
    sorted, without one-letter words ("и", "&" leftovers) but with one-digit ones ("Школа 1");
    `legal_form` the canonical form ("ООО", "ИП", "LLC") or None.
    """

    core: str
    legal_form: str | None
    tokens: tuple[str, ...]


def parse_company_name(text: str | None) -> CompanyName | None:
    """Split a company name into core and legal form; None for junk or a bare legal form.

    "ООО «Ромашка»", "Ромашка, ООО", "OOO Romashka" and "Общество с ограниченной
    ответственностью "Ромашка"" all give core "romashka", legal form "ООО". For "ИП Иванов Иван
    Иванович" the core is the person's name words sorted, patronymic included:
    "ivan ivanov ivanovich".
    """
    value = clean_text(text)
    if value is None:
        return None
    value = clip(value, between_words)  # a longer name is read up to MAX_PARSED_CHARS, whole words
    words = _WORD.findall(transliterate(_QUOTES.sub(" ", value)))
    legal_form, words = _strip_legal_forms(words)
    if not words:
        return None
    if legal_form in PERSON_LEGAL_FORMS:
        person = parse_person_name(" ".join(words))
        if person is not None:
            extra = (person.patronymic,) if person.patronymic else ()
            words = sorted({*person.tokens, *extra})
    tokens = tuple(sorted({word for word in words if len(word) > 1 or word.isdigit()}))
    return CompanyName(core=" ".join(words), legal_form=legal_form, tokens=tokens)


def starts_legal_form(word: str) -> bool:
    """True when a legal form's first word is `word` (transliterated: `names.word_key`)."""
    return word in _FORM_FIRST_WORDS


def find_legal_form(text: str) -> tuple[int, int, str] | None:
    """The first legal form written anywhere in `text`: (start, end, canonical), or None.

    For name fields that carry a company ("Иван Петров ООО Ромашка"); offsets index `text`.
    Reads the first `MAX_PARSED_CHARS` characters, cut between words.
    """
    text = clip(text, between_words)
    # words repeat across a base (names): each one's transliteration is remembered (names.word_key)
    spans = [(m.start(), m.end(), word_key(m.group())) for m in _WORD.finditer(text)]
    for i in range(len(spans)):
        if spans[i][2] not in _FORM_FIRST_WORDS:
            continue
        for size in range(min(_LONGEST_FORM, len(spans) - i), 0, -1):
            canonical = _LEGAL_FORMS.get(tuple(word for _, _, word in spans[i : i + size]))
            if canonical is not None:
                return spans[i][0], spans[i + size - 1][1], canonical
    return None


def _strip_legal_forms(words: list[str]) -> tuple[str | None, list[str]]:
    """Remove legal forms at the start and at the end; the first one found is the company's."""
    first: str | None = None
    start, stop = 0, len(words)  # the words left are words[start:stop]; sliced once at the end
    changed = True
    while changed and start < stop:
        changed = False
        for size in range(min(_LONGEST_FORM, stop - start), 0, -1):
            canonical = _LEGAL_FORMS.get(tuple(words[start : start + size]))
            if canonical is not None:
                first = first or canonical
                start, changed = start + size, True
                break
        for size in range(min(_LONGEST_FORM, stop - start), 0, -1):
            canonical = _LEGAL_FORMS.get(tuple(words[stop - size : stop]))
            if canonical is not None:
                first = first or canonical
                stop, changed = stop - size, True
                break
    return first, words[start:stop]


def normalize_inn(text: str | None) -> str | None:
    """The INN's digits when it has 10 or 12 digits and valid check digits, else None.

    Spaces and dashes inside and an "ИНН:" label in front are allowed; "0000000000" and INNs
    starting with "00" (no such region code) are refused although their check digits add up.
    """
    value = clean_text(text)
    if value is None or len(value) > _MAX_INN_CHARS:
        return None
    digits = _INN_SPACES.sub("", _INN_LABEL.sub("", value))
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (10, 12):
        return None
    if digits.startswith("00"):
        return None
    return digits if _inn_checksum_ok(digits) else None


def is_valid_inn(text: str) -> bool:
    """True for a 10- or 12-digit INN with valid check digits."""
    return normalize_inn(text) is not None


def _check_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def _inn_checksum_ok(digits: str) -> bool:
    if len(digits) == 10:
        return _check_digit(digits, _INN10_WEIGHTS) == int(digits[9])
    return (
        _check_digit(digits, _INN11_WEIGHTS) == int(digits[10])
        and _check_digit(digits, _INN12_WEIGHTS) == int(digits[11])
    )


_URL_SEPARATORS = re.compile(r"[\s,;]+")
_HOST_LABEL = re.compile(r"[^\W_](?:[\w-]*[^\W_])?")
_TLD = re.compile(r"[^\W\d_]{2,}")
# A host name has at most 253 characters (RFC 1035 §2.3.4: 255 octets on the wire); longer is not
# a host. The bound also keeps the shared-host lookup below (one join per label) small.
_MAX_HOST_CHARS = 253


def website_domain(text: str | None) -> str | None:
    """The site's host, lowercased, without "www.": "https://www.Romashka.ru/x?y=1" -> "romashka.ru".

    Internationalized hosts come back in Unicode ("xn--80aa…" is decoded: IDNA, RFC 5891), so
    "ромашка.рф" typed either way meets. A host shared by many businesses (`data/shared_hosts.tsv`:
    vk.com, instagram.com, t.me, …) gives None, since it says nothing about the company; on
    platforms where each business has its subdomain (romashka.tilda.ws) the full host is kept and
    only the bare platform is dropped. An email ("info@romashka.ru") gives its domain unless it is
    free mail. Junk, a host without a dot, or a malformed host give None.
    """
    value = clean_text(text)
    if value is None:
        return None
    first = _URL_SEPARATORS.split(value.strip(), maxsplit=1)[0]
    if "@" in first and "/" not in first:
        domain = first.rpartition("@")[2].lower().strip(".")
        return None if is_free_mail(domain) else _checked_host(domain)
    if len(first) > MAX_PARSED_CHARS:
        first = _up_to_path(first[:MAX_PARSED_CHARS])
    if "://" not in first:
        first = "//" + first
    try:
        host = urlsplit(first).hostname
    except ValueError:  # a malformed IPv6 literal or port
        return None
    return _checked_host(host) if host else None


def _up_to_path(url: str) -> str:
    """The scheme and host of a URL cut by the cap ("" when the host does not end before the cut).

    Only the host is used, so a long path or query loses nothing; a host that runs past the cap
    is longer than any host (`_MAX_HOST_CHARS`).
    """
    scheme = url.find("://")
    host_start = scheme + 3 if scheme >= 0 else 0
    ends = [end for end in (url.find(ch, host_start) for ch in "/?#") if end >= 0]
    return url[: min(ends)] if ends else ""


def _checked_host(host: str) -> str | None:
    host = host.strip(".").lower()
    if len(host) > _MAX_HOST_CHARS:
        return None
    labels = host.split(".")
    try:
        labels = [_decode_label(label) for label in labels]
    except UnicodeError:
        return None
    if labels[0] == "www":
        labels = labels[1:]
    if len(labels) < 2 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return None
    if not _TLD.fullmatch(labels[-1]):
        return None
    for i in range(len(labels) - 1):
        kind = _SHARED_HOSTS.get(".".join(labels[i:]))
        if kind is not None and (i == 0 or kind == "path"):
            return None
    return ".".join(labels)


def _decode_label(label: str) -> str:
    if label.startswith("xn--"):
        return label.encode("ascii").decode("idna").lower()
    return label
