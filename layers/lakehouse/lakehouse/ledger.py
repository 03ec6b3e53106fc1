"""The object ledger: one DynamoDB item per landing object, holding its latest recorded state.

Every state change of an object happens here, on its entry (``converting``, ``converted``, ``quarantined``,
``ignored``, ``failed``), so the rules for what an entry holds in each state live in one place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

State = Literal["converting", "converted", "quarantined", "ignored", "failed", "dead_lettered"]
FINAL_STATES = ("converted", "quarantined", "ignored", "dead_lettered")


def now() -> str:
    """The time as entries record it (``updated_at``): ISO 8601 UTC to the millisecond, so texts compare as times."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class LedgerEntry:
    object_uri: str  # s3://bucket/key, the table's partition key
    bucket: str
    key: str
    state: State = "converting"
    etag: str = ""
    version_id: str = ""
    sequencer: str = ""  # S3's ordering of events for this key (hex; compare with sequencer_order)
    size: int = 0
    pipeline: str = ""
    dataset: str = ""
    table: str = ""
    reason_code: str = ""
    reason: str = ""
    rows_written: int = 0
    rows_rejected: int = 0
    outputs: list[str] = field(default_factory=list)  # s3:// URIs of the Parquet files of this version
    quarantine_uri: str = ""
    reason_uri: str = ""  # s3:// URI of the reason.json
    attempts: int = 0  # deliveries of the event so far
    max_attempts: int = 0  # deliveries SQS allows before the dead-letter queue
    landed_at: str = ""  # the S3 event's time
    updated_at: str = field(default_factory=now)

    # ---------------------------------------------------------------- transitions
    def _set(self, state: State, code: str = "", reason: str = "") -> None:
        self.state, self.reason_code, self.reason = state, code, reason
        self.updated_at = now()

    def converting(self, attempt: int, max_attempts: int) -> None:
        """Recorded before the work, so a delivery that never finishes (timeout, out of memory) leaves a trace."""
        self.attempts, self.max_attempts = attempt, max_attempts
        self._set("converting", "", f"delivery {attempt} of {max_attempts} started")

    def converted(self, rows_written: int, rows_rejected: int, outputs: list[str]) -> None:
        self.rows_written, self.rows_rejected, self.outputs = rows_written, rows_rejected, outputs
        self._set("converted")

    def rows_quarantined(self, summary: str, rejected_rows_uri: str, reason_uri: str) -> None:
        """Converted, with bad rows set aside (on_bad_rows: quarantine_rows): ``quarantine_uri`` names those rows."""
        self.reason_code, self.reason = "rows_quarantined", summary
        self.quarantine_uri, self.reason_uri = rejected_rows_uri, reason_uri

    def quarantined(self, code: str, message: str, quarantine_uri: str, reason_uri: str) -> None:
        self.quarantine_uri, self.reason_uri = quarantine_uri, reason_uri
        self.rows_written = 0
        self._set("quarantined", code, message)

    def ignored(self, code: str, message: str) -> None:
        self._set("ignored", code, message)

    def failed(self, code: str, message: str) -> None:
        """A transient error: SQS delivers the event again, or parks it in the dead-letter queue after the last try."""
        last = self.max_attempts and self.attempts >= self.max_attempts
        state: State = "dead_lettered" if last else "failed"
        self._set(state, code, f"{message} (delivery {self.attempts} of {self.max_attempts})")

    # ---------------------------------------------------------------- reading
    def effective_state(self, now: datetime, run_limit: timedelta) -> State:
        """The state to report: a ``converting`` entry older than the function's time limit did not finish (timeout,
        out of memory), so it is ``failed``, or ``dead_lettered`` when that was the last allowed delivery."""
        if self.state != "converting":
            return self.state
        started = datetime.fromisoformat(self.updated_at)
        if now - started <= run_limit:
            return "converting"
        return "dead_lettered" if self.max_attempts and self.attempts >= self.max_attempts else "failed"

    def to_item(self) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeSerializer

        serializer = TypeSerializer()
        return {k: serializer.serialize(v) for k, v in asdict(self).items() if v not in ("", None, [])}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> LedgerEntry:
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        values = {k: deserializer.deserialize(v) for k, v in item.items()}
        for numeric in ("size", "rows_written", "rows_rejected", "attempts", "max_attempts"):
            if numeric in values:
                values[numeric] = int(values[numeric])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in known})


def sequencer_order(sequencer: str) -> tuple[int, str]:
    """S3 sequencers of one key order its events once left-padded to the same length."""
    return (len(sequencer.lstrip("0")), sequencer.lstrip("0").upper())


class Ledger:
    def __init__(self, dynamodb: Any, table: str):
        self.dynamodb = dynamodb
        self.table = table

    def get(self, object_uri: str) -> LedgerEntry | None:
        item = self.dynamodb.get_item(
            TableName=self.table, Key={"object_uri": {"S": object_uri}}, ConsistentRead=True
        ).get("Item")
        return LedgerEntry.from_item(item) if item else None

    def record(self, entry: LedgerEntry) -> None:
        self.dynamodb.put_item(TableName=self.table, Item=entry.to_item())

    def scan(self) -> list[LedgerEntry]:
        """Every entry (operator commands and the local report; the converter reads by key)."""
        entries: list[LedgerEntry] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            entries += [LedgerEntry.from_item(item) for item in page.get("Items", [])]
        return sorted(entries, key=lambda e: e.key)
