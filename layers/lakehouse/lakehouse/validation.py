"""Vectorised validation of a step of rows (an Arrow Table) against a contract: Arrow compute, no per-row Python.

Input columns arrive either already typed (the fast path) or as text (the exact path, and JSON dates);
text is parsed here so that every unparsable value is reported with its row and column.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from . import regex_check
from .contracts import Column, Contract
from .outcomes import RowError
from .types import arrow_type

_INTEGER = r"^\s*[+-]?\d{1,18}\s*$"
_DOUBLE = r"^\s*[+-]?((\d+(\.\d*)?)|(\.\d+))([eE][+-]?\d+)?\s*$|^\s*[+-]?(inf|Infinity|nan|NaN)\s*$"
_INT32 = (-(2**31), 2**31 - 1)
EXAMPLES_PER_CHECK = 20  # row errors kept per check and step; counts are always exact


@dataclass
class BatchVerdict:
    table: pa.Table  # declared columns, typed (bad rows still present)
    bad: pa.BooleanArray | pa.ChunkedArray | None  # rows breaking the contract; None when there are none
    errors: list[RowError]  # examples, at most EXAMPLES_PER_CHECK per check
    error_count: int


def _show(column: Column, value: object) -> str:
    if column.pii:
        return "<redacted: pii column>"
    text = str(value)
    return repr(text[:60] + "…" if len(text) > 60 else text)


class _Collector:
    def __init__(self, row_of):
        self.row_of = row_of
        self.bad: pa.BooleanArray | None = None  # None while every row is good (the common case costs nothing)
        self.errors: list[RowError] = []
        self.count = 0

    def add(self, mask: pa.Array, column: Column, describe) -> None:
        hits = pc.sum(mask).as_py() or 0  # nulls are not counted
        if not hits:
            return
        mask = pc.fill_null(mask, False)
        self.count += hits
        self.bad = mask if self.bad is None else pc.or_(self.bad, mask)
        for index in pc.indices_nonzero(mask)[:EXAMPLES_PER_CHECK].to_pylist():
            self.errors.append(RowError(self.row_of(index), column.name, describe(index)))


def parse_text(values: pa.Array, column: Column, contract: Contract) -> tuple[pa.Array, pa.Array]:
    """Text -> the column's type. Returns (typed values, mask of present-but-unparsable values)."""
    kind = column.type
    target = arrow_type(kind)
    if kind == "string":
        return values, pa.repeat(False, len(values))
    if kind in ("int", "bigint", "double"):
        ok = pc.match_substring_regex(values, _INTEGER if kind != "double" else _DOUBLE)
        clean = pc.if_else(ok, pc.utf8_trim_whitespace(values), pa.scalar(None, pa.string()))
        parsed = pc.cast(clean, pa.int64() if kind != "double" else pa.float64())
        if kind == "int":
            in_range = pc.and_(pc.greater_equal(parsed, _INT32[0]), pc.less_equal(parsed, _INT32[1]))
            ok = pc.and_(ok, pc.fill_null(in_range, True))
            parsed = pc.cast(pc.if_else(ok, parsed, pa.scalar(None, pa.int64())), pa.int32())
        return parsed, pc.and_(pc.is_valid(values), pc.invert(ok))
    if kind == "boolean":
        fmt = contract.format
        is_true = pc.is_in(values, value_set=pa.array(fmt.true_values, pa.string()))
        is_false = pc.is_in(values, value_set=pa.array(fmt.false_values, pa.string()))
        parsed = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
        return parsed, pc.and_(pc.is_valid(values), pc.is_null(parsed))
    # date / timestamp
    fmt = column.format or ("%Y-%m-%d" if kind == "date" else None)
    if fmt is not None:
        parsed = pc.strptime(values, format=fmt, unit="ms", error_is_null=True)
    else:
        parsed = _iso_timestamps(values)
    parsed = pc.cast(parsed, target)
    return parsed, pc.and_(pc.is_valid(values), pc.is_null(parsed))


def _iso_timestamps(values: pa.Array) -> pa.Array:
    try:
        return pc.cast(values, pa.timestamp("ms"))
    except pa.ArrowInvalid:
        # only on bad input: find the unparsable values one distinct value at a time
        good: dict[str, object] = {}
        for text in pc.unique(values).to_pylist():
            if text is None:
                continue
            try:
                good[text] = pc.cast(pa.array([text]), pa.timestamp("ms"))[0].as_py()
            except pa.ArrowInvalid:
                good[text] = None
        return pa.array([good.get(v) if v is not None else None for v in values.to_pylist()], pa.timestamp("ms"))


def validate(
    batch: pa.Table,
    contract: Contract,
    *,
    text_columns: set[str],
    row_of,
) -> BatchVerdict:
    """Parse text columns and apply type, nullability and checks; ``row_of(i)`` maps an index to a row number."""
    collect = _Collector(row_of)
    arrays: list[pa.Array] = []
    for column in contract.columns:
        values = batch.column(column.name)
        unparsable = None
        if column.name in text_columns:
            raw = values
            values, unparsable = parse_text(raw, column, contract)
            collect.add(
                unparsable, column, lambda i, raw=raw, c=column: f"not a valid {c.type}: {_show(c, raw[i].as_py())}"
            )
        elif values.type != arrow_type(column.type):
            values = pc.cast(values, arrow_type(column.type))
        arrays.append(values)
        _apply_checks(values, column, collect, unparsable)
    typed = pa.Table.from_arrays(arrays, names=[c.name for c in contract.columns])
    return BatchVerdict(typed, collect.bad, collect.errors, collect.count)


def _apply_checks(values: pa.Array, column: Column, collect: _Collector, unparsable: pa.Array | None) -> None:
    if not column.nullable:
        missing = pc.is_null(values) if unparsable is None else pc.and_(pc.is_null(values), pc.invert(unparsable))
        collect.add(missing, column, lambda i: "required value is missing")
    checks = column.checks
    if checks.allowed_values is not None:
        allowed = pa.array(checks.allowed_values).cast(values.type)
        collect.add(
            pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=allowed))),
            column,
            lambda i: f"{_show(column, values[i].as_py())} is not one of {checks.allowed_values}",
        )
    if checks.min is not None:
        collect.add(
            pc.less(values, checks.min), column, lambda i: f"{_show(column, values[i].as_py())} is below {checks.min:g}"
        )
    if checks.max is not None:
        collect.add(
            pc.greater(values, checks.max),
            column,
            lambda i: f"{_show(column, values[i].as_py())} is above {checks.max:g}",
        )
    if checks.regex is not None:
        unmatched = regex_check.mismatches(values, checks.regex)
        if unmatched is not None:
            collect.add(
                unmatched, column, lambda i: f"{_show(column, values[i].as_py())} does not match {checks.regex!r}"
            )


class KeyTracker:
    """Finds rows whose contract key repeats an earlier row of the same file."""

    def __init__(self, contract: Contract):
        self.columns = contract.key
        self.first_seen: dict[tuple, int] = {}

    def duplicates(
        self, batch: pa.Table, bad: pa.BooleanArray | pa.ChunkedArray | None, row_of
    ) -> tuple[pa.BooleanArray | pa.ChunkedArray | None, list[RowError], int]:
        if not self.columns:
            return bad, [], 0
        keys = zip(*(batch.column(name).to_pylist() for name in self.columns))
        bad_list = bad.to_pylist() if bad is not None else [False] * batch.num_rows
        dup = [False] * batch.num_rows
        errors: list[RowError] = []
        count = 0
        for index, key in enumerate(keys):
            if bad_list[index]:
                continue
            first = self.first_seen.setdefault(key, row_of(index))
            if first != row_of(index):
                dup[index] = True
                count += 1
                if len(errors) < EXAMPLES_PER_CHECK:
                    label = ", ".join(self.columns)
                    errors.append(RowError(row_of(index), label, f"duplicate key, first seen at row {first}"))
        if not count:
            return bad, errors, 0
        duplicate = pa.array(dup, pa.bool_())
        return (duplicate if bad is None else pc.or_(bad, duplicate)), errors, count
