"""Writing a synthetic set to disk: an amoCRM API page and its truth CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from training.synthetic.common import Entity, SyntheticSet

_PLURAL: dict[Entity, str] = {"contact": "contacts", "company": "companies"}
_WRITE_CHUNK = 2000  # records encoded per write by write_set


def write_set(s: SyntheticSet, out_dir: Path) -> tuple[Path, Path]:
    """Write `contacts.json` / `companies.json` (an amoCRM page) and `<same>_truth.csv`; return both paths."""
    plural = _PLURAL[s.entity]
    out_dir.mkdir(parents=True, exist_ok=True)
    page, truth = out_dir / f"{plural}.json", out_dir / f"{plural}_truth.csv"
    encode = json.JSONEncoder(ensure_ascii=False).encode
    with page.open("w", encoding="utf-8") as f:  # the same text as json.dump, a third of its time at 318k
        f.write(f'{{"_embedded": {{"{plural}": [')
        for start in range(0, len(s.entities), _WRITE_CHUNK):
            f.write((", " if start else "") + ", ".join(map(encode, s.entities[start:start + _WRITE_CHUNK])))
        f.write("]}}")
    with truth.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("record_id", "entity_key", "hard_negative"))
        writer.writerows((rid, key, s.hard_negatives.get(rid, "")) for rid, key in s.truth.items())
    return page, truth

