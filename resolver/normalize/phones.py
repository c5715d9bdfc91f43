"""Phone numbers in any written form -> E.164 strings; junk, fake and invalid numbers -> nothing.

E.164 (ITU-T Recommendation E.164) is the international format "+<country code><national
significant number>", at most 15 digits. Validity is the `phonenumbers` library's
(`is_valid_number`, Google's libphonenumber metadata): a number is kept only when its national
number matches a known range of its country, so "+7 (000) 000-00-00" and 9-digit typos go.

Most CRM numbers are Russian, written as "8 916 123-45-67", "+7 (916) 1234567", "79161234567"
or "9161234567". For those a fast path builds the E.164 form directly and checks it against the
same libphonenumber patterns for Russia that `is_valid_number` uses, so it agrees with the
library (tests/resolver/normalize/test_phones.py checks that over thousands of numbers) at a
fraction of the cost; everything else (Kazakhstan +7 7xx, Belarus, typos) goes to `phonenumbers`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, PhoneNumberDesc, PhoneNumberFormat

from resolver.normalize._limits import between_phones, clip

# An extension and its digits: "доб. 12", "ext. 5", "вн. 3", "x12", "#12". Removed before numbers
# are read so that "765-43-21 доб. 12" does not become a 12-digit number.
_EXTENSION = re.compile(
    r"(?:\b(?:доб|добав\w*|вн|внутр\w*|ext|extension|доп)\b\.?|(?<![^\W\d_])x|#)\s*(?:[.:№]\s*)?\d{1,6}",
    re.IGNORECASE,
)
# A run of digits with the punctuation people put inside one number. Commas, semicolons, slashes,
# newlines and words ("или") end a run, which is how two numbers in one field come apart.
# (Written so that no match is tried from inside a run of leading spaces or brackets, which
# would rescan the run from each of its characters: a run found there would also be found from
# the run's first character, further left, so the lookbehind changes no match.)
_SEPARATORS_IN_NUMBER = r"[ \t\u00a0\-\u2010-\u2015().]"
_RUN = re.compile(rf"(?:\+|(?<![ \t\u00a0(]))[ \t\u00a0(]*\d(?:{_SEPARATORS_IN_NUMBER}*\d)*")
_DIGITS = re.compile(r"\d+")
_NUMBER_PUNCTUATION = str.maketrans("", "", "+()-. \t\u00a0")

# Fewer digits cannot be a callable number with its area code; more than E.164's 15 are two numbers.
_MIN_DIGITS = 7
_MAX_DIGITS = 15
# Up to 12 digits is one number however it reads (+375 29 123-45-67 has 12); a longer run that is
# not one valid number is tried as two written back to back.
_MAX_SINGLE_DIGITS = 12
# Phone fields up to this long are cached (a base repeats its office numbers); longer ones are
# rare and would only fill the cache.
_CACHED_CHARS = 64
# A subscriber number (the last 7 digits) of one repeated digit is a placeholder: 000-00-00.
_SUBSCRIBER_DIGITS = 7
_ASCENDING = "01234567890123456789"
# A local number (no area code) under a named region: "local:US:3865286" (_local_number)
LOCAL_PREFIX = "local:"
_LOCAL = re.compile(r"local:[A-Z]{2}:\d{4,15}")
_DESCENDING = _ASCENDING[::-1]


def normalize_phones(text: str | None, region: str = "RU") -> list[str]:
    """Every valid phone number in a free-text field, as E.164 strings, deduplicated, in order.

    Args:
        text: a phone field as typed: "8 916 123-45-67, 8 903 765-43-21 доб. 5".
        region: ISO 3166 country assumed for numbers written without "+" (amoCRM accounts are
            mostly Russian, so "8…" is the Russian trunk prefix).

    Returns:
        E.164 strings; [] for junk ("-", "нет"), placeholders ("+7 (000) 000-00-00",
        "9999999999", "1234567890") and numbers `phonenumbers` does not call valid.

    Example:
        >>> normalize_phones("+7 (495) 765-43-21 доб. 12; 8-916-123-45-67")
        ['+74957654321', '+79161234567']
    """
    if text is None:
        return []
    if not isinstance(text, str):
        # Excel gives 79161234567.0; the float's repr would add a digit
        text = str(int(text)) if isinstance(text, float) and text.is_integer() else str(text)
    if len(text) <= _CACHED_CHARS:
        return list(_normalize_cached(text, region))
    return list(_normalize(clip(text, between_phones), region))


def phone_values(text: str | None) -> tuple[str, ...]:
    """`normalize_phones(text)` as a tuple (for callers that keep it), remembered for short values."""
    if isinstance(text, str) and len(text) <= _CACHED_CHARS:
        return _normalize_cached(text, "RU")
    return tuple(normalize_phones(text))


def normalize_phone(text: str | None, region: str = "RU") -> str | None:
    """The first phone number in the field as E.164, or None."""
    phones = normalize_phones(text, region)
    return phones[0] if phones else None


def split_phones(text: str, region: str = "RU") -> tuple[list[str], str]:
    """Phones found in `text` and the text without them (for name fields that carry a number).

    Reads the first `MAX_PARSED_CHARS` characters, cut between two numbers.
    """
    text = clip(text, between_phones)
    phones: dict[str, None] = {}  # ordered, with O(1) membership
    kept: list[str] = []
    last = 0
    blanked = _EXTENSION.sub(lambda m: " " * len(m.group()), text)  # offsets stay those of `text`
    for match in _RUN.finditer(blanked):
        found = _parse_run(match.group(), region)
        if found or len(_digits(match.group())) >= _MIN_DIGITS:
            kept.append(blanked[last : match.start()])
            last = match.end()
            phones.update(dict.fromkeys(found))
    if not phones:
        return [], text
    kept.append(blanked[last:])
    return list(phones), " ".join("".join(kept).split())


@lru_cache(maxsize=1 << 16)
def _normalize_cached(text: str, region: str) -> tuple[str, ...]:
    return _normalize(text, region)


def _normalize(text: str, region: str) -> tuple[str, ...]:
    if text.startswith(LOCAL_PREFIX) and _LOCAL.fullmatch(text):  # read once under its region already
        return (text,)
    if region == "RU":
        # The common case, one Russian number and nothing else, skips the regexes below.
        # "79161234567" and "+79161234567" are most values: no punctuation to take out of them
        if text.isascii() and text.isdigit():
            compact = text
        elif text[:1] == "+" and text[1:].isascii() and text[1:].isdigit():
            compact = text[1:]
        else:
            compact = text.translate(_NUMBER_PUNCTUATION)
        if compact.isdigit() and compact.isascii() and text.count("+") <= 1:
            nsn = _russian_shape(compact, text.lstrip().startswith("+"))
            if nsn is not None and _is_placeholder(nsn):
                return ()
            if nsn is not None and _is_russian_number(nsn):
                return ("+7" + nsn,)
    found: dict[str, None] = {}
    for match in _RUN.finditer(_EXTENSION.sub(" ; ", text)):
        found.update(dict.fromkeys(_parse_run(match.group(), region)))
    return tuple(found)


def _digits(text: str) -> str:
    return "".join(_DIGITS.findall(text))


def _parse_run(run: str, region: str) -> list[str]:
    """Numbers in one run of digits and separators: usually one, two when written back to back."""
    digits = _digits(run)
    if len(digits) < _MIN_DIGITS:
        return []
    plus = run.startswith("+")
    if len(digits) <= _MAX_DIGITS:
        phone = _parse_number(digits, plus, region)
        if phone is not None or len(digits) <= _MAX_SINGLE_DIGITS:
            return [phone] if phone else []
    return _split_run(_DIGITS.findall(run), plus, region)


def _split_run(groups: list[str], plus: bool, region: str) -> list[str]:
    """Read back-to-back numbers ("8 916 123 45 67 8 903 765 43 21"): longest valid prefix first.

    A number has at most E.164's 15 digits, so from each start only the groups that add up to
    15 digits or fewer are tried: a bounded number of candidates per start, linear in the run.
    """
    if len(groups) == 1:
        groups = _split_glued(groups[0])
    phones: list[str] = []
    start = 0
    while start < len(groups):
        stop, total = start, 0  # groups[start:stop] hold at most _MAX_DIGITS digits
        while stop < len(groups) and total + len(groups[stop]) <= _MAX_DIGITS:
            total += len(groups[stop])
            stop += 1
        for end in range(stop, start, -1):
            digits = "".join(groups[start:end])
            if len(digits) < _MIN_DIGITS:
                continue  # not `break`: the loop's `else` moves `start` on
            phone = _parse_number(digits, plus and start == 0, region)
            if phone is not None:
                phones.append(phone)
                start = end
                break
        else:
            start += 1
    return phones


def _split_glued(digits: str) -> list[str]:
    # "8916123456789031234567": two Russian numbers pasted without a separator
    for size, leads in ((11, "78"), (10, "9")):
        if len(digits) % size == 0:
            parts = [digits[i : i + size] for i in range(0, len(digits), size)]
            if all(part[0] in leads for part in parts):
                return parts
    return [digits]


def _parse_number(digits: str, plus: bool, region: str) -> str | None:
    """One number's digits -> E.164, or None when invalid or a placeholder."""
    if region == "RU":
        nsn = _russian_shape(digits, plus)
        if nsn is not None and _is_placeholder(nsn):  # +7 (000) 000-00-00: no need to ask further
            return None
        if nsn is not None and _is_russian_number(nsn):
            return "+7" + nsn
        known = _kazakh_number(digits, plus) or _belarusian_number(digits, plus)
        if known is not None:
            return known
    return _parse_with_phonenumbers(digits, plus, region)


def _parse_with_phonenumbers(digits: str, plus: bool, region: str) -> str | None:
    if not plus and digits.startswith("00"):  # "00" is the international prefix outside Russia
        digits, plus = digits[2:], True
    try:
        number = phonenumbers.parse(("+" if plus else "") + digits, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return _local_number(number, plus, region)
    if _is_placeholder(phonenumbers.national_significant_number(number)):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _local_number(number: phonenumbers.PhoneNumber, plus: bool, region: str) -> str | None:
    """A number dialled without its area code ("386-5286" in a US file): `local:US:3865286`, or None.

    Only under a region the user named (`--region`): Russian files write the city code, and a bare
    7-digit run there is more often a fragment. Two records with one local number share this key.
    """
    if plus or region == "RU":
        return None
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return None
    nsn = phonenumbers.national_significant_number(number)
    return None if _is_placeholder(nsn) else f"{LOCAL_PREFIX}{region}:{nsn}"


def _russian_shape(digits: str, plus: bool) -> str | None:
    """The would-be Russian national number: "+7" or the trunk prefix "8" (also "7" without "+",
    as old imports store it) before 10 digits, or the 10 digits alone; else None."""
    if len(digits) == 11 and (digits[0] == "7" or (digits[0] == "8" and not plus)):
        return digits[1:]
    if len(digits) == 10 and not plus and digits[0] in "3489":
        return digits
    return None


def _fast_ru_nsn(digits: str, plus: bool) -> str | None:
    """The Russian national number when the digits plainly are one, else None (ask phonenumbers).

    Only a positive answer is final: a number outside Russia's ranges may still be a valid
    Kazakh +7 number, or a typo phonenumbers reads differently.
    """
    nsn = _russian_shape(digits, plus)
    return nsn if nsn is not None and _is_russian_number(nsn) else None


def _kazakh_number(digits: str, plus: bool) -> str | None:
    """E.164 of a valid Kazakh number (+7 7xx, country code 7 shared with Russia) written as Russian ones are,
    or None (ask phonenumbers).

    What phonenumbers does for these shapes under region RU: "+7" / "7" / the trunk "8" before 10 digits, or
    10 digits alone, give the national number 7xx…; a national number starting with 7 belongs to Kazakhstan
    (its metadata's leading digits; Russia's are [3489]) and is valid when it matches one of Kazakhstan's
    number types, which is `_KZ_VALID` (test_phones.py checks the answers against phonenumbers).
    """
    if len(digits) == 11 and (digits[0] == "7" or (digits[0] == "8" and not plus)):
        nsn = digits[1:]
    elif len(digits) == 10 and not plus:
        nsn = digits
    else:
        return None
    if nsn[0] != "7" or _is_placeholder(nsn):
        return None
    pattern = _KZ_VALID.get(len(nsn))
    return "+7" + nsn if pattern is not None and pattern.fullmatch(nsn) is not None else None


def _belarusian_number(digits: str, plus: bool) -> str | None:
    """E.164 of a valid Belarusian number written "+375 …", or None (ask phonenumbers).

    "+375" is Belarus's code alone; its national number is valid when it matches one of Belarus's number
    types (`_BY_VALID`). One starting with 0 or 8 is left to phonenumbers, which may take those digits
    for Belarus's trunk prefix (its "0|80?").
    """
    if not plus or len(digits) != 12 or not digits.startswith("375") or digits[3] in "08":
        return None
    nsn = digits[3:]
    pattern = _BY_VALID.get(len(nsn))
    if pattern is None or pattern.fullmatch(nsn) is None or _is_placeholder(nsn):
        return None
    return "+" + digits


def _type_patterns(metadata: PhoneMetadata) -> list[tuple[re.Pattern[str], frozenset[int]]]:
    general = metadata.general_desc
    assert general is not None, "phonenumbers metadata always has a general description"
    descs: list[PhoneNumberDesc | None] = [
        metadata.fixed_line, metadata.mobile, metadata.toll_free, metadata.premium_rate,
        metadata.shared_cost, metadata.personal_number, metadata.voip, metadata.pager,
        metadata.uan, metadata.voicemail,
    ]
    patterns = []
    for desc in descs:
        if desc is None or desc.national_number_pattern is None:
            continue
        lengths = desc.possible_length or general.possible_length
        patterns.append((re.compile(desc.national_number_pattern), frozenset(lengths)))
    return patterns


def _validity_patterns(metadata: PhoneMetadata) -> dict[int, re.Pattern[str]]:
    """Per length, one regex: the general pattern and any number type's pattern for that length.

    The same test `is_valid_number` makes (libphonenumber's `getNumberTypeHelper`): a national
    number is valid when it matches the country's general description and some number type's
    pattern and possible lengths.
    """
    general = metadata.general_desc
    assert general is not None, "phonenumbers metadata always has a general description"
    by_length: dict[int, list[str]] = {}
    for pattern, lengths in _type_patterns(metadata):
        for length in lengths:
            by_length.setdefault(length, []).append(pattern.pattern)
    return {
        length: re.compile(rf"(?=(?:{general.national_number_pattern})$)(?:{'|'.join(patterns)})")
        for length, patterns in by_length.items()
        if length in general.possible_length
    }


_RU_METADATA = PhoneMetadata.metadata_for_region("RU")
assert _RU_METADATA is not None, "phonenumbers ships metadata for RU"
_RU_VALID = _validity_patterns(_RU_METADATA)


_KZ_METADATA = PhoneMetadata.metadata_for_region("KZ")
assert _KZ_METADATA is not None, "phonenumbers ships metadata for KZ"
_KZ_VALID = _validity_patterns(_KZ_METADATA)
_BY_METADATA = PhoneMetadata.metadata_for_region("BY")
assert _BY_METADATA is not None, "phonenumbers ships metadata for BY"
_BY_VALID = _validity_patterns(_BY_METADATA)


def _is_russian_number(nsn: str) -> bool:
    pattern = _RU_VALID.get(len(nsn))
    return pattern is not None and pattern.fullmatch(nsn) is not None


def _is_placeholder(nsn: str) -> bool:
    """Numbers typed to get past a required field: 000-00-00, 9999999999, 1234567890."""
    subscriber = nsn[-_SUBSCRIBER_DIGITS:]
    if subscriber == subscriber[0] * len(subscriber):
        return True
    return len(nsn) >= _SUBSCRIBER_DIGITS and (nsn in _ASCENDING or nsn in _DESCENDING)
