"""Streaming readers: a landing file as a sequence of Arrow record batches, never the whole file in memory.

Two modes per format:
- typed (fast path): pyarrow's C++ CSV/JSON readers parse straight into the contract's types;
- text (exact path): every declared column as a string, so validation can name each bad row and column.
The converter starts typed and switches to text only when the typed parse fails (see convert.py).
"""

from __future__ import annotations

import csv as pycsv
import gzip
import io
import json
import zlib
from collections.abc import Callable, Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson

from .contracts import Contract
from .outcomes import FileRejected, RowError, RowErrors
from .types import arrow_type

DEFAULT_BLOCK_SIZE = 256 << 10  # bytes of input per record batch; pyarrow reads up to ~32 blocks ahead, so this
# bounds memory too (250 MB CSV, peak RSS: 8 MiB blocks 480 MB, 1 MiB 214 MB, 512 KiB 187 MB; same CPU time).
# A line longer than a block makes the converter retry with 4x larger blocks (up to MAX_BLOCK_SIZE).
MAX_BLOCK_SIZE = 128 << 20  # a single line longer than this is rejected
PEEK_BYTES = 1 << 20


class SourceStream(io.RawIOBase):
    """Wraps the object's byte stream: decompresses and remembers why reading failed.

    pyarrow reads through this from its own threads and re-raises failures as ArrowInvalid; the converter
    asks ``failure`` whether the cause was a corrupt archive (bad data) or the network (transient).
    """

    def __init__(self, raw: BinaryIO, compression: str):
        super().__init__()
        self._raw: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compression == "gzip" else raw
        self.failure: BaseException | None = None
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            except Exception:  # noqa: BLE001 - closing a failed network stream may fail again; nothing is lost
                pass
        super().close()

    def readinto(self, buffer) -> int:  # type: ignore[override]
        try:
            n = self._fill(buffer)
        except (gzip.BadGzipFile, zlib.error, EOFError) as exc:
            self.failure = FileRejected("compression_error", f"corrupt or truncated gzip data: {exc}")
            raise self.failure from exc
        except Exception as exc:  # network and S3 errors: the caller decides whether they are transient
            self.failure = exc
            raise
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


def peek_text(reader: io.BufferedReader, encoding: str) -> str:
    """The first bytes of the (decompressed) file as text, for header and shape checks."""
    head = reader.peek(PEEK_BYTES)[:PEEK_BYTES]
    text = head.decode(encoding, errors="replace")
    return text[1:] if text.startswith("\ufeff") else text


# ----------------------------------------------------------------------------------------- CSV / TSV


def csv_header(contract: Contract, head: str) -> list[str]:
    fmt = contract.format
    first_line = head.split("\n", 1)[0].rstrip("\r") if "\n" in head else head
    if not first_line.strip():
        raise FileRejected("empty_header", "the first line (header) is empty")
    if "\n" not in head and len(head) >= PEEK_BYTES - 4:
        raise FileRejected("header_too_long", f"header line longer than {PEEK_BYTES} bytes")
    return next(pycsv.reader([first_line], delimiter=fmt.field_delimiter, quotechar=fmt.quote_char))


def plan_csv_columns(contract: Contract, header: list[str]) -> list[str]:
    """Declared columns present in the file; rejects files that miss required ones or carry unknown ones."""
    declared = [c.name for c in contract.columns]
    missing_required = [c.name for c in contract.columns if not c.nullable and c.name not in header]
    unknown = [name for name in header if name not in declared]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise FileRejected("duplicate_columns", f"header repeats column(s) {duplicated}")
    if missing_required:
        hint = ""
        if len(header) == 1:
            for candidate, label in ((";", "';'"), ("\t", "tab"), ("|", "'|'"), (",", "','")):
                if candidate in header[0] and candidate != contract.format.field_delimiter:
                    hint = f" (the header has a single column; is the delimiter {label}?)"
                    break
        raise FileRejected(
            "missing_columns", f"required column(s) {missing_required} not in header {header[:20]}{hint}"
        )
    if unknown and contract.unknown_columns == "reject":
        raise FileRejected("unknown_columns", f"column(s) {unknown} are not in the contract (unknown_columns: reject)")
    return [name for name in declared if name in header]


def read_csv(
    reader: io.BufferedReader,
    contract: Contract,
    *,
    typed: bool,
    row_errors: RowErrors,
    skipped_rows: list[int],
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Iterator[pa.RecordBatch]:
    """CSV/TSV batches; rows with the wrong number of fields are skipped into ``row_errors``/``skipped_rows``."""
    fmt = contract.format
    if fmt.header:
        header = csv_header(contract, peek_text(reader, fmt.encoding))
        column_names = None
    else:  # no header line: the fields are the contract's columns, in order
        header = column_names = [c.name for c in contract.columns]
    present = plan_csv_columns(contract, header)
    types: dict[str, pa.DataType] = {}
    timestamp_parsers: list[str] = []
    for column in contract.columns:
        if typed:
            types[column.name] = arrow_type(column.type)
            if column.format:
                timestamp_parsers.append(column.format)
        else:
            types[column.name] = pa.string()

    def on_invalid_row(row: pacsv.InvalidRow) -> str:
        known = bool(row.number and row.number > 0)
        if typed and not known:  # multi-threaded parsing does not know line numbers: exact path
            skipped_rows.append(-1)
            return "skip"
        number = row.number - 1 if known else 0  # the header is line 1; 0 = unknown
        skipped_rows.append(number)
        hint = "" if known else " (row number unknown; an unterminated quote?)"
        row_errors.add(
            RowError(number, None, f"expected {row.expected_columns} fields, got {row.actual_columns}{hint}"),
            record={"_line": row.text},
        )
        return "skip"

    csv_reader = pacsv.open_csv(
        reader,
        # single-threaded parsing keeps invalid-row callbacks in file order, so row numbers stay exact
        read_options=pacsv.ReadOptions(
            block_size=block_size, encoding=fmt.encoding, use_threads=typed, column_names=column_names
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=fmt.field_delimiter,
            quote_char=fmt.quote_char,
            newlines_in_values=fmt.newlines_in_values,
            invalid_row_handler=on_invalid_row,
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=present,
            include_missing_columns=True,
            null_values=fmt.null_values,
            strings_can_be_null=True,
            true_values=fmt.true_values,
            false_values=fmt.false_values,
            timestamp_parsers=timestamp_parsers or None,
            check_utf8=True,
        ),
    )
    for batch in csv_reader:
        yield batch


# ----------------------------------------------------------------------------------------- JSON


def check_json_shape(contract: Contract, head: str) -> None:
    first = head.lstrip()[:1]
    if not first:
        raise FileRejected("empty_file", "the file holds only whitespace")
    if contract.format.type == "jsonl" and first == "[":
        raise FileRejected("format_mismatch", "the file is a JSON array but the contract says JSON lines (jsonl)")
    if contract.format.type == "json_array" and first != "[":
        raise FileRejected("format_mismatch", "the file is not a JSON array but the contract says json_array")


# JSON scalars that pyarrow cannot parse into these types directly are read as strings, then cast.
_JSON_AS_STRING = {"date", "timestamp"}


def read_jsonl_typed(
    reader: io.BufferedReader, contract: Contract, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Iterator[pa.RecordBatch]:
    check_json_shape(contract, peek_text(reader, contract.format.encoding))
    schema = pa.schema(
        [
            (c.name, pa.string() if c.type in _JSON_AS_STRING else arrow_type(c.type))
            for c in contract.columns
        ]
    )
    json_reader = pajson.open_json(
        reader,
        read_options=pajson.ReadOptions(block_size=block_size, use_threads=True),
        parse_options=pajson.ParseOptions(
            explicit_schema=schema,
            unexpected_field_behavior="ignore" if contract.unknown_columns == "ignore" else "error",
        ),
    )
    for batch in json_reader:
        yield batch


class _BadLine(ValueError):
    """A line that is not JSON; keeps the line so quarantined rows hold the original text."""

    def __init__(self, message: str, line: bytes):
        super().__init__(message)
        self.text = line.decode("utf-8", errors="replace").rstrip("\r\n")


def _json_text(value: object) -> str | None | Exception:
    """A JSON scalar as the text the exact path validates; nested values are errors."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return ValueError(f"nested JSON {type(value).__name__} where a scalar is declared")
    return value if isinstance(value, str) else repr(value) if isinstance(value, float) else str(value)


def records_to_text_batches(
    records: Iterator[tuple[int, object]],
    contract: Contract,
    row_errors: RowErrors,
    *,
    batch_rows: int = 50_000,
) -> Iterator[pa.RecordBatch]:
    """JSON records -> string batches; structural problems become row errors with their row number.

    Rows with structural errors are dropped here; the batch carries a ``__row`` column so the
    validator reports later errors against the right source row.
    """
    names = [c.name for c in contract.columns]
    declared = set(names)
    reject_unknown = contract.unknown_columns == "reject"
    columns: dict[str, list[str | None]] = {name: [] for name in names}
    row_numbers: list[int] = []

    def flush() -> pa.RecordBatch:
        arrays = [pa.array(columns[name], pa.string()) for name in names] + [pa.array(row_numbers, pa.int64())]
        batch = pa.RecordBatch.from_arrays(arrays, names=names + ["__row"])
        for values in columns.values():
            values.clear()
        row_numbers.clear()
        return batch

    for row, record in records:
        if isinstance(record, _BadLine):
            row_errors.add(RowError(row, None, str(record)), record={"_line": record.text})
            continue
        if not isinstance(record, dict):
            row_errors.add(RowError(row, None, f"expected a JSON object, got {type(record).__name__}"), record=record)
            continue
        problems: list[RowError] = []
        if reject_unknown:
            for unknown in sorted(set(record) - declared):
                problems.append(RowError(row, unknown, "unknown column (unknown_columns: reject)"))
        values: dict[str, str | None] = {}
        for name in names:
            text = _json_text(record.get(name))
            if isinstance(text, Exception):
                problems.append(RowError(row, name, str(text)))
            else:
                values[name] = text
        if problems:
            row_errors.add_all(problems, record=record)
            continue
        for name in names:
            columns[name].append(values[name])
        row_numbers.append(row)
        if len(row_numbers) >= batch_rows:
            yield flush()
    if row_numbers:
        yield flush()


def jsonl_records(reader: io.BufferedReader, encoding: str) -> Iterator[tuple[int, object]]:
    for number, line in enumerate(reader, start=1):
        if number == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if not line.strip():
            continue
        try:
            yield number, json.loads(line.decode(encoding))
        except UnicodeDecodeError as exc:
            raise FileRejected("encoding_error", f"line {number} is not valid {encoding}: {exc}") from exc
        except json.JSONDecodeError as exc:
            yield number, _BadLine(f"invalid JSON: {exc.msg} at column {exc.colno}", line)
        except (ValueError, RecursionError) as exc:  # huge integer literals, absurd nesting
            yield number, _BadLine(f"invalid JSON: {type(exc).__name__}: {str(exc)[:200]}", line)


def json_array_records(reader: io.BufferedReader, encoding: str) -> Iterator[tuple[int, object]]:
    import ijson  # only JSON-array files pay for it

    # RFC 8259: JSON exchanged between systems is UTF-8, so the contract's encoding is not used here.
    try:
        for number, item in enumerate(ijson.items(reader, "item", use_float=True), start=1):
            yield number, item
    except ijson.JSONError as exc:
        raise FileRejected("parse_error", f"invalid JSON array: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise FileRejected("encoding_error", f"not valid UTF-8: {exc}") from exc


def read_json_text(
    reader: io.BufferedReader, contract: Contract, row_errors: RowErrors
) -> Iterator[pa.RecordBatch]:
    check_json_shape(contract, peek_text(reader, contract.format.encoding))
    source: Callable[[io.BufferedReader, str], Iterator[tuple[int, object]]] = (
        jsonl_records if contract.format.type == "jsonl" else json_array_records
    )
    yield from records_to_text_batches(source(reader, contract.format.encoding), contract, row_errors)
