"""The default phone region of an account or a file: local numbers ("8 029 …") are read as that country's.

Phone normalization assumes Russia for numbers written without "+" (phones.py). An amoCRM account in
Kazakhstan or Belarus writes its local numbers its own way, so its records are read with its country
instead: each raw phone value is turned into E.164 under that region first, and E.164 reads the same
under any region afterwards. Names that carry a phone ("Новый контакт по звонку с …") keep the default.
"""

from __future__ import annotations

from dataclasses import replace

import phonenumbers

from resolver.normalize.phones import normalize_phones
from resolver.records import Record

DEFAULT_REGION = "RU"


def region_for_country(country: str | None) -> str:
    """An ISO 3166 alpha-2 code (any case) that libphonenumber knows -> that code; anything else -> RU."""
    code = (country or "").strip().upper()
    return code if len(code) == 2 and code in phonenumbers.SUPPORTED_REGIONS else DEFAULT_REGION


def check_region(region: str) -> str:
    """`--region XX` as given by a user: the upper-cased code, or ValueError naming what is accepted."""
    code = region.strip().upper()
    if len(code) != 2 or code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"region {region[:20]!r} is not an ISO 3166 country code libphonenumber knows "
                         "(e.g. RU, KZ, BY, UZ)")
    return code


def localize_phones(record: Record, region: str) -> Record:
    """`record` with its phone values written in E.164 as read under `region` (unreadable values kept as they are)."""
    if region == DEFAULT_REGION or not record.phones:
        return record
    phones = []
    for raw in record.phones:
        found = normalize_phones(raw, region)
        phones.append(", ".join(found) if found else raw)
    return replace(record, phones=tuple(phones))
