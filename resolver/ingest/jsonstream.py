"""amoCRM JSON / JSONL files read as a stream of record batches, never the whole file at once.

A 318,000-contact export is one 280 MB page (`{"_embedded": {"contacts": [...]}}`); `json.load` of it
holds every entity as Python objects at once (about 3 GB). Here only the structure around the entities
is walked by hand; each entity is decoded by the standard library's C decoder (`raw_decode`) from a
window of the text, so memory holds one window and one batch. The shapes are `read_amocrm`'s: a list of
entities, a page, a list of pages or one entity object; problems are its problems, located the same way
(`.json`: the entity's 0-based index in the flattened list, a syntax error by line and column; `.jsonl`:
the 1-based line).

A page's entity array is cut into chunks of about a batch of whole entities without decoding them
(`_fast_chunk`): a cut is guessed where brackets balance and confirmed by msgspec, which checks the chunk
is valid JSON without building objects; whatever it does not confirm (a bracket inside a string, NaN, a
number out of range) is read entity by entity as above. A chunk is decoded where its batch is parsed,
in a worker process for a large file (ingest.pipeline), and keeps each entity's text as received.

Hostile input: one value (an entity, a page's other fields, a JSONL line) is at most `MAX_VALUE_CHARS`;
a value that does not fit in the window is decoded again from a window at least twice as large, so the
work stays linear in the file. Reading stops after `MAX_PROBLEMS` problems.
"""

from __future__ import annotations

import codecs
import gc
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

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
    "BATCH_RECORDS", "MAX_PROBLEMS", "MAX_VALUE_CHARS", "Chunk", "add_problems", "decode_located",
    "iter_amocrm_batches", "iter_json_units", "iter_located_batches", "latest_per_id", "parse_batch", "parse_located",
    "raise_problems",
]

BATCH_RECORDS = 20_000
# One entity is a few kB; a page in a list of pages is at most 250 of them. 64 MB is neither.
MAX_VALUE_CHARS = 64 * 1024 * 1024
MAX_PROBLEMS = 1_000
_READ_CHARS = 1 << 20
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()
# chunks: the entities' texts only (no objects: checking a chunk costs a twentieth of decoding it)
_RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_OBJECTS = msgspec.json.Decoder()
_CLOSE = re.compile(rb"[}\]][ \t\n\r]*[,\]]")  # where an entity may end: a bracket before "," or "]"
_CHUNK_SLACK = 1 << 20  # how far past its target a chunk's end is looked for (entities are a few kB)
_MAX_CHUNK_CHARS = 32 * 1024 * 1024
_FIRST_CHARS_PER_RECORD = 256  # the first chunk's guess; then the file's own average


@dataclass(frozen=True)
class Chunk:
    """Whole entities of a page's array, not decoded: the UTF-8 text of a JSON array of them (valid JSON)."""

    data: bytes
    count: int


@contextmanager
def _no_gc() -> Iterator[None]:
    """Decoding builds only acyclic objects; the cycle collector would walk them again and again (2x the time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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
    return _units(path, entity, problems, batch_size, chunks=False)


def iter_json_units(path: Path, entity: Entity, problems: _Problems, *,
                    batch_size: int = BATCH_RECORDS) -> Iterator[list[tuple[int, object]]]:
    """As `iter_located_batches`, but a page's entities come as `Chunk`s, undecoded, each a unit of its own
    (about `batch_size` entities; its `where` is its first entity's). For `decode_located` in a worker."""
    return _units(path, entity, problems, batch_size, chunks=True)


def _units(path: Path, entity: Entity, problems: _Problems, batch_size: int, *,
           chunks: bool) -> Iterator[list[tuple[int, object]]]:
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise InputError.one(f"cannot read file: {exc.strerror or exc}", source=str(path)) from exc
    with fh:
        located: Iterator[tuple[int, object]] = (
            _jsonl_entities(fh, entity, problems) if problems.by_line
            else _json_entities(fh, entity, path.name, batch_size))
        if not chunks:
            located = _expanded(located)
        batch: list[tuple[int, object]] = []
        for where, item in located:
            if isinstance(item, Chunk):
                if batch:
                    yield batch
                    batch = []
                yield [(where, item)]
                continue
            batch.append((where, item))
            if len(batch) >= batch_size:
                yield batch
                batch = []
                if len(problems.items) >= MAX_PROBLEMS:
                    return
        if batch:
            yield batch


def decode_located(unit: list[tuple[int, object]], *,
                   keep_raw: bool) -> tuple[list[tuple[int, object]], dict[int, str] | None]:
    """A unit's chunks decoded: (where, entity) each, and with `keep_raw` each chunk entity's text by `where`
    (stored as received instead of encoded again)."""
    located: list[tuple[int, object]] = []
    texts: dict[int, str] | None = {} if keep_raw else None
    with _no_gc():
        for where, item in unit:
            if not isinstance(item, Chunk):
                located.append((where, item))
            else:
                located.extend(enumerate(_decode_chunk(item), start=where))
                if texts is not None:
                    texts.update(enumerate((str(raw, "utf-8") for raw in _RAW_LIST.decode(item.data)), start=where))
    return located, texts


def parse_located(located: list[tuple[int, object]], entity: Entity, *, source: str, by_line: bool,
                  extra_fields: Mapping[str, str] | None,
                  keep_raw: bool) -> tuple[list[tuple[Record, int]], list[InputProblem]]:
    """As `parse_batch`, each record with its `where` (the key of its text from `decode_located`)."""
    problems = _Problems(source, by_line=by_line)
    matcher = _ExtraMatcher.build(extra_fields)
    batch: dict[str, tuple[Record, int]] = {}
    for where, obj in located:
        record = _parse_entity(obj, entity, where, problems, matcher, keep_raw=keep_raw)
        if record is None:
            continue
        kept = batch.get(record.record_id)
        if kept is None or _newer_or_same(record, kept[0]):
            batch[record.record_id] = (record, where)
    return list(batch.values()), problems.items


def parse_batch(located: list[tuple[int, object]], entity: Entity, *, source: str, by_line: bool,
                extra_fields: Mapping[str, str] | None, keep_raw: bool) -> tuple[list[Record], list[InputProblem]]:
    """A batch of located entities -> its records (one per id, the latest) and the problems found.

    Pure, so that a worker process can run it (ingest.pipeline)."""
    parsed, problems = parse_located(located, entity, source=source, by_line=by_line, extra_fields=extra_fields,
                                     keep_raw=keep_raw)
    return [record for record, _ in parsed], problems


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


def _expanded(located: Iterator[tuple[int, object]]) -> Iterator[tuple[int, object]]:
    """Chunks decoded here, entity by entity."""
    for where, item in located:
        if isinstance(item, Chunk):
            with _no_gc():
                objects = _decode_chunk(item)
            yield from enumerate(objects, start=where)
        else:
            yield where, item


def _decode_chunk(chunk: Chunk) -> list[Any]:
    """A chunk's entities. msgspec confirmed the chunk's syntax and UTF-8 but does not decode a number out of
    range (1e999), which Python's decoder takes (as inf), as the entity-by-entity reading does."""
    try:
        return list(_OBJECTS.decode(chunk.data))
    except msgspec.DecodeError:
        return list(json.loads(chunk.data))


def _json_entities(fh: IO[bytes], entity: Entity, source: str, batch_size: int) -> Iterator[tuple[int, object]]:
    """(0-based index in the flattened list, entity or `Chunk`) of a .json file of any shape `read_amocrm`
    takes; a chunk's index is its first entity's."""
    window = _Window(fh, source)
    try:
        index = 0
        for item in _top(window, entity, batch_size):
            yield index, item
            index += item.count if isinstance(item, Chunk) else 1
        if window.peek():
            raise _Syntax("Extra data", window.base + window.pos)
    except _Syntax as exc:
        line, column = window.where(exc.offset)
        raise InputError.one(f"invalid JSON: {exc.msg}", source=source, line=line, field=str(column)) from None
    except ValueError as exc:  # a shape that is no list, page or entity (amocrm._flatten's message)
        raise InputError.one(str(exc), source=source) from exc


def _top(window: _Window, entity: Entity, batch_size: int) -> Iterator[object]:
    ch = window.peek()
    if ch == "[":
        window.take("[")
        if window.peek() == "]":
            window.take("]")
            return
        while True:
            if window.peek() == "{":
                yield from _object(window, entity, batch_size)
            else:
                yield window.value()  # not an object: an entity that _parse_entity will report
            if window.take(",]") == "]":
                return
    elif ch == "{":
        yield from _object(window, entity, batch_size)
    elif not ch:
        raise _Syntax("Expecting value", window.base + window.pos)
    else:
        yield from _flatten(window.value(), entity)  # raises ValueError: a shape that is none of the above


def _object(window: _Window, entity: Entity, batch_size: int) -> Iterator[object]:
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
                            yield from _array(window, batch_size)
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


def _array(window: _Window, batch_size: int) -> Iterator[object]:
    """The array's entities: `Chunk`s of about `batch_size`, one decoded entity where a chunk is not confirmed.

    After a chunk is refused the next is tried at half the size (down to one entity, then that entity is
    decoded alone), and sizes grow again by doubling: each refused chunk costs at most twice the text it
    covers, so the work stays linear whatever the file holds.
    """
    window.take("[")
    if window.peek() == "]":
        window.take("]")
        return
    ideal = min(batch_size * _FIRST_CHARS_PER_RECORD, _MAX_CHUNK_CHARS)
    target = ideal
    while True:
        chunk = _fast_chunk(window, target)
        if chunk is not None:
            yield chunk
            ideal = min(max(len(chunk.data) * batch_size // chunk.count, 1), _MAX_CHUNK_CHARS)
            target = min(max(target * 2, 4096), ideal)
        elif target > 0:
            target //= 2
            continue
        else:
            yield window.value()  # not confirmed even alone: decoded here, with the decoder's own errors
        if window.take(",]") == "]":
            return


def _fast_chunk(window: _Window, target: int) -> Chunk | None:
    """Whole entities from here over at least `target` bytes (or to the array's end), the window moved past
    them; None when no end is confirmed within `_CHUNK_SLACK` past the target (then nothing is consumed).

    Works on the file's bytes, not on decoded text: what the window holds is encoded back, the rest is read
    as bytes, and what follows the chunk is decoded into the window again. An end is guessed where `{`/`[`
    and `}`/`]` counted from here balance (strings are not skipped, so a bracket in a name can mislead the
    count) and confirmed by msgspec reading the chunk as one JSON array (which also checks the UTF-8).
    """
    window.peek()
    if window.pos:
        window._drop()
    head = window.buf.encode()
    pending, first = window.decoder.getstate()
    want = max(target + _CHUNK_SLACK - len(head) - len(pending), 0)
    fresh = window.fh.read(want) if want and not window.eof else b""
    eof = window.eof or len(fresh) < want
    window.byte_lines += fresh.count(b"\n")
    stream = head + pending + fresh
    chunk = _confirmed(stream, target)
    rest = stream
    if chunk is not None:
        consumed, rest = stream[:len(chunk.data) - 2], stream[len(chunk.data) - 2:]
        try:
            chars = len(consumed.decode())  # msgspec's Raw does not check the UTF-8 inside strings
        except UnicodeDecodeError:
            chunk, rest = None, stream  # read entity by entity, and the error located there
        else:
            newlines = consumed.count(b"\n")
            if newlines:
                window.base_line += newlines
                window.base_col = len(consumed[consumed.rfind(b"\n") + 1:].decode()) + 1
            else:
                window.base_col += chars
            window.base += chars
    window.decoder.setstate((b"", first))
    try:
        window.buf = window.decoder.decode(rest, final=eof)
    except UnicodeDecodeError as exc:
        line = window.base_line + rest[: max(exc.start, 0)].count(b"\n")
        raise InputError.one("not UTF-8 text", source=window.source, line=line) from exc
    window.pos = 0
    window.eof = eof
    return chunk


def _confirmed(stream: bytes, target: int) -> Chunk | None:
    """The entities at the start of `stream` over at least `target` bytes as a confirmed chunk, or None."""
    low = min(target, len(stream))
    depth = _depth(stream, 0, low)
    last = low
    for match in _CLOSE.finditer(stream, low, min(len(stream), low + _CHUNK_SLACK)):
        end = match.start() + 1
        depth += _depth(stream, last, end)
        last = end
        if depth <= 0:
            break
    else:
        return None
    if depth < 0:
        return None
    data = b"[" + stream[:end] + b"]"
    try:
        entities = _RAW_LIST.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    if len(data) > MAX_VALUE_CHARS and any(len(e) > MAX_VALUE_CHARS for e in entities):
        return None  # refused entity by entity, with its place (bytes are at least as many as characters)
    return Chunk(data, len(entities))


def _depth(buf: bytes, start: int, end: int) -> int:
    return (buf.count(b"{", start, end) + buf.count(b"[", start, end)
            - buf.count(b"}", start, end) - buf.count(b"]", start, end))


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
