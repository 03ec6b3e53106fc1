"""What can become of a landing object, as values and exceptions shared by every module.

Reasons (reason.json, the ledger, alerts, the console) must never carry the value of a ``pii: true`` column,
whatever the error. The rule is structural, in one place (``quote``): file text is quoted only when it is known to
belong to a column that is not pii; text that belongs to no known column (a header line that may be a data row,
a parser's or a library's message, which echo rows and values) is never quoted verbatim when the contract has a
pii column, and third-party messages always go through ``engine_message`` first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

State = Literal["converted", "quarantined", "ignored", "failed", "dead_lettered"]

REDACTED = "<redacted: pii column>"
WITHHELD = "<not shown: the contract has pii columns>"
QUOTE_LIMIT = 60  # characters of one quoted value


def quote(text: object, *, pii: bool) -> str:
    """A value for a reason: ``repr`` of its start, or a placeholder when it may be the value of a pii column.

    ``pii`` is True for a value of a pii column, and for file text of unknown column when the contract has any pii
    column (``Contract.has_pii``).
    """
    if pii:
        return REDACTED
    value = str(text)
    return repr(value[:QUOTE_LIMIT] + "…" if len(value) > QUOTE_LIMIT else value)


_QUOTED = re.compile(r"b?'[^'\n]*'|b?\"[^\"\n]*\"")
_OPENING_QUOTE = re.compile(r"(?<![A-Za-z])['\"]")
_ECHO = re.compile(r"(got \d+)\s*:.*$|(\(right here\)|\n).*$", re.DOTALL)


def redact_quoted(message: str) -> str:
    """``message`` with everything in quotes replaced: for texts that may quote a pii value."""
    return _QUOTED.sub(REDACTED, message)


def engine_message(message: str, limit: int = 300) -> str:
    """A parser's or library's error message with anything it quotes from the file cut out.

    pyarrow echoes the offending row after "got N:" and the offending value in quotes; ijson/yajl echo the text
    around a syntax error on the following lines; Python's codecs and gzip quote bytes. What stays is the
    message's own words (positions, counts, expectations).
    """
    text = _ECHO.sub(lambda m: m.group(1) or "", message)
    text = _QUOTED.sub("…", text)
    opening = _OPENING_QUOTE.search(text)  # an unpaired quote: what follows may be file text
    text = text[: opening.start()].strip() if opening else text.strip()
    return text[:limit] + ("…" if len(text) > limit else "")


@dataclass(frozen=True)
class RowError:
    """One problem with one row: ``row`` is the 1-based data row (header excluded)."""

    row: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BadRecordSink = Callable[[int, Any, list[RowError]], bool]  # returns False once it keeps no more records


@dataclass
class RowErrors:
    """Row errors of one file: all are counted, the first ``cap`` are kept.

    ``record_sink`` receives each rejected source record once (for ``on_bad_rows: quarantine_rows``).
    """

    cap: int
    record_sink: BadRecordSink | None = None
    total: int = 0
    bad_rows: int = 0
    kept: list[RowError] = field(default_factory=list)
    records_kept: int = 0  # rejected source rows written by ``record_sink`` (it may keep only the first ones)
    records_full: bool = False  # the sink keeps no more records

    def add(self, error: RowError, record: Any = None) -> None:
        self.add_all([error], record)

    def add_all(self, errors: list[RowError], record: Any = None) -> None:
        """All errors of one source row."""
        if not errors:
            return
        self.add_counted(errors, error_count=len(errors), bad_rows=1)
        if record is not None:
            self.keep_record(errors[0].row, record, errors)

    def keep_record(self, row: int, record: Any, errors: list[RowError]) -> None:
        if self.record_sink is None or self.records_full:
            return
        if self.record_sink(row, record, errors):
            self.records_kept += 1
        else:
            self.records_full = True

    @property
    def records_wanted(self) -> bool:
        return self.record_sink is not None and not self.records_full

    @property
    def wanted(self) -> bool:
        """Anything more about a bad row would still be kept (an example error, or the row itself)."""
        return not self.full or self.records_wanted

    def add_counted(self, errors: list[RowError], *, error_count: int, bad_rows: int) -> None:
        """Errors of a batch: ``errors`` are examples, the counts are exact."""
        self.total += error_count
        self.bad_rows += bad_rows
        room = self.cap - len(self.kept)
        if room > 0:
            self.kept.extend(errors[:room])

    @property
    def full(self) -> bool:
        return len(self.kept) >= self.cap

    def summary(self) -> str:
        by_message: dict[str, int] = {}
        for error in self.kept:
            label = f"{error.column}: {error.message}" if error.column else error.message
            by_message[label] = by_message.get(label, 0) + 1
        top = "; ".join(f"{label} (x{count})" for label, count in sorted(by_message.items(), key=lambda i: -i[1])[:3])
        return f"{self.bad_rows} bad row(s), {self.total} error(s): {top}"


class FileRejected(Exception):
    """The file breaks its contract; it is quarantined with this reason and never retried."""

    def __init__(self, code: str, message: str, row_errors: RowErrors | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.row_errors = row_errors

    def reason(self) -> dict[str, Any]:
        reason: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.row_errors is not None:
            reason["bad_rows"] = self.row_errors.bad_rows
            reason["errors_total"] = self.row_errors.total
            reason["errors"] = [e.as_dict() for e in self.row_errors.kept]
            reason["errors_truncated"] = self.row_errors.total > len(self.row_errors.kept)
            if self.row_errors.record_sink is not None:  # on_bad_rows: quarantine_rows
                reason["rejected_rows_kept"] = self.row_errors.records_kept
                reason["rejected_rows_truncated"] = self.row_errors.records_kept < self.row_errors.bad_rows
        return reason


class ObjectIgnored(Exception):
    """The object is not data for any contract (folder marker, empty, unknown prefix, superseded)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Lineage:
    """Where raw rows came from; written as the _source_key, _source_version and _ingested_at columns."""

    source_key: str
    source_version: str
    ingested_at: datetime  # timezone-aware UTC: when the object landed (the S3 event's time)

    @property
    def ingest_date(self) -> str:
        return self.ingested_at.strftime("%Y-%m-%d")


@dataclass
class OutputFile:
    """One Parquet file written for a landing object."""

    path: str  # relative to the table root, e.g. "ingest_date=2026-11-22/orders.csv-1a2b3c4d5e6f.parquet"
    partition: dict[str, str]
    rows: int = 0
    bytes: int = 0
