"""Partitioned Parquet output of one landing object, streamed row group by row group."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .catalog import partition_path
from .contracts import Contract
from .outcomes import FileRejected, Lineage, OutputFile
from .types import LINEAGE, LINEAGE_COLUMNS, TYPES, arrow_type

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
COMPRESSION = "snappy"  # Parquet codec. Lambda bills a conversion's CPU time, and snappy compresses at a fraction of
# zstd's CPU per byte; zstd files are smaller on high-cardinality text (less to store and for Athena to scan). Snappy
# keeps the conversion under the cost of the book approach (pandas, snappy too); Athena, Glue/Spark and pyarrow
# read both, and the README's Performance section gives the sizes.
ROW_GROUP_BYTES = 16 << 20  # data bytes (Arrow) per row group and partition (~175k web-log rows);
# one row group is written on a background thread while the next fills, so about twice this is in memory
WRITE_BATCH_ROWS = 1 << 16  # rows the Parquet writer encodes per call (its default, 1,024, repeats per-call work
# such as statistics and level bookkeeping 64 times as often; pages still close at their default size)
MAX_FILE_BYTES = 1_000_000_000  # an object's output for one partition rolls over to a next file before this
# (Athena's sweet spot is 128 MB-1 GB per file); a smaller object gives one file per partition
MAX_PARTITIONS_PER_OBJECT = 500
# S3 keys hold at most 1,024 bytes: the table's name and the file's name need the rest
MAX_PARTITION_PATH_BYTES = 512
DICTIONARY_SAMPLE_ROWS = 1 << 16
DICTIONARY_MAX_DISTINCT_RATIO = 0.5
STATISTICS_PARTS = 8  # a string column's first rows are cut into this many parts to see whether it is clustered:
STATISTICS_SPAN = 0.5  # it is when a part spans at most this share of the distinct values (see _ranges_can_differ)
_TRANSFORM_FORMAT = {"year": "%Y", "month": "%Y-%m", "day": "%Y-%m-%d"}
_LINEAGE_STRINGS = tuple(c.name for c in LINEAGE if c.constant_per_object)


def object_file_name(source_key: str) -> str:
    """Deterministic output name of a landing object: readable stem + hash of the full key.

    Never a hidden name: Spark, Hive and Athena skip files whose name starts with "_" or "." (their marker and
    temporary files), so such a name would silently drop the object's rows from every query. Non-ASCII letters
    become "_" (``été.json`` gives ``_t_.json``), so leading "_" and "." are stripped; the hash keeps names of
    different keys apart.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", source_key.rsplit("/", 1)[-1])[:80].lstrip("._") or "object"
    digest = hashlib.sha256(source_key.encode("utf-8")).hexdigest()[:12]
    return f"{stem}-{digest}.parquet"


def output_schema(contract: Contract) -> pa.Schema:
    """The columns of every output file: the contract's data columns, then the lineage columns.

    Columns the contract declares ``nullable: false``, and the lineage, are REQUIRED in Parquet: the file says
    what the contract guarantees, and the writer skips definition levels for them (~7% less encoding work).
    """
    fields = [pa.field(c.name, arrow_type(c.type), nullable=c.nullable) for c in contract.columns]
    fields += [pa.field(c.name, TYPES[c.type].arrow(tz=c.tz), nullable=False) for c in LINEAGE]
    return pa.schema(fields)


def _encoding_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the constant lineage strings as one-entry dictionaries.

    The Parquet writer then copies the indices instead of hashing the same key and version on every row
    (~0.2 s less CPU on a 3 M-row file). The files still hold plain UTF-8 strings: the writer does not store the
    Arrow schema (store_schema=False), so every reader, pyarrow included, sees ``string``.
    """
    return pa.schema(
        [f.with_type(pa.dictionary(pa.int32(), f.type)) if f.name in _LINEAGE_STRINGS else f for f in schema]
    )


def _ranges_can_differ(values: pa.ChunkedArray) -> bool:
    """Whether min/max statistics of this string column could skip row groups, judged on its first rows.

    Yes when they hold one value (the file may hold only it: a query for another skips the file), and when a part
    of them spans at most STATISTICS_SPAN of their distinct values, from the smallest to the largest it holds (the
    column is sorted or clustered, as a date or a country often is in an export). No when every part spans more:
    the values come in no order, so every row group's min and max would cover about the whole domain.
    """
    distinct = pc.unique(pc.drop_null(values))
    if len(distinct) <= 1:
        return True
    ranks = pc.index_in(values, value_set=distinct.take(pc.sort_indices(distinct)))  # each value's place in order
    size = -(-len(values) // STATISTICS_PARTS)
    for start in range(0, len(values), size):
        part = pc.min_max(ranks.slice(start, size)).as_py()
        if part["min"] is not None and part["max"] - part["min"] + 1 <= STATISTICS_SPAN * len(distinct):
            return True
    return False


@dataclass
class _Open:
    path: str  # partition path ("" when unpartitioned)
    output: OutputFile
    writer: pq.ParquetWriter
    options: dict  # ParquetWriter options, chosen on the partition's first rows and kept for its next files
    sequence: int = 0  # 0 = the partition's first file
    pending: list[pa.Table] = field(default_factory=list)
    pending_bytes: int = 0
    pending_rows: int = 0


class PartitionedWriter:
    """Writes validated batches under ``root/<partition path>/<object file name>``.

    Memory is bounded by ROW_GROUP_BYTES per open partition; output files are complete only after close().
    A partition's output past MAX_FILE_BYTES continues in ``<name>-00001.parquet``, ``-00002`` ...: names stay
    deterministic, so a retry overwrites the same keys.
    """

    def __init__(self, root: Path, contract: Contract, lineage: Lineage, *, compression: str = COMPRESSION):
        self.root = root
        self.contract = contract
        self.lineage = lineage
        self.compression = compression
        self.schema = output_schema(contract)
        self._encoding = _encoding_schema(self.schema)
        self.file_name = object_file_name(lineage.source_key)
        self._open: dict[str, _Open] = {}  # partition path -> the file being written
        self._full: list[_Open] = []  # closed because they reached MAX_FILE_BYTES
        self._lineage: list[pa.Array] = []  # constant lineage columns, sliced (zero-copy) for each batch
        # Row groups are encoded and compressed on a background thread (pyarrow releases the GIL) while the
        # next blocks are parsed and validated; at most one row group is in flight, so memory stays bounded.
        self._pool: ThreadPoolExecutor | None = None
        self._inflight: Future | None = None  # two in flight measured no faster and cost a row group of memory

    def write(self, batch: pa.Table) -> None:
        """``batch`` holds the contract's declared columns, typed and valid."""
        if batch.num_rows == 0:
            return
        for path, part, rows in self._split(batch):
            self._append(path, part, rows)

    def _split(self, batch: pa.Table):
        values: list[tuple[str, pa.Array | str]] = []
        for spec in self.contract.partitions:
            if spec.source == "ingest_date":
                values.append((spec.name, self.lineage.ingest_date))
                continue
            column = batch.column(spec.column)
            if spec.transform == "identity":
                text = pc.cast(column, pa.string())
                # "" names no folder: Spark and Hive write it as the default (null) partition too
                text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
            else:
                text = pc.strftime(pc.cast(column, pa.timestamp("ms")), format=_TRANSFORM_FORMAT[spec.transform])
            values.append((spec.name, pc.fill_null(text, NULL_PARTITION)))
        if all(isinstance(v, str) for _, v in values):
            part = {name: v for name, v in values}
            yield partition_path(part), part, batch
            return
        # the distinct combinations of the per-row values (any text, so grouped as columns, never joined)
        varying = {name: v for name, v in values if not isinstance(v, str)}
        for combination in pa.table(varying).group_by(list(varying)).aggregate([]).to_pylist():
            part = {name: v if isinstance(v, str) else combination[name] for name, v in values}
            mask = functools.reduce(pc.and_, (pc.equal(varying[name], combination[name]) for name in varying))
            yield partition_path(part), part, batch.filter(mask)

    def _append(self, path: str, part: dict[str, str], batch: pa.Table) -> None:
        handle = self._open.get(path)
        if handle is None:
            if len(self._open) >= MAX_PARTITIONS_PER_OBJECT:
                raise FileRejected(
                    "too_many_partitions", f"one file may fill at most {MAX_PARTITIONS_PER_OBJECT} partitions"
                )
            if len(path.encode()) > MAX_PARTITION_PATH_BYTES:
                longest = max(part, key=lambda name: len(part[name].encode()))
                raise FileRejected(  # the value itself is not quoted: reasons never carry row contents
                    "partition_value_too_long",
                    f"partition {longest}: a value of {len(part[longest].encode())} bytes makes the partition "
                    f"folders longer than {MAX_PARTITION_PATH_BYTES} bytes, more than an S3 key leaves for them; "
                    f"partition by a shorter column or a date part of one",
                )
            dictionary = self._dictionary_columns(batch)
            options = {
                "store_schema": False,  # the Parquet types say it all; readers see the lineage as plain strings
                "compression": self.compression,
                "write_statistics": self._statistics_columns(batch, dictionary),
                "use_dictionary": dictionary,
                "write_batch_size": WRITE_BATCH_ROWS,
            }
            handle = self._open[path] = self._start_file(path, part, options, sequence=0)
        data = self._with_lineage(batch)
        handle.pending.append(data)
        handle.pending_bytes += batch.nbytes  # the lineage columns share one buffer: not counted per batch
        handle.pending_rows += data.num_rows
        if handle.pending_bytes >= ROW_GROUP_BYTES:
            self._flush(handle)

    def _start_file(self, path: str, part: dict[str, str], options: dict, *, sequence: int) -> _Open:
        name = self.file_name if sequence == 0 else self.file_name.replace(".parquet", f"-{sequence:05d}.parquet")
        relative = f"{path}/{name}" if path else name
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        writer = pq.ParquetWriter(target, self._encoding, **options)
        return _Open(path, OutputFile(relative, part), writer, options, sequence)

    def _next_file_if_full(self, handle: _Open) -> _Open:
        """The file the next row group goes to: ``handle``'s, or a new one when it is close to MAX_FILE_BYTES."""
        size = (self.root / handle.output.path).stat().st_size  # exact: no row group is in flight (see _flush)
        if handle.output.rows == 0 or size < MAX_FILE_BYTES - ROW_GROUP_BYTES:  # a row group encodes to < its data
            return handle
        handle.writer.close()
        self._full.append(handle)
        following = self._start_file(
            handle.path, handle.output.partition, handle.options, sequence=handle.sequence + 1
        )
        following.pending, following.pending_bytes, following.pending_rows = (
            handle.pending, handle.pending_bytes, handle.pending_rows
        )
        handle.pending, handle.pending_bytes, handle.pending_rows = [], 0, 0
        self._open[handle.path] = following
        return following

    def _dictionary_columns(self, first: pa.Table) -> list[str]:
        """Columns worth dictionary-encoding, judged on the object's first batch.

        Dictionary-encoding a column of mostly distinct values (ids, timestamps, addresses) costs a hash of every
        value only for the writer to fall back to plain encoding; skipping those makes encoding ~40% cheaper
        and the file no larger. The lineage columns are constant and always dictionary-encoded.
        """
        sample = first.slice(0, DICTIONARY_SAMPLE_ROWS)
        rows = max(sample.num_rows, 1)
        chosen = [
            c.name
            for c in self.contract.columns
            if pc.count_distinct(sample.column(c.name)).as_py() <= DICTIONARY_MAX_DISTINCT_RATIO * rows
        ]
        return chosen + list(LINEAGE_COLUMNS)

    def _statistics_columns(self, first: pa.Table, dictionary: list[str]) -> list[str]:
        """Columns whose row groups get min/max statistics: those where Athena can use them to skip row groups.

        That is every non-string column (numbers, dates, timestamps, booleans), the contract's key, the lineage
        columns, and the low-cardinality (dictionary-encoded) strings whose first rows show that their ranges can
        differ between row groups (``_ranges_can_differ``). High-cardinality free text (addresses, user agents,
        ids) and unclustered low-cardinality text (a user name or an address repeated in random order) are left
        out: each row group's min and max then span nearly the whole domain and skip nothing, yet comparing every
        string is a large share of the writer's work. Iceberg and parquet-mr make a similar trade by truncating string
        statistics.
        """
        chosen = [
            c.name
            for c in self.contract.columns
            if c.type != "string"
            or c.name in self.contract.key
            or (c.name in dictionary and _ranges_can_differ(first.column(c.name).slice(0, DICTIONARY_SAMPLE_ROWS)))
        ]
        return chosen + list(LINEAGE_COLUMNS)

    def _with_lineage(self, batch: pa.Table) -> pa.Table:
        n = batch.num_rows
        if not self._lineage or len(self._lineage[0]) < n:
            # built once per object (and when a larger batch arrives): every batch gets zero-copy slices
            size = max(n, 1 << 16)
            first = pa.repeat(pa.scalar(0, pa.int32()), size)  # every row points at the one dictionary entry
            self._lineage = [
                pa.DictionaryArray.from_arrays(first, pa.array([self.lineage.source_key], pa.string())),
                pa.DictionaryArray.from_arrays(first, pa.array([self.lineage.source_version], pa.string())),
                pa.repeat(pa.scalar(self.lineage.ingested_at, pa.timestamp("ms", tz="UTC")), size),
            ]
        arrays = [batch.column(c.name) for c in self.contract.columns]
        arrays += [column.slice(0, n) for column in self._lineage]
        return pa.Table.from_arrays(arrays, schema=self._encoding)

    def _flush(self, handle: _Open) -> None:
        if handle.pending:
            self._wait()
            handle = self._next_file_if_full(handle)
            table = pa.concat_tables(handle.pending)
            handle.output.rows += handle.pending_rows
            handle.pending, handle.pending_bytes, handle.pending_rows = [], 0, 0
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
            self._inflight = self._pool.submit(handle.writer.write_table, table, row_group_size=1 << 24)

    def _wait(self) -> None:
        """Waits for the row group in flight; re-raises its error."""
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            inflight.result()

    def _shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def close(self) -> list[OutputFile]:
        outputs = []
        try:
            for handle in list(self._open.values()):
                self._flush(handle)
            self._wait()
        finally:
            self._shutdown()
        for handle in self._open.values():
            handle.writer.close()
        for handle in self._full + list(self._open.values()):
            handle.output.bytes = (self.root / handle.output.path).stat().st_size
            outputs.append(handle.output)
        self._open.clear()
        self._full.clear()
        return sorted(outputs, key=lambda o: o.path)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the files are being removed anyway
            self._wait()
        self._shutdown()
        for handle in self._open.values():
            handle.writer.close()
        for handle in self._full + list(self._open.values()):
            (self.root / handle.output.path).unlink(missing_ok=True)
        self._open.clear()
        self._full.clear()

    @property
    def rows(self) -> int:
        """Rows accepted so far, written or waiting for their row group."""
        return sum(h.output.rows + h.pending_rows for h in self._full + list(self._open.values()))

