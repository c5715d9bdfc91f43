"""Conflicts between two records that no shared phone or domain outweighs (resolver/evidence.py uses them).

Two companies are two, whatever phone, site or mail domain they share, when their INNs are valid
and differ, or when each name has a word the other lacks: "ГК Ромашка" / "Ромашка Логистик", and
the sibling sites "Ромашка-1" / "Ромашка-2", "Ромашка Север" / "Ромашка Юг", or when one name adds
only a number or a place word to the other (the head office "Ромашка" and its branch "Ромашка-Север").
A typo is no such word ("Логистик" / "Логистика"), nor is any other word one name adds ("Ромашка" /
"ТД Ромашка").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz.distance import DamerauLevenshtein, Indel, JaroWinkler

from resolver.normalize.companies import parse_company_name

# Words of one name differ by a typo, not by meaning, when this alike (Indel ratio: logistik/logistic 0.88)
_TOKEN_ALIKE = 0.8
# Whole cores this alike differ by a typo ("Ромашко" / "Ромашка"), unless a differing word is a number or place
_CORE_ALIKE = 0.85
_CORE_JW = 0.94  # the name comparison's own fuzzy level (resolver/entities.py)
_MIN_FUZZY_TOKEN = 4  # shorter words ("1", "yug", "gk") must be equal to count as the same word
_TWO_TYPOS_FROM = 5  # words this long may differ by two typos and still be one word

# Words that tell sites or branches of one organisation apart: directions, parts of a city, branch
# words and the largest cities. A name differing only by these (or numbers) is a sibling, not a typo.
_PLACE_WORDS_RU = (
    "север северный северная северо юг южный южная юго запад западный западная восток восточный восточная "
    "центр центральный центральная филиал отделение подразделение представительство офис площадка "
    "москва петербург спб питер новосибирск екатеринбург казань нижний новгород челябинск самара омск "
    "ростов уфа красноярск воронеж пермь волгоград краснодар саратов тюмень тольятти ижевск барнаул "
    "ульяновск иркутск хабаровск ярославль владивосток махачкала томск оренбург кемерово рязань "
    "астрахань пенза липецк киров тула калининград сочи курск тверь ставрополь брянск иваново белгород "
    "сургут владимир архангельск смоленск калуга чита мурманск вологда кострома новгород минск алматы"
)
_PLACE_WORDS_EN = "north northern south southern west western east eastern central centre center branch office"


def _folded(words: str) -> frozenset[str]:
    out: set[str] = set()
    for word in words.split():
        parsed = parse_company_name(word)
        if parsed is not None:
            out.update(parsed.tokens)
    return frozenset(out)


PLACE_WORDS = _folded(_PLACE_WORDS_RU) | _folded(_PLACE_WORDS_EN)


def _is_sibling_word(token: str) -> bool:
    return token.isdigit() or token in PLACE_WORDS


def _alike(a: str, b: str) -> bool:
    if a == b:
        return True
    shorter = min(len(a), len(b))
    if shorter < _MIN_FUZZY_TOKEN or a.isdigit() or b.isdigit() or (a in PLACE_WORDS and b in PLACE_WORDS):
        return False  # Томск / Омск are two places, not a typo
    typos = 1 if shorter < _TWO_TYPOS_FROM else 2  # "Тепли" / "Тепцы": two slips in a longer word
    return Indel.normalized_similarity(a, b) >= _TOKEN_ALIKE or DamerauLevenshtein.distance(a, b) <= typos


def _unmatched(mine: Sequence[str], theirs: Sequence[str]) -> list[str]:
    return [t for t in mine if not any(_alike(t, o) for o in theirs)]


def company_conflict(left: Mapping[str, Any], right: Mapping[str, Any]) -> str | None:
    """Why two company records are two companies whatever phone or domain they share, or None.

    Reads the normalized columns `inn`, `name_core`, `name_tokens` (resolver/entities.py).
    """
    inn_l, inn_r = left.get("inn"), right.get("inn")
    if inn_l and inn_r:
        return None if inn_l == inn_r else "different INN"
    tokens_l, tokens_r = list(left.get("name_tokens") or ()), list(right.get("name_tokens") or ())
    if not tokens_l or not tokens_r:
        return None
    only_l, only_r = _unmatched(tokens_l, tokens_r), _unmatched(tokens_r, tokens_l)
    if not only_l and not only_r:
        return None
    if not only_l or not only_r:  # one name inside the other: "Ромашка" / "ТД Ромашка" is one company,
        extension = only_l or only_r  # "Ромашка" / "Ромашка-Север" its branch
        if all(_is_sibling_word(t) for t in extension):
            return f"a branch: the name adds {' '.join(extension)}"
        return None
    if all(_is_sibling_word(t) for t in only_l + only_r):
        return f"sibling sites: the names differ only by {' / '.join(sorted(set(only_l + only_r)))}"
    core_l, core_r = str(left.get("name_core") or ""), str(right.get("name_core") or "")
    if (Indel.normalized_similarity(core_l, core_r) >= _CORE_ALIKE
            or JaroWinkler.similarity(core_l, core_r) >= _CORE_JW
            or DamerauLevenshtein.distance(core_l, core_r) <= 1):
        return None  # a typo: "Вега" / "Вгеа", "Ромашка Логистк" / "Ромашка Логистик"
    return "different name cores"


def _feminine(word: str) -> bool:
    # Russian feminine forms end in -a once transliterated: Гусева, Высоцкая, Александра, Евгения
    return word.endswith("a")


def _gender_forms(a: str | None, b: str | None) -> bool:
    """Гусев / Гусева, Высоцкий / Высоцкая, Александр / Александра: one stem in both genders, so two people."""
    if not a or not b or a == b or _feminine(a) == _feminine(b) or min(len(a), len(b)) < _MIN_FUZZY_TOKEN:
        return False
    masc, fem = (b, a) if _feminine(a) else (a, b)
    return fem in (masc + "a", masc[:-1] + "aya", masc[:-1] + "aia", masc[:-2] + "aya", masc[:-2] + "aia")


def contact_conflict(left: Mapping[str, Any], right: Mapping[str, Any]) -> str | None:
    """Why two contact records are two people whatever phone, email or company they share, or None.

    One surname or first name in both genders (Гусев / Гусева, Александр / Александра); or names
    that each have a word the other lacks (Ким Елизавета / Вебер Камиль): a department mailbox or an
    office line links colleagues, not one person. Short forms are folded by the name parser (Саша =
    Александр); a typo is no such word ("Иванов" / "Иавнов"), nor is a word one name adds ("Иван" /
    "Иван Петров", initials dropped). A differing patronymic alone is left to its comparison and to
    reviewers (a father and son of one name on one home phone).

    Reads the normalized column `name_tokens` (resolver/entities.py).
    """
    tokens_l, tokens_r = list(left.get("name_tokens") or ()), list(right.get("name_tokens") or ())
    if not tokens_l or not tokens_r:
        return None
    # over all words: an unknown first name ("Станислава") is taken for the surname
    for a in tokens_l:
        for b in tokens_r:
            if _gender_forms(a, b):
                return f"one name in two genders: {a} / {b}"
    only_l, only_r = _unmatched(tokens_l, tokens_r), _unmatched(tokens_r, tokens_l)
    if only_l and only_r:
        return f"different names: {' '.join(only_l)} / {' '.join(only_r)}"
    return None
