"""Normalization gives exactly the rows it gave before values were memoized (issue 15, item 1).

`data/normalize_golden.json.gz` holds generated contacts and companies (amoCRM API v4 shape, hard cases
and junk included) with the rows `EntitySpec.normalize` made of them with the code from before the
memo caches. Each record is normalized twice: a cache hit must give what a miss gave.

Regenerate (only when normalization changes on purpose): python tests/resolver/test_normalize_identity.py
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from resolver.entities import spec_for
from resolver.ingest import read_amocrm

GOLDEN = Path(__file__).parent / "data" / "normalize_golden.json.gz"
SAMPLES = Path(__file__).parent / "ingest" / "fixtures"  # the amoCRM samples (shared/data/amocrm)

# values that stress the normalizers: junk, auto-created names, several values in one field, long text
_ODD_NAMES = ["-", ".", "нет", "Новый контакт по звонку с +7 (916) 123-45-67 из UIS", "Заявка от «Анна»",
              "Иван Петров ООО Ромашка", "ivan@mail.ru", "+7 916 123 45 67", "  Пётр   Иванович  Сидоров ",
              "Julia Ivanova", "ЮЛИЯ", "И. И. Иванов", "x" * 600, "Анна-Мария Смит-Петрова", "", "   "]
_ODD_PHONES = ["+7 (000) 000-00-00", "8 916 123-45-67, 8 495 765 43 21", "89161234567.0", "доб. 123",
               "+375 29 123 45 67", "7" * 400, "нет", "tel:+79161234567"]
_ODD_EMAILS = ["test@test.ru", "Иван <Ivan.Petrov+crm@GMAIL.com>", "a@b.c; d@e.ru, f@ya.ru", "mailto:x@x.ru",
               "@" * 300, "no email"]


def _odd_entities(entity: str) -> list[dict[str, Any]]:
    out = []
    for i, name in enumerate(_ODD_NAMES):
        out.append({
            "id": 9_000_000 + i, "name": name,
            "custom_fields_values": [
                {"field_code": "PHONE", "values": [{"value": _ODD_PHONES[i % len(_ODD_PHONES)]}]},
                {"field_code": "EMAIL", "values": [{"value": _ODD_EMAILS[i % len(_ODD_EMAILS)]}]},
                {"field_code": "WEB", "values": [{"value": "https://www.Romashka.ru/about"}]},
                {"field_name": "ИНН", "values": [{"value": "7707083893"}]},
            ],
            "_embedded": {"companies": [{"id": 1, "name": _ODD_NAMES[-i - 1] or "ООО «Ромашка»"}]},
        })
    return out


def _entities(entity: str) -> list[dict[str, Any]]:
    from training.synthetic import generate_companies, generate_contacts

    gen = generate_contacts if entity == "contact" else generate_companies
    plural = "contacts" if entity == "contact" else "companies"
    sample = json.loads((SAMPLES / f"{plural}_page.json").read_text(encoding="utf-8"))["_embedded"][plural]
    return [*sample, *_odd_entities(entity), *gen(1500 if entity == "contact" else 600, seed=77).entities]


def _rows(entity: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    spec = spec_for(entity)  # type: ignore[arg-type]
    return [json.loads(json.dumps(spec.normalize(r), ensure_ascii=False)) for r in read_amocrm(entities, entity)]  # type: ignore[arg-type]


def _golden() -> dict[str, Any]:
    with gzip.open(GOLDEN, "rt", encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


@pytest.mark.parametrize("entity", ["contact", "company"])
def test_rows_identical_to_before_memoization(entity: str) -> None:
    golden = _golden()[entity]
    first = _rows(entity, golden["entities"])
    again = _rows(entity, golden["entities"])  # every value now comes from the caches
    assert first == golden["rows"]
    assert again == golden["rows"]


def _write() -> None:
    GOLDEN.parent.mkdir(exist_ok=True)
    data = {}
    for entity in ("contact", "company"):
        entities = _entities(entity)
        data[entity] = {"entities": entities, "rows": _rows(entity, entities)}
    with gzip.open(GOLDEN, "wt", encoding="utf-8", compresslevel=9) as fh:
        json.dump(data, fh, ensure_ascii=False)
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    _write()
