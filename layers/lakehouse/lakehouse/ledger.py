"""The object ledger: one DynamoDB item per landing object, holding its latest recorded state."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from .outcomes import State


@dataclass
class LedgerEntry:
    object_uri: str  # s3://bucket/key, the table's partition key
    bucket: str
    key: str
    state: State
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
    attempts: int = 0
    updated_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="milliseconds"))

    def to_item(self) -> dict[str, Any]:
        from boto3.dynamodb.types import TypeSerializer

        serializer = TypeSerializer()
        return {k: serializer.serialize(v) for k, v in asdict(self).items() if v not in ("", None, [])}

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "LedgerEntry":
        from boto3.dynamodb.types import TypeDeserializer

        deserializer = TypeDeserializer()
        values = {k: deserializer.deserialize(v) for k, v in item.items()}
        for numeric in ("size", "rows_written", "rows_rejected", "attempts"):
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
        """Every entry (for the local report and tests; a deployed lake queries by key instead)."""
        entries: list[LedgerEntry] = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
            entries += [LedgerEntry.from_item(item) for item in page.get("Items", [])]
        return sorted(entries, key=lambda e: e.key)
