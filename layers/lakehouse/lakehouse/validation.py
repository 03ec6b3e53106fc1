"""Vectorised validation of a step of rows (an Arrow Table) against a contract: Arrow compute, no per-row Python.

Input columns arrive either already typed (the fast path) or as text (the exact path, and the types every path
reads as text: see readers.py); text is parsed here, once for every path, so that every unparsable value is
reported with its row and column, and a value means the same whichever path read it.

What each type admits (the README's outcome table says the same):
- int / bigint: decimal digits, an optional sign, leading zeros and surrounding spaces; the whole int32/int64
  range. Not hexadecimal, not 1e3 or 5.0.
- double: decimal and exponent notation; ``inf``/``infinity``/``nan`` in any case, with a sign. A finite literal
  beyond the double range (1e400) is an error, not infinity.
- date: ``YYYY-MM-DD`` (0001-01-01..9999-12-31) or the column's strptime ``format``; impossible dates (02-30) are
  errors, never moved to another day.
- timestamp: ISO 8601 (``YYYY-MM-DD[T ]HH[:MM[:SS[.fff]]]``, at most milliseconds) or the column's ``format``. A
  zone offset (``Z``, ``+05:00``, ``+0500``, ``+05``) is converted to the UTC instant the naive column holds; the
  result must lie in 0001-01-01..9999-12-31.
- checks ``min``/``max``: NaN fails them (it is not within any range); infinities compare as numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from . import regex_check
from .contracts import Column, Contract
from .outcomes import FileRejected, RowError, quote
from .readers import UNNAMED_LAST
from .types import arrow_type

EXAMPLES_PER_CHECK = 20  # row errors kept per check and step; counts are always exact

_INT_SHAPE = r"^\s*[+-]?\d+\s*$"
_INT_CANONICAL = r"^\s*(?:\+|(-))?0*(\d+)\s*$"  # -> sign (only "-") and digits without leading zeros
_INT_LIMITS = {"int": ("2147483647", "2147483648"), "bigint": ("9223372036854775807", "9223372036854775808")}
_DOUBLE = r"^\s*[+-]?((\d+(\.\d*)?)|(\.\d+))([eE][+-]?\d+)?\s*$"
_DOUBLE_SPECIAL = r"(?i)^\s*[+-]?(inf|infinity|nan)\s*$"
_ISO_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)$"
_OFFSET_AT_END = r"(Z|[+-]\d{2}(:?\d{2})?)$"
TIMESTAMP_MS_RANGE = (-62135596800000, 253402300799999)  # 0001-01-01T00:00:00.000 .. 9999-12-31T23:59:59.999
JSON_BOOLEANS = (["true"], ["false"])  # a JSON true/false is read as this text, whatever the contract's words

RowOf = Callable[[int], int]


@dataclass
class BatchVerdict:
    table: pa.Table  # declared columns, typed (bad rows still present)
    bad: pa.BooleanArray | pa.ChunkedArray | None  # rows breaking the contract; None when there are none
    errors: list[RowError]  # examples, at most EXAMPLES_PER_CHECK per check
    error_count: int
    needs_text: bool = False  # a typed value that only its text can confirm (an infinity: "inf" or 1e400?)


def _show(column: Column, value: object) -> str:
    return quote(value, pii=column.pii)


class _Collector:
    def __init__(self, row_of: RowOf):
        self.row_of = row_of
        self.bad: pa.BooleanArray | None = None  # None while every row is good (the common case costs nothing)
        self.errors: list[RowError] = []
        self.count = 0

    def add(self, mask: pa.Array, name: str, describe: Callable[[int], str]) -> None:
        hits = pc.sum(mask).as_py() or 0  # nulls are not counted
        if not hits:
            return
        mask = pc.fill_null(mask, False)
        self.count += hits
        self.bad = mask if self.bad is None else pc.or_(self.bad, mask)
        for index in pc.indices_nonzero(mask)[:EXAMPLES_PER_CHECK].to_pylist():
            self.errors.append(RowError(self.row_of(index), name, describe(index)))


# ----------------------------------------------------------------------------------------- parsing text


def parse_text(values: pa.Array, column: Column, contract: Contract) -> tuple[pa.Array, pa.Array]:
    """Text -> the column's type. Returns (typed values, mask of present-but-unparsable values)."""
    kind = column.type
    if kind == "string":
        return values, pa.repeat(False, len(values))
    if kind in ("int", "bigint"):
        parsed = _integers(values, kind)
    elif kind == "double":
        parsed = _doubles(values)
    elif kind == "boolean":
        parsed = _booleans(values, contract)
    elif column.format:
        parsed = _strptime(values, column.format, kind)
    else:
        parsed = _iso_dates(values) if kind == "date" else _iso_timestamps(values)
    return parsed, pc.and_(pc.is_valid(values), pc.is_null(parsed))


def _integers(values: pa.Array, kind: str) -> pa.Array:
    target = pa.int32() if kind == "int" else pa.int64()
    if values.null_count < len(values):
        # what writers emit (plain decimal digits) takes one cast; the cast also reads "0x1f" as hexadecimal,
        # which is not an integer here (pyarrow's CSV reader wraps it past int64), hence the scan for an x first
        try:
            if not regex_check.text_holds(values, (b"x", b"X")):
                return pc.cast(values, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass  # some value is not plain digits: checked one by one below
    shaped = pc.match_substring_regex(values, _INT_SHAPE)
    canonical = pc.replace_substring_regex(
        pc.if_else(shaped, values, pa.scalar(None, pa.string())), pattern=_INT_CANONICAL, replacement=r"\1\2"
    )
    negative = pc.starts_with(canonical, "-")
    magnitude = pc.if_else(negative, pc.utf8_slice_codeunits(canonical, 1), canonical)
    largest, smallest = _INT_LIMITS[kind]
    length = pc.utf8_length(magnitude)
    bound = pc.if_else(negative, pa.scalar(smallest), pa.scalar(largest))
    in_range = pc.or_(
        pc.less(length, len(largest)),
        pc.and_(pc.equal(length, len(largest)), pc.less_equal(magnitude, bound)),
    )
    return pc.cast(pc.if_else(in_range, canonical, pa.scalar(None, pa.string())), target)


def _doubles(values: pa.Array) -> pa.Array:
    numeric = pc.match_substring_regex(values, _DOUBLE)
    special = pc.match_substring_regex(values, _DOUBLE_SPECIAL)
    ok = pc.or_(numeric, special)
    parsed = pc.cast(pc.utf8_trim_whitespace(pc.if_else(ok, values, pa.scalar(None, pa.string()))), pa.float64())
    overflow = pc.and_(numeric, pc.is_inf(parsed))  # 1e400: a finite literal no double holds
    return pc.if_else(pc.fill_null(overflow, False), pa.scalar(None, pa.float64()), parsed)


def _booleans(values: pa.Array, contract: Contract) -> pa.Array:
    fmt = contract.format
    true_words, false_words = fmt.true_values, fmt.false_values
    if not fmt.is_delimited:
        true_words, false_words = true_words + JSON_BOOLEANS[0], false_words + JSON_BOOLEANS[1]
    is_true = pc.is_in(values, value_set=pa.array(true_words, pa.string()))
    is_false = pc.is_in(values, value_set=pa.array(false_words, pa.string()))
    return pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))


def _iso_dates(values: pa.Array) -> pa.Array:
    return _cast_each(pc.utf8_trim_whitespace(values), pa.date32())


def _iso_timestamps(values: pa.Array) -> pa.Array:
    """ISO 8601 text -> naive UTC milliseconds; a value with a zone offset becomes its UTC instant."""
    text = pc.utf8_trim_whitespace(values)
    offset = pc.fill_null(pc.match_substring_regex(text, _ISO_WITH_OFFSET), False)
    if not pc.any(offset).as_py():
        return _in_range(_cast_each(text, pa.timestamp("ms")))
    none = pa.scalar(None, pa.string())
    local = _cast_each(pc.if_else(offset, none, text), pa.timestamp("ms"))
    instant = pc.cast(_cast_each(pc.if_else(offset, text, none), pa.timestamp("ms", tz="UTC")), pa.timestamp("ms"))
    return _in_range(pc.if_else(offset, instant, local))


def _in_range(parsed: pa.Array) -> pa.Array:
    low, high = TIMESTAMP_MS_RANGE
    as_int = pc.cast(parsed, pa.int64())
    inside = pc.and_(pc.greater_equal(as_int, low), pc.less_equal(as_int, high))
    return pc.if_else(pc.fill_null(inside, False), parsed, pa.scalar(None, parsed.type))


def _cast_each(text: pa.Array, target: pa.DataType) -> pa.Array:
    """``cast``, with nulls for the values it cannot read (pyarrow's cast fails the whole array on one)."""
    try:
        return pc.cast(text, target)
    except pa.ArrowInvalid:
        storage = pa.int32() if target == pa.date32() else pa.int64()
        good: dict[str, object] = {}  # only on bad input: one cast per distinct value
        for value in pc.unique(text).to_pylist():
            if value is None:
                continue
            try:
                good[value] = pc.cast(pa.array([value], pa.string()), target).cast(storage)[0].as_py()
            except pa.ArrowInvalid:
                good[value] = None
        codes = pa.array([good.get(v) if v is not None else None for v in text.to_pylist()], storage)
        return codes.cast(target)


def _strptime(values: pa.Array, fmt: str, kind: str) -> pa.Array:
    """strptime with ``fmt``, keeping only values that name a real date and time.

    strptime normalises what it reads (30/02/2023 becomes 02/03/2023, 23:59:60 the next minute), so a value is
    kept only when formatting its result back gives the same fields: digits compared without leading zeros,
    letters without case, spaces ignored. With ``%z`` (at the end of the format, see contracts.py) the fields are
    compared before the offset is applied, and the value becomes its UTC instant.
    """
    parsed = pc.strptime(values, format=fmt, unit="ms", error_is_null=True)
    if parsed.type.tz is not None:
        parsed = pc.cast(parsed, pa.timestamp("ms"))
    local_text, local_fmt = values, fmt
    if fmt.endswith("%z"):
        local_text = pc.replace_substring_regex(values, pattern=_OFFSET_AT_END, replacement="")
        local_fmt = fmt.removesuffix("%z")
    local = pc.strptime(local_text, format=local_fmt, unit="s", error_is_null=True)
    same = pc.equal(_fields(pc.strftime(local, format=local_fmt)), _fields(local_text))
    parsed = _in_range(pc.if_else(pc.fill_null(same, False), parsed, pa.scalar(None, parsed.type)))
    return pc.cast(parsed, pa.date32(), safe=False) if kind == "date" else parsed


def _fields(text: pa.Array) -> pa.Array:
    spaced = pc.replace_substring_regex(text, pattern=r"\s+", replacement="")
    return pc.utf8_lower(pc.replace_substring_regex(spaced, pattern=r"(^|\D)0+(\d)", replacement=r"\1\2"))


# ----------------------------------------------------------------------------------------- validation


def validate(
    batch: pa.Table,
    contract: Contract,
    *,
    text_columns: set[str],
    row_of: RowOf,
) -> BatchVerdict:
    """Parse text columns and apply type, nullability and checks; ``row_of(i)`` maps an index to a row number."""
    collect = _Collector(row_of)
    arrays: list[pa.Array] = []
    needs_text = False
    line_ends = contract.format.is_delimited and not contract.format.newlines_in_values
    for column in contract.columns:
        values = batch.column(column.name)
        unparsable = None
        if line_ends and pa.types.is_string(values.type):
            collect.add(
                pc.match_substring_regex(values, r"[\r\n]"),
                column.name,
                lambda i: "a line end inside a quoted value (the contract says newlines_in_values: false)",
            )
        if column.name in text_columns:
            raw = values
            values, unparsable = parse_text(raw, column, contract)
            def invalid(i: int, raw: pa.Array = raw, c: Column = column) -> str:
                return f"not a valid {c.type}: {_show(c, raw[i].as_py())}"

            collect.add(unparsable, column.name, invalid)
        elif values.type != arrow_type(column.type):
            values = pc.cast(values, arrow_type(column.type))
        elif column.type == "double" and pc.any(pc.is_inf(values)).as_py():
            needs_text = True  # pyarrow reads 1e400 as infinity: only the text tells it from "inf"
        arrays.append(values)
        _apply_checks(values, column, collect, unparsable)
    if UNNAMED_LAST in batch.schema.names:
        collect.add(
            pc.is_valid(batch.column(UNNAMED_LAST)),
            UNNAMED_LAST,
            lambda i: "a value after the last named column (every line ends with a delimiter, so the header's last "
            "name is empty)",
        )
    typed = pa.Table.from_arrays(arrays, names=[c.name for c in contract.columns])
    return BatchVerdict(typed, collect.bad, collect.errors, collect.count, needs_text)


def _apply_checks(values: pa.Array, column: Column, collect: _Collector, unparsable: pa.Array | None) -> None:
    if not column.nullable and values.null_count:  # counted by every chunk already: no pass when nothing is missing
        missing = pc.is_null(values) if unparsable is None else pc.and_(pc.is_null(values), pc.invert(unparsable))
        collect.add(missing, column.name, lambda i: "required value is missing")
    checks = column.checks
    if checks.allowed_values is not None:
        allowed = pa.array(checks.allowed_values).cast(values.type)
        collect.add(
            pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed))),
            column.name,
            lambda i: f"{_show(column, values[i].as_py())} is not one of {checks.allowed_values}",
        )
    if (checks.min is not None or checks.max is not None) and column.type == "double":
        low = "-inf" if checks.min is None else f"{checks.min:g}"
        high = "inf" if checks.max is None else f"{checks.max:g}"
        collect.add(pc.is_nan(values), column.name, lambda i: f"NaN is not within [{low}, {high}]")
    if checks.min is not None:
        collect.add(
            pc.less(values, checks.min),
            column.name,
            lambda i: f"{_show(column, values[i].as_py())} is below {checks.min:g}",
        )
    if checks.max is not None:
        collect.add(
            pc.greater(values, checks.max),
            column.name,
            lambda i: f"{_show(column, values[i].as_py())} is above {checks.max:g}",
        )
    if checks.regex is not None:
        unmatched = regex_check.mismatches(values, checks.regex)
        if unmatched is not None:
            collect.add(
                unmatched,
                column.name,
                lambda i: f"{_show(column, values[i].as_py())} does not match {checks.regex!r}",
            )


# ----------------------------------------------------------------------------------------- keys

MAX_KEY_BYTES = 128 << 20  # the key values (and positions) of one file kept for the uniqueness check


@dataclass(frozen=True)
class Duplicates:
    """Rows whose key repeats an earlier row: positions of delivered rows (0-based), ascending, and for each the
    position of the row where its key was first seen."""

    positions: pa.Int64Array
    first_seen: pa.Int64Array

    def __len__(self) -> int:
        return len(self.positions)

    def between(self, start: int, stop: int) -> tuple[pa.Int64Array, pa.Int64Array]:
        """The duplicates among positions start..stop-1."""
        low, high = _bisect(self.positions, start), _bisect(self.positions, stop)
        return self.positions[low:high], self.first_seen[low:high]


def _bisect(values: pa.Int64Array, target: int) -> int:
    """The first index whose value is >= target (``values`` ascending)."""
    low, high = 0, len(values)
    while low < high:
        middle = (low + high) // 2
        if values[middle].as_py() < target:
            low = middle + 1
        else:
            high = middle
    return low


class KeyTracker:
    """Exact uniqueness of the contract's key within a file, in memory bounded by MAX_KEY_BYTES.

    Each step's keys (of its valid rows) are copied compactly (Arrow arrays, with the rows' positions); after the
    last step one sort finds every repeat. Memory grows with the keys, not the file's other columns, and is capped:
    a file with more key data than MAX_KEY_BYTES is rejected (``too_many_keys``) rather than checked partly or run
    out of memory. The README gives the limit in rows.
    """

    def __init__(self, contract: Contract, limit_bytes: int | None = None):
        self.columns = list(contract.key)
        self.limit = limit_bytes or MAX_KEY_BYTES
        self.tables: list[pa.Table] = []
        self.bytes = 0
        self.rows = 0

    @property
    def active(self) -> bool:
        return bool(self.columns)

    def observe(self, table: pa.Table, bad: pa.Array | pa.ChunkedArray | None, first_position: int) -> None:
        if not self.columns or table.num_rows == 0:
            return
        positions = pc.add(arange(table.num_rows), first_position)
        keys = table.select(self.columns).append_column("__position", positions)
        keys = keys.filter(pc.invert(bad)) if bad is not None else keys
        keys = keys.combine_chunks()  # its own buffers: the parser's blocks are not kept alive by the keys
        self.tables.append(keys)
        self.bytes += keys.nbytes
        self.rows += keys.num_rows
        if self.bytes > self.limit:
            raise FileRejected(
                "too_many_keys",
                f"the key {self.columns} of more than {self.rows:,} rows exceeds the {self.limit >> 20} MiB kept to "
                "check that it is unique within a file: split the file",
            )

    def duplicates(self) -> Duplicates | None:
        if not self.tables:
            return None
        keys = pa.concat_tables(self.tables)
        self.tables = []
        order = pc.sort_indices(keys, sort_keys=[(c, "ascending") for c in self.columns] + [("__position", "ascending")],
                                null_placement="at_start")
        ordered = keys.take(order)
        n = ordered.num_rows
        if n < 2:
            return None
        same = None
        for name in self.columns:
            column = ordered.column(name).combine_chunks()
            before, after = column.slice(0, n - 1), column.slice(1)
            equal = pc.or_kleene(pc.equal(before, after), pc.and_(pc.is_null(before), pc.is_null(after)))
            equal = pc.fill_null(equal, False)
            same = equal if same is None else pc.and_(same, equal)
        assert same is not None
        repeat = pa.concat_arrays([pa.array([False]), same])  # row i repeats the key of row i-1
        if not pc.any(repeat).as_py():
            return None
        positions = ordered.column("__position").combine_chunks()
        starts = pc.indices_nonzero(pc.invert(repeat))  # where each key's run begins
        run = pc.subtract(pc.cumulative_sum(pc.cast(pc.invert(repeat), pa.int64())), 1)
        first = positions.take(starts).take(run)
        dup_positions, dup_first = positions.filter(repeat), first.filter(repeat)
        by_position = pc.sort_indices(dup_positions)
        return Duplicates(dup_positions.take(by_position), dup_first.take(by_position))


_RANGE: list[pa.Array] = []


def arange(n: int) -> pa.Array:
    """0..n-1 as int64, sliced from one array built once per process (no per-row Python)."""
    if not _RANGE or len(_RANGE[0]) < n:
        size = max(n, 1 << 16)
        _RANGE[:] = [pc.subtract(pc.cumulative_sum(pa.repeat(pa.scalar(1, pa.int64()), size)), 1)]
    return _RANGE[0].slice(0, n)
