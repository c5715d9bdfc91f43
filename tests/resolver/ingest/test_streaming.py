"""Streaming amoCRM JSON / JSONL (resolver/ingest/jsonstream.py): batches, the same records and problems
as the whole-file reader, hostile input, error positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from resolver.errors import InputError
from resolver.ingest import iter_record_batches, jsonstream
from resolver.ingest.amocrm import read_amocrm_file
from resolver.ingest.jsonstream import iter_amocrm_batches, latest_per_id

SAMPLES = Path(__file__).parent / "fixtures"


@pytest.fixture(params=[1 << 20, 7], ids=["1MiB-window", "7-char-window"])
def window(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every test runs with the real window and one so small that every value straddles its end."""
    monkeypatch.setattr(jsonstream, "_READ_CHARS", request.param)
    return int(request.param)


def _contact(record_id: int, **fields: object) -> dict:
    return {"id": record_id, "name": f"Контакт {record_id}", **fields}


def _outcome(read, path: Path, entity: str = "contact") -> object:
    """Records, or the problems of the InputError the reader raised."""
    try:
        return read(path, entity)
    except InputError as exc:
        return exc.problems


def _streamed(path: Path, entity: str) -> object:
    return latest_per_id(iter_amocrm_batches(path, entity, batch_size=2))  # type: ignore[arg-type]


_A, _B, _C = _contact(1), _contact(2), _contact(3)
SHAPES = {
    "list": [_A, _B, _C],
    "page": {"_page": 1, "_links": {"self": {"href": "x"}}, "_embedded": {"contacts": [_A, _B, _C]}},
    "page-fields-after": {"_embedded": {"contacts": [_A, _B]}, "_page": 2, "_links": {}},
    "single-object": _A,
    "list-of-pages": [{"_embedded": {"contacts": [_A]}}, {"_embedded": {"contacts": [_B, _C]}}],
    "empty-page": {"_page": 1, "_embedded": {"contacts": []}},
    "empty-list": [],
    "empty-object": {},
    "embedded-companies": [{**_A, "_embedded": {"companies": [{"id": 9}]}}],
    # an entity whose own _embedded holds contacts (a company's) is an entity, not a page
    "entity-with-contacts": {"id": 7, "name": "ООО Ромашка", "_embedded": {"contacts": [{"id": 1}]}},
    "companies-page-as-contacts": {"_page": 1, "_embedded": {"companies": [_A]}},
    "leads-page-in-list": [{"_page": 1, "_embedded": {"leads": []}}],
    "page-not-list": {"_embedded": {"contacts": {"id": 1}}},
    "null": None,
    "string": "contacts",
    "number": 42,
    "bad-entities": [_A, {"id": "два"}, 5, {"id": 4, "updated_at": "x"}],
    "duplicate-ids": [_contact(1, name="старый", updated_at=100), _B, _C, _contact(1, name="новый", updated_at=200),
                      _contact(2, name="второй", updated_at=None), _contact(3, name="тот же", updated_at=None)],
    "unicode-and-escapes": [_contact(1, name="Ёлка \u2028 \"кавычки\" \\ \t"), _contact(2, name="𝔘𝔫𝔦")],
    # brackets inside strings mislead the chunk cutter's count: those entities are read one by one
    "page-brackets-in-names": {"_embedded": {"contacts": [
        _contact(1, name="a}, {b"), _contact(2, name="[[[ {"), _A, _B, _contact(5, name="}]}, ]"), _C] * 3}},
    "page-of-many": {"_embedded": {"contacts": [_contact(i, name=f"Имя {i} ") for i in range(300)]}},
    "page-non-objects": {"_embedded": {"contacts": [_A, 5, "x", None, [_B], _C, 7]}},
}


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
@pytest.mark.parametrize("indent", [None, 2], ids=["one-line", "indented"])
def test_same_records_and_problems_as_the_whole_file_reader(tmp_path, window, shape, indent):
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps(SHAPES[shape], ensure_ascii=False, indent=indent), encoding="utf-8")

    assert _outcome(_streamed, path) == _outcome(read_amocrm_file, path)


@pytest.mark.parametrize(("name", "entity"), [("contacts_page.json", "contact"), ("companies_page.json", "company")])
def test_the_samples_read_as_before(tmp_path, window, name, entity):
    assert _streamed(SAMPLES / name, entity) == read_amocrm_file(SAMPLES / name, entity)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        '[\n  {"id": 1},\n  {"id": 2,}\n]',
        '{"_embedded": {"contacts": [\n{"id": 1},\n{"id": 2} {"id": 3}]}}',
        '{"_embedded": {"contacts": [{"id": 1}, ',
        '[{"id": 1}] [{"id": 2}]',
        "",
        "   \n  ",
        '{"_embedded" {"contacts": []}}',
        '{"_page": 1, 5: 2}',
        '[{"id": 1}, {"id": 2, "name": "обрыв',
        '\n\n    [1, 2',
        '{"_embedded": {"contacts": [{"id": 12345678901234567890123}]}}',
    ],
    ids=["trailing-comma", "missing-comma", "truncated", "extra-data", "empty", "blank", "missing-colon",
         "bad-key", "unterminated-string", "truncated-list", "long-number"],
)
def test_invalid_json_is_located_as_before(tmp_path, window, text):
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")

    streamed, whole = _outcome(_streamed, path), _outcome(read_amocrm_file, path)
    if isinstance(whole, list) and whole and not hasattr(whole[0], "record_id"):
        # the same place; the decoder's wording for it may differ when the text ends early
        assert [(p.source, p.line, p.field) for p in streamed] == [(p.source, p.line, p.field) for p in whole]
        assert all(p.reason.startswith("invalid JSON: ") for p in streamed)
    else:
        assert streamed == whole


def test_batches_are_bounded_and_in_file_order(tmp_path, window):
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps({"_embedded": {"contacts": [_contact(i) for i in range(10)]}}), encoding="utf-8")

    batches = list(iter_amocrm_batches(path, "contact", batch_size=4))

    assert [[r.record_id for r in b] for b in batches] == [["0", "1", "2", "3"], ["4", "5", "6", "7"], ["8", "9"]]


def test_problems_come_after_every_batch(tmp_path, window):
    """A bad record late in a file is raised after the good batches: the caller's transaction drops them."""
    path = tmp_path / "contacts.json"
    path.write_text(json.dumps([_contact(i) for i in range(6)] + [{"id": -1}]), encoding="utf-8")
    stream = iter_amocrm_batches(path, "contact", batch_size=3)

    assert [len(b) for b in (next(stream), next(stream))] == [3, 3]
    with pytest.raises(InputError) as caught:
        next(stream)
    assert [(p.item, p.field) for p in caught.value.problems] == [(6, "id")]


def test_jsonl_reads_and_locates_as_before(tmp_path, window):
    page = {"_embedded": {"contacts": [{"id": 5, "is_deleted": 1}, _contact(4), {"id": None}]}}
    lines = ["[1, 2]", json.dumps(page), "", "{oops", json.dumps(_contact(7)) + "\r", json.dumps({"id": "два"}),
             json.dumps({"_page": 1, "_embedded": {"leads": []}}), "[" * 5000 + "]" * 5000]
    path = tmp_path / "contacts.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    good = tmp_path / "good.jsonl"
    good.write_text("\ufeff" + json.dumps(_contact(1)) + "\n" + json.dumps({"_embedded": {"contacts": [_B, _C]}}),
                    encoding="utf-8")

    assert _outcome(_streamed, path) == _outcome(read_amocrm_file, path)
    assert _outcome(_streamed, good) == _outcome(read_amocrm_file, good)


def test_not_utf8_names_the_line(tmp_path, window):
    path = tmp_path / "cp1251.json"
    path.write_bytes('[{"id": 1},\n{"id": 2, "name": "Иван"}]'.encode("cp1251"))

    assert _outcome(_streamed, path) == _outcome(read_amocrm_file, path)


def test_an_overlong_value_is_refused_with_its_place(tmp_path, window, monkeypatch):
    monkeypatch.setattr(jsonstream, "MAX_VALUE_CHARS", 1000)
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"_embedded": {"contacts": [_A, _contact(2, name="x" * 5000)]}}), encoding="utf-8")

    with pytest.raises(InputError) as caught:
        list(iter_amocrm_batches(path, "contact"))

    [problem] = caught.value.problems
    assert problem.line == 1 and "longer than 1,000 characters" in problem.reason


def test_an_overlong_jsonl_line_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonstream, "MAX_VALUE_CHARS", 1000)
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(_A) + "\n" + json.dumps(_contact(2, name="x" * 5000)) + "\n", encoding="utf-8")

    with pytest.raises(InputError) as caught:
        list(iter_amocrm_batches(path, "contact"))

    assert [(p.line, "longer than 1,000 bytes" in p.reason) for p in caught.value.problems] == [(2, True)]


def test_deep_nesting_is_an_input_error_not_a_crash(tmp_path, window):
    path = tmp_path / "deep.json"
    path.write_text('{"_embedded": {"contacts": [' + "[" * 100_000 + "]" * 100_000 + "]}}", encoding="utf-8")

    with pytest.raises(InputError):
        list(iter_amocrm_batches(path, "contact"))


def test_an_entity_field_after_streamed_entities_is_an_error(tmp_path, window):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps({"_embedded": {"contacts": [_A, _B]}, "id": 5}), encoding="utf-8")

    with pytest.raises(InputError) as caught:
        list(iter_amocrm_batches(path, "contact"))

    assert "entity field 'id' after its entities" in str(caught.value)


def test_problems_stop_at_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonstream, "MAX_PROBLEMS", 5)
    path = tmp_path / "junk.json"
    path.write_text(json.dumps([{"id": "x"}] * 100), encoding="utf-8")

    with pytest.raises(InputError) as caught:
        list(iter_amocrm_batches(path, "contact"))

    assert len(caught.value.problems) == 5


def test_tables_come_in_batches_too(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text("id,name,phone\n" + "".join(f"{i},Иван {i},+7916123450{i}\n" for i in range(5)), encoding="utf-8")

    batches = list(iter_record_batches(path, "contact", batch_size=2))

    assert [[r.record_id for r in b] for b in batches] == [["0", "1"], ["2", "3"], ["4"]]


@pytest.mark.parametrize(
    "data",
    [
        b'{"_embedded": {"contacts": [{"id": 1, "x": NaN}, {"id": 2, "y": 1e999}, {"id": 3}]}}',
        b'\xef\xbb\xbf{"_embedded": {"contacts": [{"id": 1}, {"id": 2, "name": "\\ud800"}, {"id": 3}]}}',
        b'{"_embedded": {"contacts": [{"id": 1},\n {"id": 2, "name": "\xff"}, {"id": 3}]}}',
        b'{"_embedded": {"contacts": [{"id": 1},\n {"id": 2}, {"id": 3}\n}}',
    ],
    ids=["nan-and-overflow", "bom-and-lone-surrogate", "not-utf8", "unclosed-array"],
)
def test_what_the_chunk_cutter_refuses_reads_as_before(tmp_path, window, data):
    """Text msgspec refuses but Python's decoder takes (or locates as an error) is read entity by entity."""
    path = tmp_path / "contacts.json"
    path.write_bytes(data)

    streamed, whole = _outcome(_streamed, path), _outcome(read_amocrm_file, path)
    if isinstance(whole, list) and whole and not hasattr(whole[0], "record_id"):  # the same place, as above
        assert [(p.source, p.line, p.field) for p in streamed] == [(p.source, p.line, p.field) for p in whole]
    else:
        assert streamed == whole
