"""What can become of a landing object, as values and exceptions shared by every module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

State = Literal["converted", "quarantined", "ignored", "failed", "dead_lettered"]


@dataclass(frozen=True)
class RowError:
    """One problem with one row: ``row`` is the 1-based data row (header excluded)."""

    row: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BadRecordSink = Callable[[int, Any, list[RowError]], None]


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

    def add(self, error: RowError, record: Any = None) -> None:
        self.add_all([error], record)

    def add_all(self, errors: list[RowError], record: Any = None) -> None:
        """All errors of one source row."""
        if not errors:
            return
        self.add_counted(errors, error_count=len(errors), bad_rows=1)
        if record is not None and self.record_sink is not None:
            self.record_sink(errors[0].row, record, errors)

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
