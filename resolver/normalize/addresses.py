"""Postal addresses -> house number, street core and city, for the `address` extra-field kind.

Two records of one place write its address differently: "221 E. 51st St." / "221 East 51st Street",
"ул. Ленина, д. 5, кв. 12" / "улица Ленина 5". Abbreviations are folded to one word, the street's
type word (street, улица) is dropped from the core (one source writes it, the other does not), the
flat or suite is dropped (a company's two floors are one address), and the house number is kept
apart: two addresses on one street with different house numbers are two places.

The comparable form is one string `house|street|city` (empty parts allowed), so it fits one column;
entities.py compares its parts in SQL. Reads at most `MAX_PARSED_CHARS` characters: linear time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from resolver.normalize._limits import clip_words
from resolver.normalize.junk import clean_text
from resolver.normalize.names import transliterate

SEPARATOR = "|"

# Abbreviation -> the word it stands for (lowercase; dots and hyphens inside are kept by the tokenizer)
_WORDS = {
    # Russian street types and markers
    "ул": "улица", "у": "улица", "пр-т": "проспект", "просп": "проспект", "пр": "проспект", "пр-кт": "проспект",
    "пер": "переулок", "ш": "шоссе", "наб": "набережная", "пл": "площадь", "б-р": "бульвар", "бул": "бульвар",
    "бульв": "бульвар", "пр-д": "проезд", "туп": "тупик", "мкр": "микрорайон", "мкрн": "микрорайон",
    "д": "дом", "кв": "квартира", "оф": "офис", "корп": "корпус", "к": "корпус", "стр": "строение",
    "г": "город", "гор": "город", "обл": "область", "р-н": "район", "пом": "помещение",
    # English street types, directions and units
    "st": "street", "str": "street", "ave": "avenue", "av": "avenue", "rd": "road", "blvd": "boulevard",
    "bl": "boulevard", "dr": "drive", "ln": "lane", "ct": "court", "pl": "place", "pkwy": "parkway",
    "hwy": "highway", "sq": "square", "ter": "terrace", "cir": "circle", "expy": "expressway",
    "n": "north", "s": "south", "e": "east", "w": "west", "ne": "northeast", "nw": "northwest",
    "se": "southeast", "sw": "southwest", "apt": "apartment", "ste": "suite", "fl": "floor", "rm": "room",
    "bldg": "building", "#": "unit",
}
# Words that name the kind of street, not which one: dropped from the street core
_STREET_TYPES = frozenset({
    "улица", "проспект", "переулок", "шоссе", "набережная", "площадь", "бульвар", "проезд", "тупик", "микрорайон",
    "street", "avenue", "road", "boulevard", "drive", "lane", "court", "place", "parkway", "highway", "square",
    "terrace", "circle", "expressway", "way",
})
# A marker whose next token is a flat, office or floor number: both are dropped
_UNIT_MARKERS = frozenset({"квартира", "офис", "помещение", "apartment", "suite", "floor", "room", "unit"})
# Markers of the house number's own parts ("корп. 2", "стр. 1"): kept with the house number
_HOUSE_PARTS = frozenset({"корпус", "строение", "building"})
_HOUSE_MARKER = "дом"
_CITY_MARKER = "город"
# Words that are neither street nor city: regions, countries
_REGION_MARKERS = frozenset({"область", "район", "россия", "russia", "usa", "us"})
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*|#", re.UNICODE)
_HOUSE = re.compile(r"\d{1,5}[a-zа-я]?(?:-\d{1,5}[a-zа-я]?)?")
_POSTCODE = re.compile(r"\d{5,6}")
_US_STATE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True)
class Address:
    """An address's parts: `house` ("5", "5 корпус 2"), `street` (core words), `city`; empty when unknown."""

    house: str
    street: str
    city: str

    @property
    def key(self) -> str:
        return SEPARATOR.join((_latin(self.house), _latin(self.street), _latin(self.city)))


def _latin(text: str) -> str:
    return " ".join(transliterate(text).split()) if text else ""


def parse_address(value: object) -> Address | None:
    """House number, street core and city of a free-text address, or None when it names no street."""
    text = clean_text(value)
    if text is None:
        return None
    parts = [_tokens(part) for part in clip_words(text).lower().split(",")]
    parts = [p for p in parts if p]
    house, city = "", ""
    streets: list[list[str]] = []  # street words per comma-separated part
    typed: list[bool] = []  # the part has a street type or a number: it is the street's part
    for tokens in parts:
        street: list[str] = []
        is_street = False
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if tok in _UNIT_MARKERS:
                i += 2  # the flat / suite and its number
                continue
            if tok == _CITY_MARKER and nxt:
                city, i = _until_marker(tokens, i + 1)
                continue
            if tok == _HOUSE_MARKER and _HOUSE.fullmatch(nxt) and not house:
                house, i, is_street = nxt, i + 2, True
                continue
            if tok in _HOUSE_PARTS and house and nxt.isdigit():
                house, i = f"{house} {tok} {nxt}", i + 2
                continue
            if _POSTCODE.fullmatch(tok) and (i == len(tokens) - 1 or len(tok) == 6):
                i += 1  # a zip at the end, or a Russian 6-digit index anywhere
                continue
            if _US_STATE.fullmatch(tok) and _POSTCODE.fullmatch(nxt):
                i += 1  # "IL 60302"
                continue
            if not house and _HOUSE.fullmatch(tok):
                house, i, is_street = tok, i + 1, True
                continue
            if tok in _STREET_TYPES:
                is_street = True
            elif tok not in _REGION_MARKERS and tok != _HOUSE_MARKER:
                street.append(tok)
            i += 1
        streets.append(street)
        typed.append(is_street)
    # "Москва, ул. Ленина 5" / "221 Main St, Chicago": a part of its own with no street type or house
    # number, before or after the street's part, is the city
    if not city and len(parts) > 1 and any(typed):
        if not typed[0] and streets[0]:
            city, streets[0] = " ".join(streets[0]), []
        elif not typed[-1] and streets[-1]:
            city, streets[-1] = " ".join(streets[-1]), []
    street = [t for part in streets for t in part]
    core = " ".join(street)
    if not core and not house:
        return None
    return Address(house=house, street=core, city=city)


def _tokens(text: str) -> list[str]:
    """Words with abbreviations folded: "пр-т" -> проспект, "St." -> street, "д.5" -> дом 5."""
    out: list[str] = []
    for raw in _TOKEN.findall(text):
        word = _WORDS.get(raw, raw)
        # "д5", "кв12" written together: the marker and its number apart
        m = re.fullmatch(r"(д|кв|оф|корп|стр)(\d+\w?)", word)
        if m:
            out += [_WORDS[m.group(1)], m.group(2)]
        else:
            out.append(word)
    return out


def _until_marker(tokens: list[str], start: int) -> tuple[str, int]:
    """The city's words from `start` up to the next marker, street type or number; (city, next index)."""
    end = start
    while end < len(tokens) and not (tokens[end] in _WORDS.values() or any(c.isdigit() for c in tokens[end])):
        end += 1
    return " ".join(tokens[start:end]), max(end, start + 1)


def normalize_address(value: object) -> str | None:
    """The comparable form `house|street|city` (transliterated to Latin), or None."""
    address = parse_address(value)
    return address.key if address else None
