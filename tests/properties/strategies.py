"""Hypothesis strategies for landing files across the whole value domain a contract admits (issue 13, Build).

``landing_cases()`` draws a ``LandingCase``: a contract, the bytes of one landing file written in one of the
shapes that contract can declare, the file's landing key, and what the raw zone must hold afterwards: the rows,
value for value, as pyarrow reads them back from the Parquet (or the reason code when the file must be rejected
up front). It is independent of the converter, so another test can push the same files through later stages (the
Glue step on local Spark) and compare with the same expectations:

    from tests.properties.strategies import landing_cases

    @given(landing_cases())
    def test_something(case):
        case.contract, case.key, case.body, case.rows, case.rejection

What is drawn:
- contracts of 1-5 columns of every type (string, int, bigint, double, boolean, date, timestamp), nullable or not,
  dates and timestamps in ISO 8601 or a strptime ``format``; raw tables partitioned by ingestion date, by a
  column's value (any type, null included) or a year/month/day of it, or by both;
- values over the whole domain, boundaries first: int32 and int64 extremes, every double (NaN, both infinities,
  -0.0, subnormals), dates 0001-01-01..9999-12-31 (1582 and 1900 included), timestamps at millisecond precision
  with and without a zone offset (the expected value is the UTC instant), null, empty strings, Unicode from the
  whole range (astral plane, combining marks, line separators, NUL);
- files as CSV or TSV (header or not; LF, CRLF or CR; minimal or full quoting; with or without a final line end;
  UTF-8 with or without BOM, Latin-1, UTF-16), JSON lines (LF or CRLF; numbers sometimes quoted as strings) or a
  JSON array; plain, gzip or multi-member gzip.

The decided behaviours these expectations encode (README, "What happens to every landing object"):
- CSV has no null: an empty field is null, and so is an empty string (``""``); JSON keeps "" apart from null;
- a JSON array must be strict JSON (RFC 8259): NaN or Infinity in one is a parse_error; JSON lines accept them;
- a timestamp with an offset is stored as its UTC instant.
"""

from __future__ import annotations

import codecs
import gzip
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st
from lakehouse.contracts import Contract

TYPES = ("string", "int", "bigint", "double", "boolean", "date", "timestamp")
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
FIRST_DAY, LAST_DAY = date(1, 1, 1), date(9999, 12, 31)
FIRST_INSTANT, LAST_INSTANT = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999000)
DATE_FORMATS = (None, None, "%d/%m/%Y", "%Y%m%d")  # None: ISO 8601
TIMESTAMP_FORMATS = (None, None, None, "%d/%m/%Y %H:%M:%S")
ENCODINGS = ("utf-8", "utf-8", "utf-8-bom", "latin-1", "utf-16")
SPECIAL_STRINGS = ["", " ", "a,b", 'say "hi"', "two\nlines", "cr\ronly", "tab\there", "😀", "e\u0301",
                   "\u2028", "NULL", "nan", "true", "\x00", "  padded  ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢"]


@dataclass(frozen=True)
class LandingCase:
    contract: Contract
    key: str  # the landing key: its extension says gzip or not (compression: auto)
    body: bytes
    rows: list[dict[str, Any]]  # per row, every contract column's value as read back from the raw Parquet
    rejection: str | None = None  # the reason code when the file must be rejected instead
    shape: dict[str, Any] = field(default_factory=dict)  # how the file was written (for failure reports)


# ------------------------------------------------------------------------------------------------ values


def _boundary_then(values: list[Any], general: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(values), general)


def _ms(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def value_strategy(kind: str, *, latin1: bool = False) -> st.SearchStrategy:
    """A non-null value of ``kind`` (Python's own type for it: int, float, bool, str, date, naive datetime)."""
    if kind == "string":
        alphabet = st.characters(codec="latin-1") if latin1 else st.characters(codec="utf-8")
        specials = [s for s in SPECIAL_STRINGS if not latin1 or s.encode("latin-1", "ignore").decode("latin-1") == s]
        return _boundary_then(specials, st.text(alphabet=alphabet, max_size=12))
    if kind == "int":
        return _boundary_then([INT32[0], INT32[1], 0, -1], st.integers(*INT32))
    if kind == "bigint":
        return _boundary_then([INT64[0], INT64[1], 0, 10**18, 1655564376361], st.integers(*INT64))
    if kind == "double":
        return _boundary_then([math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308, 0.1],
                              st.floats(width=64))
    if kind == "boolean":
        return st.booleans()
    if kind == "date":
        return _boundary_then([FIRST_DAY, LAST_DAY, date(1582, 10, 4), date(1582, 10, 15), date(1399, 1, 1),
                               date(1899, 12, 31), date(2024, 2, 29)], st.dates(FIRST_DAY, LAST_DAY))
    if kind == "timestamp":
        instants = st.datetimes(FIRST_INSTANT, LAST_INSTANT).map(_ms)
        return _boundary_then([FIRST_INSTANT, LAST_INSTANT, datetime(1900, 1, 1), datetime(1582, 10, 15, 12)],
                              instants)
    raise ValueError(kind)


@st.composite
def timestamp_text(draw, moment: datetime, fmt: str | None) -> str:
    """``moment`` (naive UTC) as text: ISO 8601 in one of its forms, with a zone offset when one keeps the wall
    time inside 0001..9999, or the column's strptime format."""
    if fmt is not None:
        return moment.strftime(fmt.replace("%Y", f"{moment.year:04d}"))
    minutes = draw(st.sampled_from([None, None, 0, 330, -90, 14 * 60, -(12 * 60)]))
    wall = moment
    if minutes is not None:
        try:
            wall = moment + timedelta(minutes=minutes)
        except OverflowError:
            minutes, wall = None, moment
        if not FIRST_INSTANT <= wall <= LAST_INSTANT:
            minutes, wall = None, moment
    separator = draw(st.sampled_from(["T", " "]))
    text = f"{wall.year:04d}-{wall.month:02d}-{wall.day:02d}{separator}{wall.hour:02d}:{wall.minute:02d}"
    if wall.second or wall.microsecond or draw(st.booleans()):
        text += f":{wall.second:02d}"
        if wall.microsecond:
            text += f".{wall.microsecond // 1000:03d}"
    if minutes is not None:
        if minutes == 0 and draw(st.booleans()):
            return text + "Z"
        sign = "+" if minutes >= 0 else "-"
        hours, rest = divmod(abs(minutes), 60)
        text += draw(st.sampled_from([f"{sign}{hours:02d}:{rest:02d}", f"{sign}{hours:02d}{rest:02d}"]))
    return text


def date_text(day: date, fmt: str | None) -> str:
    if fmt is None:
        return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"
    return fmt.replace("%Y", f"{day.year:04d}").replace("%m", f"{day.month:02d}").replace("%d", f"{day.day:02d}")


# ------------------------------------------------------------------------------------------------ contracts


@st.composite
def contracts(draw, file_type: str) -> Contract:
    count = draw(st.integers(1, 5))
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True), min_size=count, max_size=count,
                          unique_by=str.lower))
    columns = []
    for name in names:
        kind = draw(st.sampled_from(TYPES))
        column: dict[str, Any] = {"name": name, "type": kind, "nullable": draw(st.booleans())}
        if kind == "date":
            column["format"] = draw(st.sampled_from(DATE_FORMATS))
        if kind == "timestamp":
            column["format"] = draw(st.sampled_from(TIMESTAMP_FORMATS))
        columns.append(column)
    fmt: dict[str, Any] = {"type": file_type}
    if file_type in ("csv", "tsv"):
        fmt["header"] = draw(st.booleans())
        encoding = draw(st.sampled_from(ENCODINGS))
        fmt["encoding"] = "utf-8" if encoding == "utf-8-bom" else encoding
    return Contract.model_validate({
        "dataset": "generated", "table": "generated", "landing_prefix": "generated/", "format": fmt,
        "columns": columns, "pipeline": "properties", "partitions": draw(partitions(columns)),
    })


@st.composite
def partitions(draw, columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The raw table's partitions: by ingestion date (the default), by a column's value or a date part of it, or
    both. Names longer than any drawn column name, so they never collide with one."""
    by_ingest = {"name": "ingest_date", "source": "ingest_date"}
    column = draw(st.sampled_from(columns))
    transforms = ["identity", "year", "month", "day"] if column["type"] in ("date", "timestamp") else ["identity"]
    by_column = {"name": f"partition_{column['name']}", "column": column["name"],
                 "transform": draw(st.sampled_from(transforms))}
    return draw(st.sampled_from([[by_ingest], [by_column], [by_ingest, by_column], [by_column, by_ingest]]))


# ------------------------------------------------------------------------------------------------ files


@st.composite
def landing_cases(draw, file_types: tuple[str, ...] = ("csv", "tsv", "jsonl", "json_array")) -> LandingCase:
    file_type = draw(st.sampled_from(file_types))
    contract = draw(contracts(file_type))
    latin1 = contract.format.encoding == codecs.lookup("latin-1").name  # contracts store the codec's own name
    rows: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 6))):
        row = {}
        for column in contract.columns:
            null = column.nullable and draw(st.integers(0, 4)) == 0
            values = value_strategy(column.type, latin1=latin1)
            if column.type == "timestamp" and column.format:  # strptime formats have no fraction of a second
                values = values.map(lambda moment: moment.replace(microsecond=0))
            if column.type == "string" and not column.nullable and contract.format.is_delimited:
                values = values.filter(bool)  # CSV reads "" as null, which a required column refuses
            row[column.name] = None if null else draw(values)
        rows.append(row)
    shape: dict[str, Any] = {"type": file_type}
    if contract.format.is_delimited:
        text, expected = draw(_csv_body(contract, rows, shape))
        bom = "\ufeff" if contract.format.encoding == "utf-8" and draw(st.booleans()) else ""
        shape["bom"] = bool(bom)
        body = (bom + text).encode(contract.format.encoding)
        rejection = None
    else:
        body, expected, rejection = draw(_json_body(contract, rows, shape))
    compression = draw(st.sampled_from(["none", "gzip", "multi-member gzip"]))
    shape["compression"] = compression
    if compression == "gzip":
        body = gzip.compress(body)
    elif compression == "multi-member gzip":
        cut = draw(st.integers(0, len(body)))
        body = gzip.compress(body[:cut]) + gzip.compress(body[cut:])
    extension = (".csv" if file_type == "csv" else ".tsv" if file_type == "tsv" else ".json")
    key = f"{contract.landing_prefix}file{extension}{'.gz' if compression != 'none' else ''}"
    return LandingCase(contract, key, body, expected, rejection, shape)


def _csv_field(column, value: Any) -> str:
    if value is None:
        return ""
    if column.type == "double":
        return repr(value) if math.isfinite(value) else {"nan": "nan", "inf": "inf", "-inf": "-inf"}[repr(value)]
    if column.type == "boolean":
        return "true" if value else "false"
    if column.type == "date":
        return date_text(value, column.format)
    if column.type == "timestamp":
        return value  # already text (drawn with its offset by _csv_body)
    return str(value)


def _csv_line(fields: list[str], delimiter: str, quote_all: bool, ending: str) -> str:
    """One CSV record. A field holding the delimiter, a quote or any line end (CR too: the reader takes a lone CR
    for one, and Python's csv module quotes only the characters of its own line terminator) is quoted, and so is
    a lone empty field (an empty line is no record)."""
    special = (delimiter, '"', "\r", "\n")
    quoted = [
        '"' + f.replace('"', '""') + '"' if quote_all or any(ch in f for ch in special) or (f == "" and len(fields) == 1)
        else f
        for f in fields
    ]
    return delimiter.join(quoted) + ending


@st.composite
def _csv_body(draw, contract: Contract, rows: list[dict[str, Any]], shape: dict[str, Any]):
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    quote_all = draw(st.booleans())
    final = draw(st.booleans())
    shape.update(ending=ending, quoting="all" if quote_all else "minimal", final_line_end=final)
    delimiter = contract.format.field_delimiter
    lines = [_csv_line([c.name for c in contract.columns], delimiter, quote_all, ending)] if contract.format.header else []
    for row in rows:
        fields = []
        for column in contract.columns:
            value = row[column.name]
            if column.type == "timestamp" and value is not None:
                value = draw(timestamp_text(value, column.format))
            fields.append(_csv_field(column, value))
        lines.append(_csv_line(fields, delimiter, quote_all, ending))
    text = "".join(lines)
    if not final:
        text = text[: -len(ending)]
    expected = [{name: (None if value == "" else value) for name, value in row.items()} for row in rows]
    return text, expected


@st.composite
def _json_body(draw, contract: Contract, rows: list[dict[str, Any]], shape: dict[str, Any]):
    quote_numbers = draw(st.booleans())
    ascii_only = draw(st.booleans())
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    shape.update(numbers_as_strings=quote_numbers, ensure_ascii=ascii_only, ending=ending)
    records = []
    for row in rows:
        record: dict[str, Any] = {}
        for column in contract.columns:
            value = row[column.name]
            if value is None:
                if draw(st.booleans()):
                    continue  # an absent key is a null too
                record[column.name] = None
            elif column.type == "date":
                record[column.name] = date_text(value, column.format)
            elif column.type == "timestamp":
                record[column.name] = draw(timestamp_text(value, column.format))
            elif column.type in ("int", "bigint"):
                record[column.name] = str(value) if quote_numbers and draw(st.booleans()) else value
            elif column.type == "double":
                record[column.name] = repr(value) if quote_numbers and draw(st.booleans()) else value
            else:
                record[column.name] = value
        records.append(record)
    dumps = json.JSONEncoder(ensure_ascii=ascii_only, allow_nan=True).encode
    if contract.format.type == "jsonl":
        body = "".join(dumps(r) + ending for r in records)
        rejection = None
    else:
        body = "[" + ",".join(dumps(r) for r in records) + "]"
        # JSON has no NaN or Infinity (RFC 8259): a JSON array carrying one is not JSON; quoted, it is a string
        rejection = "parse_error" if any(_bare_special(r, contract) for r in records) else None
    return body.encode("utf-8"), [dict(row) for row in rows], rejection


def _bare_special(record: dict[str, Any], contract: Contract) -> bool:
    return any(
        c.type == "double" and isinstance(record.get(c.name), float) and not math.isfinite(record[c.name])
        for c in contract.columns
    )
