"""Stream one landing file through its contract into partitioned Parquet.

Strategy: parse with pyarrow straight into the contract's types (fast path). If the typed parse fails
on a value, start over reading every column as text and let validation name each bad row and column
(exact path). Both paths stream in blocks, so memory is bounded by the block and row-group sizes,
never by the file size.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc

from .contracts import Contract
from .outcomes import FileRejected, Lineage, ObjectIgnored, OutputFile, RowError, RowErrors
from .readers import (
    DEFAULT_BLOCK_SIZE,
    MAX_BLOCK_SIZE,
    SourceStream,
    buffered,
    read_csv,
    read_json_text,
    read_jsonl_typed,
)
from .validation import BatchVerdict, KeyTracker, validate
from .writer import PartitionedWriter

Opener = Callable[[], BinaryIO]


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
            "schema": self.schema,
        }


class _NeedsExactPath(Exception):
    """The typed parse hit a value it cannot convert; the exact path will say which rows."""


class _BadRowsFile:
    """JSON lines of rejected source rows (``on_bad_rows: quarantine_rows``), opened on first use."""

    def __init__(self, path: Path):
        self.path = path
        self._handle = None
        self.count = 0

    def __call__(self, row: int, record: Any, errors: list[RowError]) -> None:
        if self._handle is None:
            self._handle = self.path.open("w", encoding="utf-8")
        line = {"_row": row, "_errors": [e.as_dict() for e in errors], "record": record}
        self._handle.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
        self.count += 1

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
    while True:
        try:
            return _run(open_source, contract, lineage, out_dir, work_dir, compression, typed, attempt_block)
        except _NeedsExactPath:
            typed = False
        except _BlockTooSmall:
            if attempt_block >= MAX_BLOCK_SIZE:
                raise FileRejected(
                    "line_too_long", f"a single row is longer than {MAX_BLOCK_SIZE >> 20} MiB"
                ) from None
            attempt_block = min(attempt_block * 4, MAX_BLOCK_SIZE)


class _BlockTooSmall(Exception):
    pass


def _classify(exc: pa.ArrowException, stream: SourceStream, typed: bool) -> Exception:
    """Turn a pyarrow failure into: transient (re-raise the cause), rejection, or a retry signal."""
    if isinstance(stream.failure, FileRejected):
        return stream.failure
    if stream.failure is not None:
        return stream.failure  # the network or S3 failed mid-read: transient, the record is retried
    if not isinstance(exc, (pa.ArrowInvalid, pa.ArrowTypeError)):
        return exc  # out of memory, capacity, not implemented: not the data's fault, so never a quarantine
    message = str(exc)
    if "straddling" in message or "block size" in message.lower():
        return _BlockTooSmall()
    if "UTF8" in message or "UTF-8" in message or "utf-8" in message:
        return FileRejected("encoding_error", f"not valid UTF-8 text: {message}")
    if typed and ("conversion error" in message or "changed from" in message or "convert" in message.lower()):
        return _NeedsExactPath()
    if typed and "unexpected field" in message.lower():
        return _NeedsExactPath()
    if typed and "JSON parse error" in message:
        return _NeedsExactPath()  # the exact path reports the bad line
    # pyarrow echoes the offending row after "got N": keep the reason free of row contents
    return FileRejected("parse_error", re.sub(r"(got \d+)(: .*)$", r"\1", message, flags=re.S))


def _batches(
    reader, contract: Contract, typed: bool, row_errors: RowErrors, skipped: list[int], block_size: int
) -> Iterator[pa.RecordBatch]:
    if contract.format.is_delimited:
        return read_csv(reader, contract, typed=typed, row_errors=row_errors, skipped_rows=skipped, block_size=block_size)
    if typed and contract.format.type == "jsonl":
        return read_jsonl_typed(reader, contract, block_size=block_size)
    if typed:
        raise _NeedsExactPath()  # JSON arrays are read record by record
    return read_json_text(reader, contract, row_errors)


def _text_columns(contract: Contract, typed: bool) -> set[str]:
    if not typed:
        return {c.name for c in contract.columns if c.type != "string"}
    if contract.format.is_delimited:
        return set()
    return {c.name for c in contract.columns if c.type in ("date", "timestamp")}


def _run(
    open_source: Opener,
    contract: Contract,
    lineage: Lineage,
    out_dir: Path,
    work_dir: Path,
    compression: str,
    typed: bool,
    block_size: int,
) -> ConversionResult:
    bad_rows = _BadRowsFile(work_dir / "rejected-rows.jsonl") if contract.on_bad_rows == "quarantine_rows" else None
    row_errors = RowErrors(cap=contract.max_reported_errors, record_sink=bad_rows)
    skipped: list[int] = []  # data rows the CSV parser skipped (wrong field count), in file order
    writer = PartitionedWriter(out_dir, contract, lineage)
    keys = KeyTracker(contract)
    text_columns = _text_columns(contract, typed)
    stream = SourceStream(open_source(), compression)
    reader = buffered(stream)
    kept_rows = 0  # rows delivered by the parser so far
    reject_whole = contract.on_bad_rows == "reject_file"
    try:
        try:
            # closed here, not by the garbage collector: closing joins the validation thread, and a collection can
            # start inside threading's own locks, where that join would deadlock
            with closing(_validated(_batches(reader, contract, typed, row_errors, skipped, block_size), contract,
                                    text_columns, skipped)) as steps:
                for batch, verdict, row_of in steps:
                    if typed and -1 in skipped:
                        raise _NeedsExactPath()  # rows with the wrong field count: find their line numbers
                    if typed and verdict.error_count and any(
                        e.message.startswith("not a valid") for e in verdict.errors
                    ):
                        raise _NeedsExactPath()
                    bad, dup_errors, dup_count = keys.duplicates(verdict.table, verdict.bad, row_of)
                    bad_count = (pc.sum(bad).as_py() or 0) if bad is not None else 0
                    if bad_count:
                        errors = sorted(verdict.errors + dup_errors, key=lambda e: e.row)
                        row_errors.add_counted(errors, error_count=verdict.error_count + dup_count, bad_rows=bad_count)
                        if bad_rows is not None:
                            _record_bad_rows(batch, bad, row_of, errors, bad_rows)
                    kept_rows += batch.num_rows
                    if reject_whole and row_errors.total:
                        if row_errors.full:
                            break  # enough examples to explain the rejection
                        continue
                    good = verdict.table.filter(pc.invert(bad)) if bad_count else verdict.table
                    writer.write(good)
            if typed and -1 in skipped:
                raise _NeedsExactPath()
        except pa.ArrowException as exc:
            raise _classify(exc, stream, typed) from exc
        except (OSError, ValueError) as exc:
            if stream.failure is not None and stream.failure is not exc:
                raise stream.failure from exc
            raise
        rows_read = kept_rows + len(skipped)
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


VALIDATION_ROWS = 1 << 15  # rows validated per step: small parser blocks keep memory low, but every compute
# call has a fixed cost, so blocks are gathered into steps of about this many rows first (a Table whose columns
# keep the parser's chunks: nothing is copied, which also keeps the allocator's footprint ~30 MB smaller)
STEPS_AHEAD = 2  # steps validated on the worker thread while the parser reads on


RowOf = Callable[[int], int]


def _validated(
    batches: Iterator[pa.RecordBatch], contract: Contract, text_columns: set[str], skipped: list[int]
) -> Iterator[tuple[pa.Table, BatchVerdict, RowOf]]:
    """Validation steps in file order, each computed on a worker thread while this thread parses the next.

    pyarrow's parser and compute kernels release the GIL, so parsing (here), validation (worker) and Parquet
    encoding (the writer's thread) run on separate cores; at most STEPS_AHEAD steps wait, so memory stays bounded.
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate")
    pending: deque[Future] = deque()
    kept = 0  # rows handed to validation so far
    try:
        for group in _grouped(batches):
            pending.append(pool.submit(_validate_step, group, contract, text_columns, kept, skipped))
            kept += sum(b.num_rows for b in group)
            if len(pending) > STEPS_AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:  # also when the caller stops early (a rejection, or a switch to the exact path)
        pool.shutdown(wait=True, cancel_futures=True)


def _validate_step(
    group: list[pa.RecordBatch], contract: Contract, text_columns: set[str], kept_before: int, skipped: list[int]
) -> tuple[pa.Table, BatchVerdict, RowOf]:
    step = pa.Table.from_batches(group)
    row_of = _row_numbering(step, kept_before, skipped)
    return step, validate(step, contract, text_columns=text_columns, row_of=row_of), row_of


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


def _row_numbering(batch: pa.Table, kept_before: int, skipped: list[int]) -> RowOf:
    """Maps an index of ``batch`` to its 1-based data row in the source file."""
    if "__row" in batch.schema.names:
        rows = batch.column("__row")
        return lambda index: rows[index].as_py()

    def row_of(index: int) -> int:
        row = kept_before + index + 1
        for skipped_row in sorted(skipped):
            if skipped_row <= row:
                row += 1
            else:
                break
        return row

    return row_of


def _record_bad_rows(
    batch: pa.Table, bad: pa.Array | pa.ChunkedArray, row_of: RowOf, errors: list[RowError], sink: _BadRowsFile
) -> None:
    by_row: dict[int, list[RowError]] = {}
    for error in errors:
        by_row.setdefault(error.row, []).append(error)
    names = [n for n in batch.schema.names if n != "__row"]
    for index in pc.indices_nonzero(bad).to_pylist():
        record = {name: batch.column(name)[index].as_py() for name in names}
        row = row_of(index)
        sink(row, record, by_row.get(row, [RowError(row, None, "rejected (see the file's other errors)")]))
