"""amoCRM JSON / JSONL files read as a stream of record batches, never the whole file at once.

A 318,000-contact export is one 280 MB page (`{"_embedded": {"contacts": [...]}}`); `json.load` of it
holds every entity as Python objects at once (about 3 GB). Here only the structure around the entities
is walked by hand; each entity is decoded by the standard library's C decoder (`raw_decode`) from a
window of the text, so memory holds one window and one batch. The shapes are `read_amocrm`'s: a list of
entities, a page, a list of pages or one entity object; problems are its problems, located the same way
(`.json`: the entity's 0-based index in the flattened list, a syntax error by line and column; `.jsonl`:
the 1-based line).

Hostile input: one value (an entity, a page's other fields, a JSONL line) is at most `MAX_VALUE_CHARS`;
a value that does not fit in the window is decoded again from a window at least twice as large, so the
work stays linear in the file. Reading stops after `MAX_PROBLEMS` problems.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from resolver.errors import InputError, InputProblem
from resolver.ingest.amocrm import (
    _COLLECTION,
    _ENTITY_KEYS,
    _ExtraMatcher,
    _flatten,
    _jsonl_line,
    _parse_entity,
    _Problems,
)
from resolver.records import Entity, Record

__all__ = [
    "BATCH_RECORDS", "MAX_PROBLEMS", "MAX_VALUE_CHARS", "add_problems", "iter_amocrm_batches", "iter_located_batches",
    "latest_per_id", "parse_batch", "raise_problems",
]

BATCH_RECORDS = 20_000
# One entity is a few kB; a page in a list of pages is at most 250 of them. 64 MB is neither.
MAX_VALUE_CHARS = 64 * 1024 * 1024
MAX_PROBLEMS = 1_000
_READ_CHARS = 1 << 20
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()


class _Syntax(Exception):
    """Invalid JSON at an absolute character offset of the text."""

    def __init__(self, msg: str, offset: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.offset = offset


class _Window:
    """A window over the decoded text of a binary file: `buf[pos:]` is what is left to read.

    Consumed text is dropped as the window moves, so memory is about one read plus the longest value.
    Line and column of any offset still in the window are known (lines counted in what was dropped).
    """

    def __init__(self, fh: IO[bytes], source: str) -> None:
        self.fh = fh
        self.source = source
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.buf = ""
        self.pos = 0
        self.base = 0  # absolute offset of buf[0]
        self.base_line = 1  # line of buf[0]
        self.base_col = 1  # column of buf[0]
        self.eof = False
        self.byte_lines = 0  # newlines in the bytes decoded so far (for a decoding error's line)

    def more(self, at_least: int = 0) -> bool:
        """Read at least `at_least` more characters (fewer at the end of the file); False at its end."""
        if self.eof:
            return False
        at_least = max(at_least, _READ_CHARS)
        if self.pos > len(self.buf) // 2:
            self._drop()
        got = 0
        while got < at_least:
            data = self.fh.read(at_least - got)
            try:
                text = self.decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                line = self.byte_lines + data[: max(exc.start, 0)].count(b"\n") + 1
                raise InputError.one("not UTF-8 text", source=self.source, line=line) from exc
            self.byte_lines += data.count(b"\n")
            self.buf += text
            got += len(text)
            if not data:
                self.eof = True
                break
        return got > 0

    def _drop(self) -> None:
        dropped = self.buf[: self.pos]
        newlines = dropped.count("\n")
        if newlines:
            self.base_line += newlines
            self.base_col = len(dropped) - dropped.rfind("\n")
        else:
            self.base_col += len(dropped)
        self.base += self.pos
        self.buf = self.buf[self.pos:]
        self.pos = 0

    def where(self, offset: int) -> tuple[int, int]:
        """(line, column), both 1-based, of an absolute offset still in the window."""
        i = offset - self.base
        last_nl = self.buf.rfind("\n", 0, i)
        line = self.base_line + self.buf.count("\n", 0, i)
        return line, (i - last_nl if last_nl >= 0 else self.base_col + i)

    def peek(self) -> str:
        """The next character that is not whitespace ("" at the end of the file), not consumed."""
        while True:
            buf, pos, n = self.buf, self.pos, len(self.buf)
            while pos < n and buf[pos] in _WS:
                pos += 1
            self.pos = pos
            if pos < n:
                return buf[pos]
            if not self.more():
                return ""

    def take(self, expected: str) -> str:
        """Consume the next character, which must be one of `expected`."""
        ch = self.peek()
        if not ch or ch not in expected:
            shown = " or ".join(repr(c) for c in expected)
            raise _Syntax(f"Expecting {shown}" if ch else "Unexpected end of file", self.base + self.pos)
        self.pos += 1
        return ch

    def value(self) -> Any:
        """Decode the JSON value that starts here (C decoder), reading more of the file as it needs."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self.eof or not self._grow():
                    raise _Syntax(exc.msg, self.base + exc.pos) from None
                continue
            except RecursionError:
                raise _Syntax("nested too deeply", self.base + self.pos) from None
            if end == len(self.buf) and not self.eof and self._grow():
                continue  # a number cut by the window's end would decode as a shorter one
            if end - self.pos > MAX_VALUE_CHARS:
                raise _Syntax(f"a value longer than {MAX_VALUE_CHARS:,} characters", self.base + self.pos)
            self.pos = end
            return value

    def _grow(self) -> bool:
        """Read at least as much again as the value so far (linear work); refuse an overlong value."""
        pending = len(self.buf) - self.pos
        if pending > MAX_VALUE_CHARS:
            raise _Syntax(f"a value longer than {MAX_VALUE_CHARS:,} characters", self.base + self.pos)
        return self.more(pending)


def iter_amocrm_batches(path: Path, entity: Entity, *, extra_fields: Mapping[str, str] | None = None,
                        batch_size: int = BATCH_RECORDS, keep_raw: bool = True) -> Iterator[list[Record]]:
    """Records of a .json / .jsonl amoCRM file in batches of at most `batch_size`, in file order.

    A batch holds one record per id (the latest `updated_at`; on a tie, the later one); an id repeated in
    another batch is left to the store's upsert, which keeps the newer in the same way. Bad entities are
    skipped as they come and every problem is raised together (InputError) at the end, after the last
    batch: a caller writes the batches in one transaction, so a bad record anywhere keeps the whole file
    out. `keep_raw` False leaves `Record.raw` empty (a file scanned alone never needs the objects again).
    """
    problems = _Problems(path.name, by_line=path.suffix.lower() == ".jsonl")
    for located in iter_located_batches(path, entity, problems, batch_size=batch_size):
        records, found = parse_batch(located, entity, source=path.name, by_line=problems.by_line,
                                     extra_fields=extra_fields, keep_raw=keep_raw)
        if add_problems(problems, found):
            break
        if records:
            yield records
    raise_problems(problems)


def iter_located_batches(path: Path, entity: Entity, problems: _Problems, *,
                         batch_size: int = BATCH_RECORDS) -> Iterator[list[tuple[int, object]]]:
    """The file's entities, not yet parsed, in batches: (where, object) with `where` as `_Problems` locates
    it. Problems of the file's own lines (JSONL) go to `problems`; a JSON syntax error raises InputError."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError.one(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    with fh:
        located = _jsonl_entities(fh, entity, problems) if problems.by_line else _json_entities(fh, entity, path.name)
        batch: list[tuple[int, object]] = []
        for item in located:
            batch.append(item)
            if len(batch) >= batch_size:
                yield batch
                batch = []
                if len(problems.items) >= MAX_PROBLEMS:
                    return
        if batch:
            yield batch


def parse_batch(located: list[tuple[int, object]], entity: Entity, *, source: str, by_line: bool,
                extra_fields: Mapping[str, str] | None, keep_raw: bool) -> tuple[list[Record], list[InputProblem]]:
    """A batch of located entities -> its records (one per id, the latest) and the problems found.

    Pure, so that a worker process can run it (ingest.pipeline)."""
    problems = _Problems(source, by_line=by_line)
    matcher = _ExtraMatcher.build(extra_fields)
    batch: dict[str, Record] = {}
    for where, obj in located:
        record = _parse_entity(obj, entity, where, problems, matcher, keep_raw=keep_raw)
        if record is None:
            continue
        kept = batch.get(record.record_id)
        if kept is None or _newer_or_same(record, kept):
            batch[record.record_id] = record
    return list(batch.values()), problems.items


def add_problems(problems: _Problems, found: list[InputProblem]) -> bool:
    """Add a batch's problems; True when there are enough to stop reading."""
    problems.items.extend(found)
    return len(problems.items) >= MAX_PROBLEMS


def raise_problems(problems: _Problems) -> None:
    """InputError with the file's problems in file order (the file's own and its entities' were found
    apart), at most MAX_PROBLEMS of them."""
    if problems.items:
        if problems.by_line:
            problems.items.sort(key=lambda p: p.line or 0)  # stable: an entity's own problems keep their order
        raise InputError(problems.items[:MAX_PROBLEMS])


def latest_per_id(batches: Iterator[list[Record]]) -> list[Record]:
    """All batches as one list with one record per id, as `read_amocrm` returns it."""
    latest: dict[str, Record] = {}
    for batch in batches:
        for record in batch:
            kept = latest.get(record.record_id)
            if kept is None or _newer_or_same(record, kept):
                latest[record.record_id] = record
    return list(latest.values())


def _newer_or_same(record: Record, kept: Record) -> bool:
    if record.updated_at is None:
        return kept.updated_at is None
    return kept.updated_at is None or record.updated_at >= kept.updated_at


# --- .json ------------------------------------------------------------------------------------


def _json_entities(fh: IO[bytes], entity: Entity, source: str) -> Iterator[tuple[int, object]]:
    """(0-based index in the flattened list, entity) of a .json file of any shape `read_amocrm` takes."""
    window = _Window(fh, source)
    try:
        yield from enumerate(_top(window, entity))
        if window.peek():
            raise _Syntax("Extra data", window.base + window.pos)
    except _Syntax as exc:
        line, column = window.where(exc.offset)
        raise InputError.one(f"invalid JSON: {exc.msg}", source=source, line=line, field=str(column)) from None
    except ValueError as exc:  # a shape that is no list, page or entity (amocrm._flatten's message)
        raise InputError.one(str(exc), source=source) from exc


def _top(window: _Window, entity: Entity) -> Iterator[object]:
    ch = window.peek()
    if ch == "[":
        window.take("[")
        if window.peek() == "]":
            window.take("]")
            return
        while True:
            if window.peek() == "{":
                yield from _object(window, entity)
            else:
                yield window.value()  # not an object: an entity that _parse_entity will report
            if window.take(",]") == "]":
                return
    elif ch == "{":
        yield from _object(window, entity)
    elif not ch:
        raise _Syntax("Expecting value", window.base + window.pos)
    else:
        yield from _flatten(window.value(), entity)  # raises ValueError: a shape that is none of the above


def _object(window: _Window, entity: Entity) -> Iterator[object]:
    """An object that is a page (its `_embedded.<collection>` streamed entity by entity) or an entity.

    Read key by key. The collection is streamed only while no entity key (id, name, …) has been seen:
    amoCRM writes `id` first, and a company's `_embedded.contacts` must stay part of the company. An entity
    key after a streamed collection is an error. Anything not streamed is judged by `amocrm._flatten`,
    exactly as `read_amocrm` judges it.
    """
    collection = _COLLECTION[entity]
    fields: dict[str, Any] = {}
    streamed = False
    window.take("{")
    if window.peek() == "}":
        window.take("}")
    else:
        while True:
            key = _key(window)
            if key == "_embedded" and window.peek() == "{" and _ENTITY_KEYS.isdisjoint(fields):
                embedded: dict[str, Any] = {}
                window.take("{")
                if window.peek() == "}":
                    window.take("}")
                else:
                    while True:
                        inner = _key(window)
                        if inner == collection and window.peek() == "[":
                            embedded[inner] = []
                            streamed = True
                            yield from _array(window)
                        else:
                            embedded[inner] = window.value()
                        if window.take(",}") == "}":
                            break
                fields[key] = embedded
            else:
                fields[key] = window.value()
                if streamed and key in _ENTITY_KEYS:
                    raise _Syntax(f"a page of {collection} with an entity field {key!r} after its entities",
                                  window.base + window.pos)
            if window.take(",}") == "}":
                break
    if not streamed:
        yield from _flatten(fields, entity, top_level=False)


def _key(window: _Window) -> str:
    if window.peek() != '"':
        raise _Syntax("Expecting property name enclosed in double quotes", window.base + window.pos)
    key = window.value()
    window.take(":")
    return str(key)


def _array(window: _Window) -> Iterator[object]:
    window.take("[")
    if window.peek() == "]":
        window.take("]")
        return
    while True:
        yield window.value()
        if window.take(",]") == "]":
            return


# --- .jsonl -----------------------------------------------------------------------------------


def _jsonl_entities(fh: IO[bytes], entity: Entity, problems: _Problems) -> Iterator[tuple[int, object]]:
    """(1-based line, entity) pairs; a line is at most MAX_VALUE_CHARS bytes."""
    line_no = 0
    first = True
    while True:
        data = fh.readline(MAX_VALUE_CHARS + 1)
        if not data:
            return
        line_no += 1
        if len(data) > MAX_VALUE_CHARS and not data.endswith(b"\n"):
            problems.items.append(InputProblem(f"a line longer than {MAX_VALUE_CHARS:,} bytes", problems.source,
                                               line=line_no))
            return
        try:
            text = data.decode("utf-8-sig" if first else "utf-8")
        except UnicodeDecodeError as exc:
            raise InputError.one("not UTF-8 text", source=problems.source, line=line_no) from exc
        first = False
        for obj in _jsonl_line(text, line_no, entity, problems):
            yield line_no, obj
