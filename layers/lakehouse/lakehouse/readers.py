"""Streaming readers: a landing file as a sequence of Arrow record batches, never the whole file in memory.

Two modes per format:
- typed (fast path): pyarrow's C++ CSV/JSON readers parse straight into the contract's types;
- text (exact path): every declared column as a string, so validation can name each bad row and column.
The converter starts typed and switches to text only when the typed parse fails (see convert.py).

Both modes must accept the same files with the same values, or a file's outcome would depend on whether some other
row of it is bad. So the values whose parsing pyarrow does differently from the text path are read as text in
both modes and parsed once, in validation.py: integers (pyarrow's CSV reader takes hexadecimal and wraps it past
int64), dates and timestamps (one ISO 8601 and strptime parser, which checks the calendar), and every JSON scalar
of the text path is its literal text, parsed like a CSV field.

Rows are numbered 1, 2, ... in file order: CSV data rows (header excluded) and JSON records (JSON lines may put
more than one record on a line, as pyarrow reads them). Rows a reader drops (wrong field count, broken JSON) are
reported to ``DroppedRows``, which maps the position of a delivered row back to its number.
"""

from __future__ import annotations

import codecs
import contextlib
import csv as pycsv
import gzip
import io
import json
import re
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from .contracts import Contract
from .outcomes import WITHHELD, FileRejected, RowError, RowErrors, engine_message
from .types import arrow_type

DEFAULT_BLOCK_SIZE = 256 << 10  # bytes of input per record batch; pyarrow reads up to ~32 blocks ahead, so this
# bounds memory too (250 MB CSV, peak RSS: 8 MiB blocks 480 MB, 1 MiB 214 MB, 512 KiB 187 MB; same CPU time).
# A line longer than a block makes the converter retry with 4x larger blocks (up to MAX_BLOCK_SIZE).
MAX_BLOCK_SIZE = 128 << 20  # a single line (or JSON-array record) longer than this is rejected: line_too_long
PEEK_BYTES = 1 << 20
TEXT_BATCH_ROWS = 50_000  # records per batch of the JSON text path, and at most TEXT_BATCH_BYTES of their text
TEXT_BATCH_BYTES = 8 << 20
FLAT_LINE_BYTES = 1 << 20  # a JSON line up to this size is parsed whole; a longer one as events (bounded memory)
UNNAMED_LAST = "<unnamed last column>"  # the empty name after a trailing delimiter, as validation reports it
UTF8_BOM = b"\xef\xbb\xbf"

# Contract types a reader hands over as text in both modes (see the module docstring).
TEXT_TYPES = {"int", "bigint", "date", "timestamp"}


class SourceStream(io.RawIOBase):
    """Wraps the object's byte stream: decompresses, optionally checks UTF-8, and remembers why reading failed.

    pyarrow reads through this from its own threads and re-raises failures as ArrowInvalid; the converter
    asks ``failure`` whether the cause was bad data (a rejection) or the network (transient).

    ``utf8=True`` checks every byte as UTF-8 as it passes (JSON): pyarrow's JSON reader copies invalid bytes of a
    string into the Parquet unchecked, while the text path decodes every line, so without this a file's outcome
    would depend on the path. Mostly-ASCII text decodes at memory speed.
    """

    def __init__(self, raw: BinaryIO, compression: str, *, utf8: bool = False):
        super().__init__()
        # GzipFile reads every member of a multi-member file (concatenated gzip streams), as gzip -d does
        self._raw: BinaryIO | gzip.GzipFile = gzip.GzipFile(fileobj=raw, mode="rb") if compression == "gzip" else raw
        self._utf8 = codecs.getincrementaldecoder("utf-8")() if utf8 else None
        self.failure: BaseException | None = None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):  # closing a failed network stream may fail again; nothing is lost
                self._raw.close()
        super().close()

    def readinto(self, buffer) -> int:
        try:
            n = self._fill(buffer)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            self.failure = FileRejected("compression_error", f"corrupt or truncated gzip data: {engine_message(str(exc))}")
            raise self.failure from exc
        except Exception as exc:  # network and S3 errors: the caller decides whether they are transient
            self.failure = exc
            raise
        if self._utf8 is not None:
            try:
                self._utf8.decode(memoryview(buffer)[:n], final=n == 0)
            except UnicodeDecodeError as exc:
                self.failure = FileRejected(
                    "encoding_error", f"not valid UTF-8 at byte {self.bytes_read + exc.start + 1} of the file"
                )
                raise self.failure from None
        self.bytes_read += n
        return n

    def _fill(self, buffer) -> int:
        readinto = getattr(self._raw, "readinto", None)  # files, S3 bodies: straight into pyarrow's buffer
        if readinto is not None:
            return readinto(buffer)
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def buffered(stream: SourceStream) -> io.BufferedReader:
    return io.BufferedReader(stream, buffer_size=PEEK_BYTES)


class NotUtf8(Exception):
    """A block of a UTF-8 file is not UTF-8: the file is read again with pyarrow's per-value check (see Blocks)."""


class Blocks(io.RawIOBase):
    """What pyarrow reads: the bytes the buffered reader holds (the header's peek), then one raw read per block
    straight into the bytes object pyarrow keeps (``read1``: nothing is copied through the reader's buffer). Each
    block is as long as pyarrow asks, but at the end of the file.

    With ``utf8``, every block is checked as UTF-8 as a whole: ASCII, most CSV text, is one ``isascii`` scan, so
    pyarrow need not check each value (``check_utf8=False``). A block that is not UTF-8 raises NotUtf8, and the
    converter reads the file again with pyarrow's per-value check, which decides the file's outcome as it always
    did (bytes in no converted value, such as an ignored column's, are no encoding error).
    """

    def __init__(self, reader: io.BufferedReader, *, utf8: bool):
        super().__init__()
        self._reader = reader
        self._utf8 = codecs.getincrementaldecoder("utf-8")() if utf8 else None

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data = self._reader.read()
        else:  # as long as asked but at the file's end, as the blocks were before (a short raw read is joined)
            data = self._reader.read1(size)
            if 0 < len(data) < size:
                parts, have = [data], len(data)
                while have < size and (more := self._reader.read1(size - have)):
                    parts.append(more)
                    have += len(more)
                data = b"".join(parts)
        utf8 = self._utf8
        if utf8 is not None and (not data.isascii() or utf8.getstate()[0]):  # or a character continues from before
            try:
                utf8.decode(data, final=not data)
            except UnicodeDecodeError:
                failure = NotUtf8("a block is not UTF-8")
                source = self._reader.raw
                if isinstance(source, SourceStream) and source.failure is None:
                    source.failure = failure  # pyarrow re-raises it as its own error: the converter asks the stream
                raise failure from None
        return data


def peek_text(reader: io.BufferedReader, encoding: str) -> str:
    """The first bytes of the (decompressed) file as text, for header and shape checks."""
    head = reader.peek(PEEK_BYTES)[:PEEK_BYTES]
    text = head.decode(encoding, errors="replace")
    return text.removeprefix("\ufeff")


@dataclass
class DroppedRows:
    """Row numbers of the rows a reader did not deliver, in file order: maps a delivered row's position to its row.

    Numbers are kept only while someone may still need one (``wanted``: row errors or rejected rows are still
    being kept), so a file of millions of ragged rows costs a counter, not a list.
    """

    wanted: Callable[[], bool] = lambda: True
    count: int = 0
    unknown: bool = False  # a dropped row whose number the parser did not know (multi-threaded typed parse)
    rows: array = field(default_factory=lambda: array("q"))

    def add(self, row: int) -> None:
        self.count += 1
        if row <= 0:
            self.unknown = True
        elif self.wanted():
            self.rows.append(row)

    def row(self, position: int) -> int:
        """The 1-based row number of the delivered row at 0-based ``position``."""
        row = position + 1
        while True:
            shifted = position + 1 + bisect_right(self.rows, row)
            if shifted == row:
                return row
            row = shifted


# ----------------------------------------------------------------------------------------- CSV / TSV


@dataclass(frozen=True)
class CsvLayout:
    """How a CSV file's columns map onto the contract."""

    column_names: list[str] | None  # given to pyarrow when the file has no header line
    read: dict[str, str]  # file column name -> contract column name (or UNNAMED_LAST), in contract order
    missing: list[str]  # optional contract columns the file lacks: delivered as nulls


def _first_record(text: str, quote: str) -> str | None:
    """The first CSV record of ``text`` (CR, LF or CRLF ends it; quotes may hide line ends), or None if unended."""
    end = re.search(r"[\r\n]", text)
    if end is None:
        return None
    if quote not in text[: end.start()]:
        return text[: end.start()]
    quoted = False
    for index, char in enumerate(text):
        if char == quote:
            quoted = not quoted  # a doubled quote toggles twice
        elif char in "\r\n" and not quoted:
            return text[:index]
    return None


def csv_header(contract: Contract, head: str, *, complete: bool) -> list[str]:
    """The header line's names. ``complete``: ``head`` is the whole file (so an unended last line still counts)."""
    fmt = contract.format
    first = _first_record(head, fmt.quote_char)
    if first is None:
        if not complete:
            raise FileRejected("header_too_long", f"no line end within the first {PEEK_BYTES >> 20} MiB (the header)")
        first = head
    if not first.strip():
        raise FileRejected("empty_header", "the first line (header) is empty")
    try:
        return next(pycsv.reader(io.StringIO(first, newline=""), delimiter=fmt.field_delimiter, quotechar=fmt.quote_char))
    except (pycsv.Error, StopIteration) as exc:
        raise FileRejected("parse_error", f"the header line is not CSV: {engine_message(str(exc))}") from None


def _names(contract: Contract, names: list[str]) -> str:
    """Header names for a reason: quoted only when the contract has no pii column (the "header" may be data)."""
    if contract.has_pii:
        return f"({len(names)} name(s) {WITHHELD})"
    shown = [n[:60] for n in names[:20]]
    return f"{shown}{' …' if len(names) > 20 else ''}"


def plan_csv_columns(contract: Contract, header: list[str]) -> CsvLayout:
    """Maps header names to declared columns (same name up to case and surrounding spaces); rejects files that miss
    required columns, repeat one, or (unknown_columns: reject) carry others."""
    read: dict[str, str] = {}
    unknown: list[str] = []
    unnamed = [i for i, name in enumerate(header) if not name.strip()]
    for position, name in enumerate(header):
        if position in unnamed:
            continue
        column = contract.header_column(name)
        if column is None:
            unknown.append(name)
        elif column.name in read.values() or name in read:
            raise FileRejected("duplicate_columns", f"the header names column {column.name!r} more than once")
        else:
            read[name] = column.name
    missing_required = [c.name for c in contract.columns if not c.nullable and c.name not in read.values()]
    if missing_required:
        hint = ""
        if len(header) == 1:
            for candidate, label in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','")):
                if candidate in header[0] and candidate != contract.format.field_delimiter:
                    hint = f" (the header has a single column; is the delimiter {label}?)"
                    break
        if not read and not hint:
            hint = " (no header name is a column of the contract: is the header line missing? then set header: false)"
        raise FileRejected(
            "missing_columns", f"required column(s) {missing_required} not in the header {_names(contract, header)}{hint}"
        )
    trailing = unnamed == [len(header) - 1] and len(header) > 1
    if contract.unknown_columns == "reject":
        stray = [f"unnamed column {i + 1}" for i in unnamed if not trailing]
        if unknown or stray:
            listed = _names(contract, unknown) if unknown else ""
            raise FileRejected(
                "unknown_columns",
                f"column(s) {listed}{' and ' if unknown and stray else ''}{', '.join(stray)} are not in the contract "
                "(unknown_columns: reject)",
            )
        if trailing:  # "a,b," lines: the empty last field is read and must stay empty (validation checks it)
            read[header[-1]] = UNNAMED_LAST
    order = {c.name: i for i, c in enumerate(contract.columns)}
    ordered = dict(sorted(read.items(), key=lambda item: order.get(item[1], len(order))))
    return CsvLayout(None, ordered, [c.name for c in contract.columns if c.name not in read.values()])


def csv_layout(contract: Contract, reader: io.BufferedReader) -> CsvLayout:
    if not contract.format.header:  # the fields are the contract's columns, in order
        names = [c.name for c in contract.columns]
        return CsvLayout(names, {n: n for n in names}, [])
    head = reader.peek(PEEK_BYTES)
    text = head[:PEEK_BYTES].decode(contract.format.encoding, errors="replace").removeprefix("\ufeff")
    return plan_csv_columns(contract, csv_header(contract, text, complete=len(head) < PEEK_BYTES))


def read_csv(
    reader: io.BufferedReader,
    contract: Contract,
    *,
    typed: bool,
    row_errors: RowErrors,
    dropped: DroppedRows,
    block_size: int = DEFAULT_BLOCK_SIZE,
    utf8_per_value: bool = False,
) -> Iterator[pa.RecordBatch]:
    """CSV/TSV batches with the contract's column names; rows with the wrong number of fields are dropped into
    ``row_errors``/``dropped``.

    A UTF-8 file is checked block by block (Blocks) unless ``utf8_per_value``, when pyarrow checks each value it
    converts (the converter's second read of a file that holds non-UTF-8 bytes). Other encodings are transcoded
    by pyarrow and checked per value."""
    fmt = contract.format
    layout = csv_layout(contract, reader)
    by_name = {c.name: c for c in contract.columns}
    types: dict[str, pa.DataType] = {}
    for file_name, name in layout.read.items():
        column = by_name.get(name)
        typed_here = typed and column is not None and column.type not in TEXT_TYPES
        types[file_name] = arrow_type(column.type) if typed_here and column is not None else pa.string()

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        known = bool(row.number and row.number > 0)
        number = row.number - 1 if known and fmt.header else (row.number if known else 0)  # header excluded
        dropped.add(number)
        if typed and not known:  # multi-threaded parsing does not know line numbers: exact path
            return "skip"
        if not row_errors.wanted:
            row_errors.add_counted([], error_count=1, bad_rows=1)
            return "skip"
        hint = "" if known else " (row number unknown; an unterminated quote?)"
        row_errors.add(
            RowError(number, None, f"expected {row.expected_columns} fields, got {row.actual_columns}{hint}"),
            record={"_line": row.text},
        )
        return "skip"

    by_block = not utf8_per_value and codecs.lookup(fmt.encoding).name == "utf-8"  # pyarrow transcodes others
    csv_reader = pacsv.open_csv(
        Blocks(reader, utf8=by_block),
        # single-threaded parsing keeps invalid-row callbacks in file order, so row numbers stay exact
        read_options=pacsv.ReadOptions(
            block_size=block_size, encoding=fmt.encoding, use_threads=typed, column_names=layout.column_names
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=fmt.field_delimiter,
            quote_char=fmt.quote_char,
            # always: with False, pyarrow splits blocks at every line end, so a quoted line end fails the file or
            # not depending on where a block boundary falls (validation applies newlines_in_values: false)
            newlines_in_values=True,
            invalid_row_handler=on_invalid_row,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(layout.read),
            null_values=fmt.null_values,
            strings_can_be_null=True,
            true_values=fmt.true_values,
            false_values=fmt.false_values,
            check_utf8=not by_block,
        ),
    )
    names = list(layout.read.values())
    for batch in csv_reader:
        yield _with_missing(batch.rename_columns(names), layout.missing, contract, typed)


def _with_missing(batch: pa.RecordBatch, missing: list[str], contract: Contract, typed: bool) -> pa.RecordBatch:
    """Optional columns the file lacks, as all-null columns (validation sees every declared column)."""
    if not missing:
        return batch
    arrays = list(batch.columns)
    names = list(batch.schema.names)
    for name in missing:
        column = contract.column(name)
        kind = arrow_type(column.type) if typed and column.type not in TEXT_TYPES else pa.string()
        arrays.append(pa.nulls(batch.num_rows, kind))
        names.append(name)
    return pa.RecordBatch.from_arrays(arrays, names=names)


# ----------------------------------------------------------------------------------------- JSON


def check_json_shape(contract: Contract, head: str) -> None:
    first = head.lstrip()[:1]
    if not first:
        raise FileRejected("empty_file", "the file holds only whitespace")
    if contract.format.type == "jsonl" and first == "[":
        raise FileRejected("format_mismatch", "the file is a JSON array but the contract says JSON lines (jsonl)")
    if contract.format.type == "json_array" and first != "[":
        raise FileRejected("format_mismatch", "the file is not a JSON array but the contract says json_array")


def read_jsonl_typed(
    reader: io.BufferedReader, contract: Contract, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[pa.RecordBatch]:
    check_json_shape(contract, peek_text(reader, "utf-8"))
    schema = pa.schema(
        [(c.name, pa.string() if c.type in ("date", "timestamp") else arrow_type(c.type)) for c in contract.columns]
    )
    json_reader = pajson.open_json(
        reader,
        read_options=pajson.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=pajson.ParseOptions(
            explicit_schema=schema,
            unexpected_field_behavior="ignore" if contract.unknown_columns == "ignore" else "error",
        ),
    )
    yield from json_reader


@dataclass
class _Record:
    """One JSON record's declared values as text, and what was wrong with it."""

    values: dict[str, Any] = field(default_factory=dict)
    problems: list[tuple[str | None, str]] = field(default_factory=list)
    size: int = 0


class _BadRecord(ValueError):
    """A record that is not JSON; keeps the text so quarantined rows hold the original."""

    def __init__(self, message: str, text: str = ""):
        super().__init__(message)
        self.text = text


def _scalar_text(value: Any) -> str | None:
    """A JSON scalar as the text validation parses: numbers keep their literal, as in a CSV field."""
    if value is None:
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


_MAX_UNKNOWN_NAMED = 20  # unknown keys named per record; more are counted


class _RecordBuilder:
    """Builds flat records from JSON events without building nested values, so memory is bounded by the record."""

    def __init__(self, contract: Contract):
        self.declared = {c.name for c in contract.columns}
        self.reject_unknown = contract.unknown_columns == "reject"
        self.name_unknown = not contract.has_pii  # a key that is no column may be data (a card number as a key)

    def record(self, events: Iterator[tuple[str, Any]], first: tuple[str, Any]) -> _Record | _BadRecord:
        """The record whose first event is ``first``; consumes its events up to its end."""
        kind, _ = first
        if kind != "start_map":
            if kind == "start_array":
                _skip(events, 1)
            return _BadRecord(f"expected a JSON object, got {kind.removeprefix('start_')}")
        record = _Record()
        seen: set[str] = set()
        unknown = 0
        key: str | None = None
        for event, value in events:
            if event == "end_map":
                if unknown > _MAX_UNKNOWN_NAMED:
                    record.problems.append((None, f"{unknown - _MAX_UNKNOWN_NAMED} more unknown key(s)"))
                return record
            if event == "map_key":
                key = value
                if key in seen:
                    record.problems.append(self._about(key, "the key appears more than once in the record"))
                seen.add(key)
                continue
            nested = event in ("start_map", "start_array")
            if nested:
                _skip(events, 1)
            if key not in self.declared:
                if self.reject_unknown:
                    unknown += 1
                    if unknown <= _MAX_UNKNOWN_NAMED:
                        record.problems.append(self._about(key, "unknown column (unknown_columns: reject)"))
                continue
            if nested:
                kind = "object" if event == "start_map" else "array"
                record.problems.append((key, f"nested JSON {kind} where a scalar is declared"))
                continue
            text = _scalar_text(value)
            record.values[key] = text
            record.size += len(text) if text else 0
        return _BadRecord("the record is not closed")


    def _about(self, key: str | None, problem: str) -> tuple[str | None, str]:
        """A problem with a key: named when it is a declared column or the contract has no pii column."""
        if key in self.declared or self.name_unknown:
            return key, problem
        return None, f"{problem} (a key {WITHHELD})"


def _skip(events: Iterator[tuple[str, Any]], depth: int) -> None:
    """Consumes events until the value opened ``depth`` levels up is closed (nothing is built)."""
    for event, _ in events:
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return


LONE_SURROGATE = "a lone UTF-16 surrogate escape (\\ud800-\\udfff) is not Unicode text"
# an escape (an even run of backslashes before it) of a UTF-16 surrogate: high D800-DBFF, low DC00-DFFF
_SURROGATE_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u[dD]([89abAB]|[c-fC-F])[0-9a-fA-F]{2}")


class _Limited(io.RawIOBase):
    """A byte source for ijson that rejects a record longer than MAX_BLOCK_SIZE before it is all in memory, and a
    lone surrogate escape, which ijson's C backend would turn into "?" (pyarrow and Python keep it; it is no text)."""

    def __init__(self, reader: io.BufferedReader):
        super().__init__()
        self.reader = reader
        self.position = 0
        self.record_start = 0
        self._tail = b""  # the end of the previous read, when an escape may continue past it

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.position - self.record_start > MAX_BLOCK_SIZE:
            raise FileRejected("line_too_long", f"a single record is longer than {MAX_BLOCK_SIZE >> 20} MiB")
        n = self.reader.readinto(buffer)
        self.position += n
        self._check_surrogates(bytes(memoryview(buffer)[:n]), final=n == 0)
        return n

    def _check_surrogates(self, chunk: bytes, *, final: bool) -> None:
        text, self._tail = self._tail + chunk, b""
        if b"\\" not in text:
            return
        if not final:  # an escape, or a high-low pair, may continue in the next read: hold back its start
            hold = text.find(b"\\", max(len(text) - 12, 0))
            if hold != -1:
                while hold > 0 and text[hold - 1] == 0x5C:  # the whole backslash run: its parity decides
                    hold -= 1
                text, self._tail = text[:hold], text[hold:]
        waiting: re.Match[bytes] | None = None  # a high surrogate escape waiting for its low one
        for match in _SURROGATE_ESCAPE.finditer(text):
            low = match.group(1) in b"cdefCDEF"
            if waiting is not None and low and match.end() - 6 == waiting.end():
                waiting = None
            elif waiting is not None or low:
                raise FileRejected("encoding_error", LONE_SURROGATE)
            else:
                waiting = match
        if waiting is not None:
            if final or waiting.end() != len(text):
                raise FileRejected("encoding_error", LONE_SURROGATE)
            self._tail = text[waiting.start():] + self._tail  # its low one may open the next read


def json_array_records(reader: io.BufferedReader, contract: Contract) -> Iterator[tuple[object, str]]:
    """The records of a JSON array, as (_Record | _BadRecord, text) — text is kept only for broken records."""
    import ijson  # only JSON-array files pay for it

    if reader.peek(3)[:3] == UTF8_BOM:
        reader.read(3)
    source = _Limited(reader)
    builder = _RecordBuilder(contract)
    events = ijson.basic_parse(source, use_float=False)
    try:
        start = next(events, None)
        if start is None or start[0] != "start_array":
            raise FileRejected("format_mismatch", "the file is not a JSON array but the contract says json_array")
        for first in events:
            if first[0] == "end_array":
                break
            source.record_start = source.position
            yield builder.record(events, first), ""
        for _ in events:  # anything after the array is an error (ijson raises on it)
            raise FileRejected("parse_error", "data after the end of the JSON array")
    except ijson.JSONError as exc:
        raise FileRejected("parse_error", f"invalid JSON array: {engine_message(str(exc))}") from None
    except UnicodeDecodeError as exc:
        raise FileRejected("encoding_error", f"not valid UTF-8 at byte {exc.start + 1} of a chunk") from None


class _Pairs(list):
    """A JSON object as ``json`` decodes it here: its (key, value) pairs, so a repeated key stays visible."""


class _Number(str):
    """A JSON number's literal text (``json`` hands it over instead of converting it)."""


_LINE_DECODER = json.JSONDecoder(parse_float=_Number, parse_int=_Number, parse_constant=_Number,
                                 object_pairs_hook=_Pairs)
_WHITESPACE = re.compile(r"[ \t\r\n]*")


def jsonl_records(reader: io.BufferedReader, contract: Contract) -> Iterator[tuple[object, str]]:
    """The records of a JSON-lines file, as pyarrow reads them: values separated by whitespace (one per line in
    practice; several on a line, or CR-only line ends, are several records). A line that is not JSON is one bad
    record and the parse goes on at the next line. Numbers keep their literal text (``_Number``)."""
    builder = _RecordBuilder(contract)
    number = 0
    while True:
        line = reader.readline(MAX_BLOCK_SIZE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_BLOCK_SIZE:
            raise FileRejected("line_too_long", f"line {number} is longer than {MAX_BLOCK_SIZE >> 20} MiB")
        if number == 1 and line.startswith(UTF8_BOM):
            line = line[3:]
        if len(line) > FLAT_LINE_BYTES:  # json would build every nested value of it: events instead
            yield from _event_records(line, builder, number)
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise FileRejected("encoding_error", f"line {number}, byte {exc.start + 1}: not valid UTF-8") from None
        position = _WHITESPACE.match(text, 0).end()  # type: ignore[union-attr]
        while position < len(text):
            try:
                value, end = _LINE_DECODER.raw_decode(text, position)
            except json.JSONDecodeError as exc:
                yield _BadRecord(f"invalid JSON on line {number}: {exc.msg} at column {exc.colno}"), text[position:]
                break
            except (ValueError, RecursionError) as exc:  # absurd nesting, huge integer literals
                yield _BadRecord(f"invalid JSON on line {number}: {type(exc).__name__}"), text[position:]
                break
            yield builder.record(_decoded_events(value), _first_event(value)), ""
            position = _WHITESPACE.match(text, end).end()  # type: ignore[union-attr]


def _first_event(value: Any) -> tuple[str, Any]:
    if isinstance(value, _Pairs):
        return ("start_map", None)
    if isinstance(value, list):
        return ("start_array", None)
    if value is None:
        return ("null", None)
    if isinstance(value, bool):
        return ("boolean", value)
    return ("number", value) if isinstance(value, _Number) else ("string", value)


def _decoded_events(value: Any) -> Iterator[tuple[str, Any]]:
    """The events after ``_first_event(value)`` of a decoded value; a nested value is an open/close pair."""
    if isinstance(value, _Pairs):
        for key, item in value:
            yield ("map_key", key)
            if isinstance(item, list):
                kind = "map" if isinstance(item, _Pairs) else "array"
                yield (f"start_{kind}", None)
                yield (f"end_{kind}", None)
            else:
                yield _first_event(item)
        yield ("end_map", None)
    elif isinstance(value, list):
        yield ("end_array", None)


def _event_records(line: bytes, builder: _RecordBuilder, number: int) -> Iterator[tuple[object, str]]:
    """Records of one long line, parsed as events: nested values are skipped, never built."""
    import ijson

    # through _Limited: ijson's C parser would write "?" for a lone surrogate escape
    events = ijson.basic_parse(_Limited(io.BufferedReader(io.BytesIO(line))), use_float=False, multiple_values=True)
    try:
        for first in events:
            yield builder.record(events, first), ""
    except ijson.JSONError as exc:
        yield _BadRecord(f"invalid JSON on line {number}: {engine_message(str(exc))}"), ""


def records_to_text_batches(
    records: Iterator[tuple[object, str]],
    contract: Contract,
    row_errors: RowErrors,
    dropped: DroppedRows,
    *,
    batch_rows: int = TEXT_BATCH_ROWS,
    batch_bytes: int = TEXT_BATCH_BYTES,
) -> Iterator[pa.RecordBatch]:
    """JSON records -> string batches; structural problems become row errors with their row number and the row is
    dropped (reported to ``dropped``)."""
    names = [c.name for c in contract.columns]
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    rows: list[int] = []
    size = 0

    def flush() -> pa.RecordBatch:
        batch = pa.RecordBatch.from_arrays([pa.array(columns[name], pa.string()) for name in names], names=names)
        for values in columns.values():
            values.clear()
        rows.clear()
        return batch

    for row, (record, text) in enumerate(records, start=1):
        problems: list[RowError] = []
        if isinstance(record, _BadRecord):
            problems.append(RowError(row, None, str(record)))
        else:
            assert isinstance(record, _Record)
            problems = [RowError(row, column, message) for column, message in record.problems]
            for name, value in record.values.items():
                if value is not None and not _is_utf8(value):
                    raise FileRejected("encoding_error", f"row {row}, column {name!r}: {LONE_SURROGATE}")
        if problems:
            dropped.add(row)
            raw = {"_line": text} if isinstance(record, _BadRecord) else dict(record.values)
            row_errors.add_all(problems, record=raw)
            continue
        assert isinstance(record, _Record)
        for name in names:
            columns[name].append(record.values.get(name))
        rows.append(row)
        size += record.size
        if len(rows) >= batch_rows or size >= batch_bytes:
            yield flush()
            size = 0
    if rows:
        yield flush()


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def read_json_text(
    reader: io.BufferedReader, contract: Contract, row_errors: RowErrors, dropped: DroppedRows
) -> Iterator[pa.RecordBatch]:
    check_json_shape(contract, peek_text(reader, "utf-8"))
    source = jsonl_records(reader, contract) if contract.format.type == "jsonl" else json_array_records(reader, contract)
    yield from records_to_text_batches(source, contract, row_errors, dropped)
