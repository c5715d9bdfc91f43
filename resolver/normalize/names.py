"""Person names: transliteration that lets Cyrillic and Latin spellings meet, tokens, diminutives.

The transliteration is our own fixed scheme, not a standard one: standards (GOST 7.79, the
passport rules of МВД 2013) make a spelling readable, we need "Юлия", "Yuliya", "Iuliia" and
"Julia" to give the same key. So Cyrillic is first romanized letter by letter, then Latin
spelling variants are folded by a small table of ordered rewrite rules (`_FOLD_RULES`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeGuard

from resolver.normalize._limits import MAX_PARSED_CHARS, between_name_parts, between_words, clip
from resolver.normalize._tables import read_lines, read_rows
from resolver.normalize.emails import split_emails
from resolver.normalize.junk import clean_text, is_junk_text
from resolver.normalize.phones import split_phones

# Russian as in the passport rules (ж zh, х kh, ц ts, ч ch, ш sh, щ shch, ю yu, я ya), with
# й and ы -> y and ъ, ь dropped; Ukrainian, Belarusian and Kazakh letters by their sound.
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh",
    "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ў": "u",
    "ә": "a", "ғ": "g", "қ": "k", "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h",
    "№": " ",  # NFKD would make it "No"
}
# Latin letters that Unicode decomposition leaves alone
_LATIN_EXTRA = {"ł": "l", "ø": "o", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i"}
_TRANSLIT_TABLE = str.maketrans(_CYRILLIC | _LATIN_EXTRA)
# An apostrophe between letters marks a soft sign in Latin spellings ("Il'ya", "Natal'ya")
_INNER_APOSTROPHE = re.compile(r"(?<=[^\W\d_])['’`ʼ](?=[^\W\d_])")

_C = "bcdfghklmnprstvz"  # consonants, as far as the rules below care
_V = "aeiou"
# Ordered rewrites applied to each Latin word. Each folds one family of spellings:
_FOLD_RULES: list[tuple[re.Pattern[str], str]] = [(re.compile(p), r) for p, r in [
    ("x", "ks"),                        # Alexander, Maxim, Xenia -> aleks…, maks…, ksenia
    ("w", "v"),                         # Wladimir
    ("q", "k"),
    ("ph", "f"),                        # Sophia
    ("tch", "ch"),                      # Ivanovitch
    ("tz", "ts"),
    ("ck", "k"),
    ("c(?=[eiy])", "ts"),               # Lucia, Vincent: c sounds ts before e, i, y
    ("c(?!h)", "k"),                    # Victor, Nicolai
    ("kh", "h"),                        # Mikhail / Mihail, Khabarov / Habarov
    ("shch", "sch"),                    # Shchukin / Schukin
    ("j", "y"),                         # Julia, Jakov, Sergej, Natalja
    (f"(?<=[{_C}])yo", "e"),            # Fyodor, Pyotr, Artyom, Semyon (ё is written е)
    ("ye", "e"),                        # Yevgeny, Yelena, Sergeyev, Andreyev
    (f"(?<=[{_C}])ie", "e"),            # Vasiliev / Vasilyev / Васильев
    ("iy(?=[aeou])", "i"),              # Mariya, Yuliya, Anastasiya -> maria, yulia, anastasia
    ("ii(?=[au])", "i"),                # Mariia, Iuliia (passport style)
    ("^i(?=[au])", "y"),                # Iuliia, Iakov -> yulia, yakov
    (f"(?<=[{_C}])y(?=[au])", "i"),     # Natalya, Tatyana, Lyudmila, Ilya -> natalia, tatiana …
    (f"(?<=[{_V}])i(?=[au])", "y"),     # Zoia, Maiia -> zoya, maya
    ("y{2,}", "y"),                     # Майя -> mayya -> maya; Белый -> belyy
    (f"(?<=[{_C}])er$", "r"),           # Alexander / Aleksandr, Peter / Petr
    # (started only where a run of i / y starts: from inside a run the regex would rescan it)
    ("(?<![iy])[iy]+$", "i"),           # -iy -y -ii -ij -yy -ei -ey: Evgeniy / Evgeny / Evgenii
]]
_LATIN_WORD = re.compile(r"[a-z]+")

# Patronymic endings after transliteration (-ович, -евич, -овна, -евна, -ична, -инична); the bare
# -ич is a surname too often (Бабич), so only these common -ич patronymics count.
_PATRONYMIC_SUFFIXES = ("ovich", "evich", "ovna", "evna", "ichna")
_PATRONYMIC_ICH = frozenset({"ilich", "kuzmich", "lukich", "fomich", "nikitich", "savvich"})
_FEMALE_PATRONYMIC = ("ovna", "evna", "ichna")
# Turkic patronymics are two words: "Али оглы" (son of Ali), "Али кызы" (daughter of Ali).
_PATRONYMIC_MARKERS = frozenset({"ogli", "oglu", "kyzi", "kizi", "uli"})
_FEMALE_MARKERS = frozenset({"kyzi", "kizi"})
_FEMALE_SURNAME_ENDINGS = ("ova", "eva", "ina", "aya")
_MALE_SURNAME_ENDINGS = ("ov", "ev", "in", "ski")
_LETTERS = re.compile(r"[^\W\d_]+(?:['’`][^\W\d_]+)*")
_APOSTROPHES = re.compile(r"['’`]")

# Most name fields are words of letters with one space between them ("Иван Петров"). In such a field
# clean_text changes nothing, no phone, email, bracket, quote or separator can be found, and its words
# are `_LETTERS`' matches, so the parsers below skip those passes (`is_plain`; tests/resolver/normalize/
# test_fast_paths.py checks the fast paths against the full ones).
_PLAIN = re.compile(r"[^\W\d_]+(?: [^\W\d_]+)*")


def is_plain(text: object) -> TypeGuard[str]:
    """True for a str of letter words joined by single spaces, short enough that no parser clips it."""
    return isinstance(text, str) and len(text) <= MAX_PARSED_CHARS and _PLAIN.fullmatch(text) is not None


def fold_latin(text: str) -> str:
    """Fold Latin spelling variants of Russian names to one form (see `_FOLD_RULES`).

    "alexander" and "aleksandr" -> "aleksandr"; "julia", "yulia", "yuliya" -> "yulia";
    "evgeniy", "evgeny", "yevgeniy" -> "evgeni"; "sergey", "sergei" -> "sergei";
    "natalia", "natalya" -> "natalia". Expects lowercase; letters outside a-z pass through.
    """
    return _LATIN_WORD.sub(lambda m: _fold_word(m.group()), text)


def transliterate(text: str) -> str:
    """Lowercase Latin key of a text: Cyrillic romanized, accents dropped, spellings folded.

    Scheme: ё -> е first; then the letters of `_CYRILLIC` (ж zh, х kh, ц ts, ч ch, ш sh,
    щ shch, ю yu, я ya, й and ы y; ъ, ь and apostrophes inside words dropped); accents dropped
    (NFKD); then `fold_latin`, whose rules run in order:
      x -> ks, w -> v, q -> k, ph -> f, tch -> ch, c -> ts before e/i/y and k elsewhere,
      kh -> h, shch -> sch, j -> y;
      yo -> e after a consonant, ye -> e, ie -> e after a consonant (Vasiliev = Vasilyev =
      Васильев -> vasilev; we fold "ie" because Latin spellings use it for "ье" as often as
      for "ие", and both sides fold alike);
      iy / ii before a vowel -> i, word-initial ia / iu -> ya / yu, y before a / u after a
      consonant -> i (natalya -> natalia), i between vowels -> y (zoia -> zoya);
      -er after a consonant -> -r (alexander -> aleksandr, peter -> petr);
      a final run of i / y -> i (sergey, sergei -> sergei; evgeniy, evgeny -> evgeni).
    So "Иван Петров" and "Ivan Petrov" both give "ivan petrov". Other characters pass through.
    """
    latin = _INNER_APOSTROPHE.sub("", text.lower().replace("ё", "е")).translate(_TRANSLIT_TABLE)
    if not latin.isascii():
        decomposed = unicodedata.normalize("NFKD", latin)
        latin = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return fold_latin(latin)


# Words up to this long are cached; longer ones are not names and would only fill the caches.
_CACHED_WORD_CHARS = 40


def word_key(word: str) -> str:
    """`transliterate(word)`, remembered for words up to `_CACHED_WORD_CHARS` long."""
    return _cached_word_key(word) if len(word) <= _CACHED_WORD_CHARS else transliterate(word)


@lru_cache(maxsize=1 << 16)  # names repeat: the same few thousand words make up most of a base
def _cached_word_key(word: str) -> str:
    return transliterate(word)


def _fold_word(word: str) -> str:
    return _cached_fold_word(word) if len(word) <= _CACHED_WORD_CHARS else _apply_fold_rules(word)


@lru_cache(maxsize=1 << 16)
def _cached_fold_word(word: str) -> str:
    return _apply_fold_rules(word)


def _apply_fold_rules(word: str) -> str:
    for pattern, replacement in _FOLD_RULES:
        word = pattern.sub(replacement, word)
    return word


def _gender_of(full_name: str) -> str:
    return "f" if full_name.endswith(("a", "ia")) else "m"


def _load_diminutives() -> dict[str, dict[str, str]]:
    """Folded diminutive -> {"default": full, "m": male full, "f": female full} (folded)."""
    table: dict[str, dict[str, str]] = {}
    for row in read_rows("diminutives.tsv"):
        dim, full, *alt = (transliterate(cell) for cell in row)
        forms = {"default": full, _gender_of(full): full}
        if alt:
            forms[_gender_of(alt[0])] = alt[0]
        table[dim] = forms
    return table


_DIMINUTIVES = _load_diminutives()
_FIRST_NAMES = frozenset(transliterate(name) for name in read_lines("first_names.txt")) | frozenset(
    name for forms in _DIMINUTIVES.values() for name in forms.values()
)


@dataclass(frozen=True)
class PersonName:
    """A person's name as comparable parts; every part is folded Latin (`transliterate`).

    `tokens` are the name's words without the patronymic and initials, diminutives expanded to
    the full first name (Саша -> aleksandr), sorted and unique, so word order does not matter.
    `first` is the word recognised as a first name (`data/first_names.txt`, or the word before
    the patronymic), `last` another word, preferably not a first name (None for a lone word that
    is not a known first name, unless initials came with it: "Петров И.И."), `patronymic` the
    patronymic if there was one ("ivanovich", "ali ogli").
    """

    tokens: tuple[str, ...]
    first: str | None
    last: str | None
    patronymic: str | None

    @property
    def key(self) -> str:
        """The tokens joined by spaces: "ivan petrov" for "Петров Иван Иванович"."""
        return " ".join(self.tokens)


def parse_person_name(text: str | None) -> PersonName | None:
    """Parse a person's name in any word order and script; None for junk or text without letters.

    Example:
        >>> parse_person_name("Петров Иван Иванович")
        PersonName(tokens=('ivan', 'petrov'), first='ivan', last='petrov', patronymic='ivanovich')
        >>> parse_person_name("Sasha Petrov").tokens
        ('aleksandr', 'petrov')
    """
    if is_plain(text):  # clean already, and its words are `_LETTERS`' matches
        return None if is_junk_text(text) else _person_of(text.split(" "))
    return _parse_person_name_full(text)


def _parse_person_name_full(text: str | None) -> PersonName | None:
    """`parse_person_name` for any text (the fast path only takes plain ones)."""
    value = clean_text(text)
    if value is None:
        return None
    return _person_of([_APOSTROPHES.sub("", word) for word in _LETTERS.findall(clip(value, between_words))])


def _person_of(letters: list[str]) -> PersonName | None:
    """The name made of these words (as written, apostrophes dropped)."""
    # one letter is an initial ("И." or each of "И.И."): not a name part, however it is written
    words = [folded for word in letters if len(word) > 1 and (folded := word_key(word))]
    if not words:
        return None
    had_initials = len(words) < len(letters)
    patronymic, words = _take_patronymic(words)
    gender = _gender(patronymic, words)
    words = [_expand_diminutive(word, gender) for word in words]
    first = next((word for word in words if word in _FIRST_NAMES), None)
    if first is None and patronymic is not None and len(words) >= 2:
        first = words[-1]  # "Фамилия Имя Отчество" with a first name we do not know
    others = [word for word in words if word != first]
    surnames = [word for word in others if word not in _FIRST_NAMES] or others
    # A lone unknown word may be a first name we do not know ("Айнур"), unless initials came with it
    last = surnames[0] if surnames and (first is not None or len(words) > 1 or had_initials) else None
    return PersonName(tokens=tuple(sorted(set(words))), first=first, last=last, patronymic=patronymic)


def _is_patronymic(word: str) -> bool:
    return word in _PATRONYMIC_ICH or (
        word.endswith(_PATRONYMIC_SUFFIXES) and len(word) > len("ovich") + 1
    )


def _take_patronymic(words: list[str]) -> tuple[str | None, list[str]]:
    """Split the patronymic off; it must follow a first name, or be one of three words or more.

    A surname in -ович (Абрамович, Петрович) looks the same, so with two words the patronymic
    is taken only right after a known first name ("Иван Петрович"), not before it.
    """
    for i, word in enumerate(words):
        if word in _PATRONYMIC_MARKERS and i >= 1 and len(words) >= 3:
            return f"{words[i - 1]} {word}", words[: i - 1] + words[i + 1 :]
    candidates = [i for i, word in enumerate(words) if _is_patronymic(word)]
    if not candidates or len(words) < 2:
        return None, words
    after_first = [i for i in candidates if i > 0 and _is_first_name(words[i - 1])]
    if after_first:
        index = after_first[0]
    elif len(words) >= 3:
        index = candidates[-1]
    else:
        return None, words
    return words[index], words[:index] + words[index + 1 :]


def _is_first_name(word: str) -> bool:
    return word in _FIRST_NAMES or word in _DIMINUTIVES


def _gender(patronymic: str | None, words: list[str]) -> str | None:
    """ "f" or "m" when the patronymic or a surname ending says so, else None."""
    if patronymic is not None:
        if patronymic.endswith(_FEMALE_PATRONYMIC) or patronymic.split()[-1] in _FEMALE_MARKERS:
            return "f"
        return "m"
    for word in words:
        if _is_first_name(word):
            continue
        if word.endswith(_FEMALE_SURNAME_ENDINGS):
            return "f"
        if word.endswith(_MALE_SURNAME_ENDINGS):
            return "m"
    return None


def _expand_diminutive(word: str, gender: str | None) -> str:
    forms = _DIMINUTIVES.get(word)
    if forms is None:
        return word
    return forms.get(gender or "default", forms["default"])


@dataclass(frozen=True)
class NameParts:
    """A contact's name field taken apart: the name, and what else was typed into it."""

    name: str | None
    phones: tuple[str, ...]
    emails: tuple[str, ...]
    company: str | None


_BRACKETS = re.compile(r"[(\[]([^()\[\]]*)[)\]]")
_QUOTED = re.compile(r"[«\"“„]([^«»\"“”„]+)[»\"”“]")
_SEPARATOR = re.compile(r"\s+[/|\\—–-]\s+|\s*[/|\\,;]\s*")
_EDGE_PUNCT = " \t,;:/|\\-—–"
_NAME_EDGE_PUNCT = _EDGE_PUNCT + "()[]«»\"“”„'"


def split_name_field(text: str | None) -> NameParts:
    """Take phones, emails and a company out of a contact's name field.

    Rules, conservative on purpose (a wrong split loses a name, a missed one only keeps noise):
    - phones and emails anywhere are taken out: "Иван +7 916 123-45-67" -> "Иван" + phone;
    - a part in brackets becomes the company when it holds a legal form or quotes
      ("Иван Петров (ООО Ромашка)"); any other bracket is a note and is dropped
      ("Иван (Ваня)", "Анна (бухгалтер)"), unless it is the whole name;
    - after a separator (" / ", "|", ",", " - ") or from a legal form on, the rest is the company
      only when it holds a legal form or quotes: "Петров Иван / ООО Ромашка", "Иван, «Ромашка»";
      "Петров Иван / Ромашка" stays one name;
    - "ИП Иванов Иван" is both the company and, without "ИП", the name.
    """
    if is_plain(text):
        if is_junk_text(text):
            return _NO_PARTS
        # no phone, email, bracket, separator or quote to take out: only a legal form can split it, and
        # one can only start at a word whose transliteration starts one (its words are `_WORD`'s matches)
        if not any(map(_may_start_legal_form, text.split(" "))):
            return NameParts(text if _has_letters(text) else None, (), (), None)  # "²" is no name
        value, company = _split_at_legal_form(text)
        name = _squash(value).strip(_NAME_EDGE_PUNCT)
        return NameParts(name if _has_letters(name) else None, (), (), company)
    return _split_name_field_full(text)


_NO_PARTS = NameParts(None, (), (), None)


def _split_name_field_full(text: str | None) -> NameParts:
    """`split_name_field` for any text (the fast path only takes plain ones)."""
    value = clean_text(text)
    if value is None:
        return _NO_PARTS
    # a longer field is read up to MAX_PARSED_CHARS, cut where no word, phone or address is split
    value = clip(value, between_name_parts)
    emails, value = split_emails(value)
    phones, value = split_phones(value)
    company: str | None = None

    brackets = _BRACKETS.findall(value)
    # spaces squashed: a long run of them would make the separator search below rescan it
    outside = " ".join(_BRACKETS.sub(" ", value).split())
    if brackets and _has_letters(outside):
        value = outside
        for part in brackets:
            if company is None and _looks_like_company(part):
                company = _squash(part)
    elif brackets:
        value = " ".join(brackets)

    if company is None:
        value, company = _split_company(value)
    name = _squash(value).strip(_NAME_EDGE_PUNCT)
    return NameParts(name if _has_letters(name) else None, tuple(phones), tuple(emails), company)


def _split_company(value: str) -> tuple[str, str | None]:
    """(name, company) when a legal form or a quoted name follows the person's name."""
    # The first separator with letters before it is the only one to try: the tail after a later
    # one is a suffix of its tail, and holds a legal form or quotes only if its tail does. (Trying
    # each separator would read the rest of the text once per separator.)
    first_letter = next((i for i, ch in enumerate(value) if ch.isalpha()), len(value))
    for match in _SEPARATOR.finditer(value):
        if match.start() > first_letter:
            head, tail = value[: match.start()], value[match.end() :]
            if _looks_like_company(tail):
                return head, _squash(tail)
            break
    split = _split_at_legal_form(value)
    if split[1] is not None:
        return split
    quoted = _QUOTED.search(value)
    if quoted and _has_letters(value[: quoted.start()]):
        return value[: quoted.start()], _squash(quoted.group(1))
    return value, None


@lru_cache(maxsize=1 << 16)  # words repeat; a long word goes through the cache once and is dropped
def _may_start_legal_form(word: str) -> bool:
    from resolver.normalize.companies import starts_legal_form

    return starts_legal_form(word_key(word))


def _split_at_legal_form(value: str) -> tuple[str, str | None]:
    """(name, company) when a legal form is written in `value`, else (value, None)."""
    # companies imports this module (transliterate, person names), so it is imported here
    from resolver.normalize.companies import PERSON_LEGAL_FORMS, find_legal_form

    legal_form = find_legal_form(value)
    if legal_form is None:
        return value, None
    start, end, canonical = legal_form
    head, tail = value[:start], value[start:]
    if _has_letters(head):
        return head, _squash(tail)
    # "ИП Иванов Иван" is the person's business: the company, and without "ИП" the name
    return (value[end:] if canonical in PERSON_LEGAL_FORMS else ""), _squash(tail)


def _looks_like_company(text: str) -> bool:
    from resolver.normalize.companies import find_legal_form

    return find_legal_form(text) is not None or _QUOTED.search(text) is not None


def _has_letters(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _squash(text: str) -> str:
    return " ".join(text.split()).strip(_EDGE_PUNCT)
