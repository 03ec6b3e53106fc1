"""Stream one landing file through its contract into partitioned Parquet.

Strategy: parse with pyarrow straight into the contract's types (fast path). If the typed parse fails
on a value, start over reading every column as text and let validation name each bad row and column
(exact path). Both paths stream in blocks, so memory is bounded by the block and row-group sizes,
never by the file size; the one thing that grows with the file, a contract key's values, is capped (validation.py).

A file is read a second time in three more cases: a line longer than the parser's block (with a larger block), a
``quarantine_rows`` file whose key repeats (the repeats are known only at the end; the second pass leaves them out),
and a UTF-8 CSV file holding bytes that are not UTF-8 (checked by block first; then pyarrow checks each value, and
its verdict is the file's outcome: see readers.Blocks).
"""

from __future__ import annotations

import csv as pycsv
import json
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import pyarrow as pa
import pyarrow.compute as pc

from .contracts import Contract
from .outcomes import (
    FileRejected,
    Lineage,
    ObjectIgnored,
    OutputFile,
    RowError,
    RowErrors,
    engine_message,
)
from .readers import (
    DEFAULT_BLOCK_SIZE,
    MAX_BLOCK_SIZE,
    TEXT_TYPES,
    DroppedRows,
    NotUtf8,
    SourceStream,
    buffered,
    read_csv,
    read_json_text,
    read_jsonl_typed,
)
from .validation import (
    EXAMPLES_PER_CHECK,
    BatchVerdict,
    Duplicates,
    KeyTracker,
    arange,
    validate,
)
from .writer import PartitionedWriter

Opener = Callable[[], BinaryIO]

MAX_REJECTED_ROWS = 100_000  # rejected source rows kept in rejected-rows.jsonl (quarantine_rows); all are counted
MAX_REJECTED_BYTES = 64 << 20  # and at most this much of them, so a mostly-bad file stays within time and /tmp


@dataclass
class ConversionResult:
    rows_read: int
    rows_written: int
    rows_rejected: int
    outputs: list[OutputFile]
    row_errors: RowErrors
    bytes_read: int
    path: str  # "typed" or "exact"
    bad_rows_file: Path | None = None
    schema: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_rejected": self.rows_rejected,
            "bytes_read": self.bytes_read,
            "parse_path": self.path,
            "outputs": [vars(o) for o in self.outputs],
            "errors": [e.as_dict() for e in self.row_errors.kept],
            "rejected_rows_kept": self.row_errors.records_kept,
            "schema": self.schema,
        }


class _NeedsExactPath(Exception):
    """The typed parse hit a value it cannot convert; the exact path will say which rows."""


class _BlockTooSmall(Exception):
    pass


class _RepeatedKeys(Exception):
    """quarantine_rows: these rows repeat a key; the file is read again without them."""

    def __init__(self, duplicates: Duplicates):
        super().__init__(f"{len(duplicates)} repeated keys")
        self.duplicates = duplicates


class _BadRowsFile:
    """JSON lines of rejected source rows (``on_bad_rows: quarantine_rows``), opened on first use; keeps the first
    MAX_REJECTED_ROWS rows or MAX_REJECTED_BYTES, whichever comes first."""

    def __init__(self, path: Path):
        self.path = path
        self._handle: TextIO | None = None
        self.count = 0
        self.bytes = 0

    def __call__(self, row: int, record: Any, errors: list[RowError]) -> bool:
        if self.count >= MAX_REJECTED_ROWS or self.bytes >= MAX_REJECTED_BYTES:
            return False
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        line = json.dumps({"_row": row, "_errors": [e.as_dict() for e in errors], "record": record},
                          default=str, ensure_ascii=False) + "\n"
        self._handle.write(line)
        self.count += 1
        self.bytes += len(line)
        return True

    def close(self) -> Path | None:
        if self._handle is not None:
            self._handle.close()
            return self.path
        return None


def convert(
    open_source: Opener,
    contract: Contract,
    *,
    key: str,
    lineage: Lineage,
    out_dir: Path,
    work_dir: Path,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> ConversionResult:
    """Convert one file; raises FileRejected (bad data) or ObjectIgnored; other errors are transient."""
    if not contract.accepts_extension(key):
        raise FileRejected(
            "wrong_extension", f"{key.rsplit('/', 1)[-1]!r} does not end in one of {contract.extensions}"
        )
    compression = contract.compression_for(key)
    attempt_block = block_size
    typed = True
    repeated: Duplicates | None = None
    utf8_per_value = False
    while True:
        try:
            return _run(open_source, contract, lineage, out_dir, work_dir, compression, typed, attempt_block, repeated,
                        utf8_per_value)
        except _NeedsExactPath:
            typed = False
        except NotUtf8:
            utf8_per_value = True  # pyarrow checks each value it converts, and says which bytes are an error
        except _RepeatedKeys as found:
            repeated = found.duplicates
        except _BlockTooSmall:
            if attempt_block >= MAX_BLOCK_SIZE:
                raise FileRejected(
                    "line_too_long", f"a single row is longer than {MAX_BLOCK_SIZE >> 20} MiB"
                ) from None
            attempt_block = min(attempt_block * 4, MAX_BLOCK_SIZE)
        except pycsv.Error as exc:
            raise FileRejected("parse_error", f"not CSV: {engine_message(str(exc))}") from None
        except UnicodeError as exc:
            raise FileRejected("encoding_error", f"not valid text: {engine_message(str(exc))}") from None


def _classify(exc: pa.ArrowException, stream: SourceStream, typed: bool) -> BaseException:
    """Turn a pyarrow failure into: transient (re-raise the cause), rejection, or a retry signal.

    Nothing pyarrow says reaches a reason verbatim: its messages quote rows and values (``engine_message``).
    """
    if isinstance(stream.failure, FileRejected):
        return stream.failure
    if stream.failure is not None:
        return stream.failure  # the network or S3 failed mid-read: transient, the record is retried
    message = str(exc)
    if not isinstance(exc, (pa.ArrowInvalid, pa.ArrowTypeError)):
        # out of memory, capacity, not implemented: not the data's fault, so never a quarantine; the same
        # exception type without the file text the message may carry (it reaches the ledger and the logs)
        return type(exc)(engine_message(message))
    if "straddling" in message or "block size" in message.lower():
        return _BlockTooSmall()
    if "UTF8" in message or "UTF-8" in message or "utf-8" in message:
        return FileRejected("encoding_error", f"not valid UTF-8 text: {engine_message(message)}")
    if typed and ("conversion error" in message or "changed from" in message or "convert" in message.lower()):
        return _NeedsExactPath()
    if typed and "unexpected field" in message.lower():
        return _NeedsExactPath()
    if typed and ("JSON parse error" in message or "specified twice" in message):
        return _NeedsExactPath()  # the exact path reports the bad record
    return FileRejected("parse_error", engine_message(message))


def _batches(
    reader,
    contract: Contract,
    typed: bool,
    row_errors: RowErrors,
    dropped: DroppedRows,
    block_size: int,
    utf8_per_value: bool,
) -> Iterator[pa.RecordBatch]:
    if contract.format.is_delimited:
        return read_csv(reader, contract, typed=typed, row_errors=row_errors, dropped=dropped, block_size=block_size,
                        utf8_per_value=utf8_per_value)
    if typed and contract.format.type == "jsonl":
        return read_jsonl_typed(reader, contract, block_size=block_size)
    if typed:
        raise _NeedsExactPath()  # JSON arrays are read record by record
    return read_json_text(reader, contract, row_errors, dropped)


def _text_columns(contract: Contract, typed: bool) -> set[str]:
    """Columns that reach validation as text (see readers.py for why some always do)."""
    if not typed:
        return {c.name for c in contract.columns if c.type != "string"}
    as_text = TEXT_TYPES if contract.format.is_delimited else {"date", "timestamp"}
    return {c.name for c in contract.columns if c.type in as_text}


def _run(
    open_source: Opener,
    contract: Contract,
    lineage: Lineage,
    out_dir: Path,
    work_dir: Path,
    compression: str,
    typed: bool,
    block_size: int,
    repeated: Duplicates | None,
    utf8_per_value: bool,
) -> ConversionResult:
    bad_rows = _BadRowsFile(work_dir / "rejected-rows.jsonl") if contract.on_bad_rows == "quarantine_rows" else None
    row_errors = RowErrors(cap=contract.max_reported_errors, record_sink=bad_rows)
    dropped = DroppedRows(wanted=lambda: row_errors.wanted)  # rows the reader did not deliver, in file order
    writer = PartitionedWriter(out_dir, contract, lineage)
    keys = KeyTracker(contract) if repeated is None else None  # a second pass already knows the repeats
    text_columns = _text_columns(contract, typed)
    stream = SourceStream(open_source(), compression, utf8=not contract.format.is_delimited)
    reader = buffered(stream)
    delivered = 0  # rows delivered by the reader so far: the position of the next one
    reject_whole = contract.on_bad_rows == "reject_file"
    key_label = ", ".join(contract.key)
    try:
        try:
            # closed here, not by the garbage collector: the parser stops reading as soon as the loop does
            batches = _batches(reader, contract, typed, row_errors, dropped, block_size, utf8_per_value)
            with closing(_validated(batches, contract, text_columns, dropped)) as steps:
                for step, verdict, first in steps:
                    if typed and (dropped.unknown or verdict.needs_text):
                        raise _NeedsExactPath()  # rows of unknown number dropped, or a value only its text settles
                    bad, errors, error_count = verdict.bad, verdict.errors, verdict.error_count
                    if repeated is not None:
                        bad, errors, error_count = _leave_out_repeats(
                            repeated, first, step.num_rows, bad, errors, error_count, dropped, key_label
                        )
                    elif keys is not None and keys.active and not (reject_whole and row_errors.total):
                        keys.observe(verdict.table, bad, first)
                    bad_count = (pc.sum(bad).as_py() or 0) if bad is not None else 0
                    if bad_count:
                        errors = sorted(errors, key=lambda e: e.row)
                        row_errors.add_counted(errors, error_count=error_count, bad_rows=bad_count)
                        if row_errors.records_wanted:
                            _record_bad_rows(step, bad, first, dropped, errors, row_errors)
                    delivered += step.num_rows
                    if reject_whole and row_errors.total:
                        if row_errors.full:
                            break  # enough examples to explain the rejection
                        continue
                    writer.write(verdict.table.filter(pc.invert(bad)) if bad_count else verdict.table)
            if typed and dropped.unknown:
                raise _NeedsExactPath()
        except pa.ArrowException as exc:
            raise _classify(exc, stream, typed) from None
        except (OSError, ValueError) as exc:
            if stream.failure is not None and stream.failure is not exc:
                raise stream.failure from None
            raise
        if keys is not None and keys.active and not (reject_whole and row_errors.total):
            duplicates = keys.duplicates()
            if duplicates is not None and not reject_whole:
                raise _RepeatedKeys(duplicates)  # read again, leaving them out (the writer is aborted below)
            if duplicates is not None:
                examples = _repeat_errors(duplicates.positions, duplicates.first_seen, dropped, key_label,
                                          limit=row_errors.cap)
                row_errors.add_counted(examples, error_count=len(duplicates), bad_rows=len(duplicates))
        rows_read = delivered + dropped.count
        if row_errors.total and reject_whole:
            raise FileRejected("invalid_rows", row_errors.summary(), row_errors)
        if rows_read == 0:
            raise ObjectIgnored("no_rows", "the file holds no data rows (header or whitespace only)")
        if writer.rows == 0:
            raise FileRejected("no_valid_rows", f"every row breaks the contract: {row_errors.summary()}", row_errors)
        rows_written = writer.rows
        outputs = writer.close()
    except BaseException:
        writer.abort()
        if bad_rows is not None:
            bad_rows.close()
        raise
    finally:
        reader.close()  # releases the S3 connection (also after an early stop or a restart on the exact path)
    return ConversionResult(
        rows_read=rows_read,
        rows_written=rows_written,
        rows_rejected=row_errors.bad_rows,
        outputs=outputs,
        row_errors=row_errors,
        bytes_read=stream.bytes_read,
        path="typed" if typed else "exact",
        bad_rows_file=bad_rows.close() if bad_rows is not None else None,
        schema={c.name: c.glue_type for c in contract.columns},
    )


def _repeat_errors(
    positions: pa.Int64Array, first_seen: pa.Int64Array, dropped: DroppedRows, key_label: str, *, limit: int
) -> list[RowError]:
    return [
        RowError(dropped.row(p), key_label, f"duplicate key, first seen at row {dropped.row(f)}")
        for p, f in zip(positions[:limit].to_pylist(), first_seen[:limit].to_pylist())
    ]


def _leave_out_repeats(
    repeated: Duplicates,
    first: int,
    rows: int,
    bad: pa.Array | pa.ChunkedArray | None,
    errors: list[RowError],
    error_count: int,
    dropped: DroppedRows,
    key_label: str,
) -> tuple[pa.Array | pa.ChunkedArray | None, list[RowError], int]:
    """The second pass of a quarantine_rows file: the rows found to repeat a key become bad rows of this step."""
    positions, first_seen = repeated.between(first, first + rows)
    if not len(positions):
        return bad, errors, error_count
    repeat = pc.is_in(pc.add(arange(rows), first), value_set=positions)
    bad = repeat if bad is None else pc.or_(bad, repeat)
    examples = _repeat_errors(positions, first_seen, dropped, key_label, limit=EXAMPLES_PER_CHECK)
    return bad, errors + examples, error_count + len(positions)


VALIDATION_ROWS = 1 << 15  # rows validated per step: small parser blocks keep memory low, but every compute
# call has a fixed cost, so blocks are gathered into steps of about this many rows first (a Table whose columns
# keep the parser's chunks: nothing is copied, which also keeps the allocator's footprint ~30 MB smaller)


def _validated(
    batches: Iterator[pa.RecordBatch], contract: Contract, text_columns: set[str], dropped: DroppedRows
) -> Generator[tuple[pa.Table, BatchVerdict, int], None, None]:
    """Validation steps in file order, with the position of each step's first row.

    Each step is validated on this thread as soon as it is parsed, while its values are still in the core's
    cache; Parquet encoding, whose row groups gather several steps, runs on the writer's thread (writer.py). A
    validation thread of its own cost more CPU time than it saved wall time: it read every step back from
    memory, and more steps waited in memory for it.
    """
    kept = 0  # rows validated so far
    for group in _grouped(batches):
        yield _validate_step(group, contract, text_columns, kept, dropped)
        kept += sum(b.num_rows for b in group)


def _validate_step(
    group: list[pa.RecordBatch], contract: Contract, text_columns: set[str], first: int, dropped: DroppedRows
) -> tuple[pa.Table, BatchVerdict, int]:
    step = pa.Table.from_batches(group)
    verdict = validate(step, contract, text_columns=text_columns, row_of=lambda index: dropped.row(first + index))
    return step, verdict, first


def _grouped(batches: Iterator[pa.RecordBatch], rows: int = VALIDATION_ROWS) -> Iterator[list[pa.RecordBatch]]:
    group: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        group.append(batch)
        count += batch.num_rows
        if count >= rows:
            yield group
            group, count = [], 0
    if group:
        yield group


def _record_bad_rows(
    step: pa.Table,
    bad: pa.Array | pa.ChunkedArray,
    first: int,
    dropped: DroppedRows,
    errors: list[RowError],
    row_errors: RowErrors,
) -> None:
    """The step's bad rows, as the reader delivered them, to the rejected-rows file (up to its limits)."""
    by_row: dict[int, list[RowError]] = {}
    for error in errors:
        by_row.setdefault(error.row, []).append(error)
    room = max(MAX_REJECTED_ROWS - row_errors.records_kept, 0)
    indices = pc.indices_nonzero(bad)[:room].to_pylist()
    records = step.take(pa.array(indices, pa.int64())).to_pylist()  # in bulk: one conversion, not one per value
    for index, record in zip(indices, records):
        row = dropped.row(first + index)
        row_errors.keep_record(row, record, by_row.get(row, [RowError(row, None, "rejected (see the file's other errors)")]))
        if not row_errors.records_wanted:
            return

