"""The golden scan set: compact generated contacts and companies, and what the scan makes of them.

`python -m tests.resolver.golden_scan` rewrites tests/resolver/fixtures/scan_golden.json from the current
code: do it only when a change is meant to change scores (a new model, a new rule), never for a speed change.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from resolver.linkage import load_model
from resolver.records import Entity, Record
from resolver.scan import ingest, scan
from resolver.store import Store

FIXTURE = Path(__file__).parent / "fixtures" / "scan_golden.json"
ACCOUNT = "golden"
DIGITS = 6  # probabilities are compared rounded: the last bits of a float sum may move with the SQL's order
_FIELDS = ("record_id", "name", "phones", "emails", "company_name", "inn", "website", "updated_at")


def generate() -> dict[str, list[list[Any]]]:
    """Records of the set (fixed seeds), as compact rows of `_FIELDS`."""
    from resolver.ingest import read_amocrm
    from training.synthetic import generate_companies, generate_contacts

    out: dict[str, list[list[Any]]] = {}
    sets = (("contact", generate_contacts, 1500, 7701), ("company", generate_companies, 500, 7702))
    for entity, gen, n, seed in sets:
        rows = []
        for r in read_amocrm(gen(n, seed=seed).entities, entity):
            rows.append([r.record_id, r.name, list(r.phones), list(r.emails), r.company_name, r.inn, r.website,
                         int(r.updated_at.timestamp()) if r.updated_at else None])
        out[entity] = rows
    return out


def records(rows: list[list[Any]], entity: Entity) -> list[Record]:
    out = []
    for row in rows:
        d = dict(zip(_FIELDS, row, strict=True))
        out.append(Record(entity, d["record_id"], name=d["name"], phones=tuple(d["phones"]), emails=tuple(d["emails"]),
                          company_name=d["company_name"], inn=d["inn"], website=d["website"],
                          updated_at=datetime.fromtimestamp(d["updated_at"], UTC) if d["updated_at"] else None))
    return out


def pairs_of(store: Store, entity: Entity, account: str = ACCOUNT) -> list[list[Any]]:
    """The last scan's stored pairs: [left, right, probability rounded, separated], sorted."""
    cur = store._execute("SELECT left_id, right_id, match_probability, separated FROM pairs "
                         "WHERE account_id = ? AND entity = ? ORDER BY left_id, right_id", [account, entity],
                         step="golden pairs")
    return [[a, b, round(float(p), DIGITS), bool(s)] for a, b, p, s in cur.fetchall()]


def groups_of(store: Store, entity: Entity, account: str = ACCOUNT) -> list[list[Any]]:
    """The last scan's groups: [group_id, sorted members, score rounded, needs_review, survivor], sorted."""
    by_group: dict[str, list[Any]] = {}
    for row in store.groups_export(account, entity):
        g = by_group.setdefault(row["group_id"], [row["group_id"], [], round(float(row["group_score"]), DIGITS),
                                                  bool(row["needs_review"]), None])
        g[1].append(row["record_id"])
        if row["is_survivor"]:
            g[4] = row["record_id"]
    return sorted([g[0], sorted(g[1]), *g[2:]] for g in by_group.values())


def outcome(store: Store, entity: Entity, account: str = ACCOUNT) -> dict[str, Any]:
    return {"pairs": pairs_of(store, entity, account), "groups": groups_of(store, entity, account)}


def run(rows: dict[str, list[list[Any]]], path: str | Path = ":memory:") -> dict[str, Any]:
    """Import the set into a fresh store, scan both entities with the shipped models, and read the outcome."""
    out: dict[str, Any] = {}
    with Store(path) as store:
        for entity in ("contact", "company"):
            ingest(store, account_id=ACCOUNT, entity=entity, records=records(rows[entity], entity))
            scan(store, account_id=ACCOUNT, model=load_model(entity))
            out[entity] = outcome(store, entity)
    return out


def main() -> int:
    rows = generate()
    data = {"records": rows, "expected": run(rows)}
    FIXTURE.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{FIXTURE}: {FIXTURE.stat().st_size} bytes; "
          + ", ".join(f"{e}: {len(v['pairs'])} pairs, {len(v['groups'])} groups" for e, v in data["expected"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
