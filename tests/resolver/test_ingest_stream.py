"""A file written batch by batch (`scan.ingest_batches`) on both stores: the same stored rows as the
whole-file ingest, whole or nothing when a bad record comes late, and the same with worker processes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from resolver.entities import CONTACT
from resolver.errors import InputError
from resolver.ingest import iter_record_batches, read_records
from resolver.ingest.pipeline import normalized_file_batches
from resolver.pending import add_pending
from resolver.scan import ingest, ingest_batches, ingest_normalized
from resolver.store import open_store

pytestmark = pytest.mark.both_stores


def _contact(i: int, **fields: object) -> dict:
    return {"id": i, "name": f"Иванов Пётр {i % 7}", "updated_at": 1_700_000_000 + i,
            "custom_fields_values": [{"field_code": "PHONE", "values": [{"value": f"+7 916 100-{i % 50:02d}-{i:02d}"}]},
                                     {"field_code": "EMAIL", "values": [{"value": f"p{i % 30}@mail.ru"}]}],
            **fields}


def _write(path: Path, entities: list[dict]) -> Path:
    path.write_text(json.dumps({"_page": 1, "_embedded": {"contacts": entities}}, ensure_ascii=False),
                    encoding="utf-8")
    return path


def _raw(store, account: str) -> list[tuple]:
    rows = store._dicts("SELECT record_id, raw FROM records WHERE account_id = ? ORDER BY record_id", [account],
                        step="test raw")
    return [(r["record_id"], json.loads(r["raw"]) if isinstance(r["raw"], str) else r["raw"]) for r in rows]


def _rows(store, account: str) -> list[tuple]:
    table = store.scan_input(account, CONTACT).sort_by("unique_id")
    return [tuple(sorted(r.items())) for r in table.to_pylist()]


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-workers"])
@pytest.mark.parametrize("how", ["records", "file"], ids=["record-batches", "file-batches"])
def test_batches_store_what_the_whole_file_ingest_stores(store, tmp_path, workers, how):
    entities = [_contact(i) for i in range(57)]
    entities += [_contact(3, name="Иванов Пётр новый", updated_at=1_800_000_000), _contact(4, updated_at=1)]
    path = _write(tmp_path / "contacts.json", entities)

    if how == "records":
        n = ingest_batches(store, account_id="streamed", entity="contact", workers=workers,
                           batches=iter_record_batches(path, "contact", batch_size=10))
    else:
        n = ingest_normalized(store, account_id="streamed", entity="contact",
                              batches=normalized_file_batches(path, "contact", workers=workers))
    ingest(store, account_id="whole", entity="contact", records=read_records(path, "contact"))

    assert n == 57
    assert _rows(store, "streamed") == _rows(store, "whole")
    assert _raw(store, "streamed") == _raw(store, "whole")  # the objects as received, for merge images
    assert store.record_details("streamed", "contact", ["3"])["3"]["name"] == "Иванов Пётр новый"


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "two-workers"])
def test_file_batches_problems_are_the_readers(tmp_path, workers):
    lines = [json.dumps(_contact(1)), "{oops", json.dumps({"id": "два"}),
             json.dumps({"_embedded": {"contacts": [_contact(4), {"id": 5, "is_deleted": 1}]}}), "[1]"]
    path = tmp_path / "contacts.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")

    with pytest.raises(InputError) as expected:
        read_records(path, "contact")
    with pytest.raises(InputError) as caught:
        list(normalized_file_batches(path, "contact", workers=workers))

    assert caught.value.problems == expected.value.problems


def test_local_phones_are_read_under_the_region(tmp_path):
    path = _write(tmp_path / "kz.json", [{"id": 1, "name": "Асель Нурланова", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "8 701 123 4567"}]}]}])

    [rows] = list(normalized_file_batches(path, "contact", region="KZ", workers=0))

    assert rows.column("phones").to_pylist() == [["+77011234567"]]


def test_a_bad_record_late_in_the_file_stores_nothing(store_target, tmp_path):
    before = _write(tmp_path / "before.json", [_contact(i) for i in range(5)])
    entities = [_contact(i) for i in range(100)] + [{"id": 101, "updated_at": "yesterday"}]
    bad = _write(tmp_path / "bad.json", entities)
    with open_store(store_target) as store:
        ingest_batches(store, account_id="acme", entity="contact", batches=iter_record_batches(before, "contact"))
        kept = _rows(store, "acme")

        with pytest.raises(InputError) as caught:
            ingest_batches(store, account_id="acme", entity="contact",
                           batches=iter_record_batches(bad, "contact", batch_size=10))

        assert [(p.item, p.field) for p in caught.value.problems] == [(100, "updated_at")]
        assert _rows(store, "acme") == kept  # nine batches were written before the error: all rolled back
        assert store.count_records("acme", "contact") == 5


def test_broken_json_late_in_the_file_stores_nothing(store, tmp_path):
    path = tmp_path / "broken.json"
    text = json.dumps({"_embedded": {"contacts": [_contact(i) for i in range(40)]}})
    path.write_text(text[:-10], encoding="utf-8")  # cut inside the last contact

    with pytest.raises(InputError) as caught:
        ingest_batches(store, account_id="acme", entity="contact",
                       batches=iter_record_batches(path, "contact", batch_size=10))

    assert caught.value.problems[0].reason.startswith("invalid JSON")
    assert store.count_records("acme", "contact") == 0


def test_a_file_fulfils_a_waiting_create_anyway(store, tmp_path):
    """A record of a file's rows (built by a worker) fulfils a "create anyway" waiting for its phone."""
    add_pending(store, "acme", "contact", record_ids=["1"], phones=["+7 916 123-45-67"], emails=[], reviewer="anna")
    path = _write(tmp_path / "new.json", [{"id": 2, "name": "Пётр Новый", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "8 (916) 123-45-67"}]}]}])
    assert store.open_pending("acme", "contact", datetime.now(UTC))

    ingest_normalized(store, account_id="acme", entity="contact",
                      batches=normalized_file_batches(path, "contact", workers=0))

    assert store.open_pending("acme", "contact", datetime.now(UTC)) == []
