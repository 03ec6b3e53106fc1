"""The alerts of the landing path: one SNS message per quarantined object, one per unknown folder per period.

An alert carries object keys, codes, counts and the reason text the converter wrote, which never holds a value of a
``pii: true`` column; it never carries row contents.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from .ledger import LedgerEntry

# DynamoDB item id prefix in the idempotency table (whose items expire by TTL, as these should).
_UNKNOWN_PREFIX_ID = "alert#unknown_prefix#"


def folder_of(key: str) -> str:
    """The folder an object was dropped in: ``stedi/customers/`` for ``stedi/customers/x.json``."""
    return key.rsplit("/", 1)[0] + "/" if "/" in key else ""


class Alerts:
    def __init__(self, sns: Any, topic_arn: str, dynamodb: Any, table: str, period_seconds: int) -> None:
        self.sns = sns
        self.topic_arn = topic_arn
        self.dynamodb = dynamodb
        self.table = table
        self.period_seconds = period_seconds

    def _publish(self, subject: str, message: dict[str, Any]) -> None:
        self.sns.publish(TopicArn=self.topic_arn, Subject=subject[:100], Message=json.dumps(message, indent=2))

    def quarantined(self, entry: LedgerEntry, dataset: str) -> None:
        """A whole file quarantined, or a converted file with rows set aside."""
        rows_only = entry.state == "converted"
        name = entry.key.rsplit("/", 1)[-1]
        self._publish(
            f"[lakehouse] {dataset} {'rows quarantined' if rows_only else 'quarantined'}: {name}",
            {
                "type": "landing_object_" + ("rows_quarantined" if rows_only else "quarantined"),
                "object": entry.object_uri,
                "dataset": dataset,
                "reason_code": entry.reason_code,
                "reason": entry.reason,
                "quarantine": None if rows_only else entry.quarantine_uri,
                "rejected_rows": entry.quarantine_uri if rows_only else None,
                "reason_file": entry.reason_uri,
                "rows_written": entry.rows_written,
                "rows_rejected": entry.rows_rejected,
                "fix": "correct the file and upload it again under the same key, or fix the contract and run "
                       "`lakehouse replay --dataset <dataset> --state quarantined`",
            },
        )

    def unknown_prefix(self, entry: LedgerEntry, known_prefixes: list[str]) -> bool:
        """At most one alert per folder and period, so a bulk upload to a wrong folder is one e-mail, not thousands.

        The first object of a folder in a period wins a conditional put in the idempotency table (its TTL removes
        the marker later); every other object of that folder and period is only recorded. Returns whether it alerted.
        """
        folder = folder_of(entry.key)
        period = int(time.time()) // self.period_seconds
        marker = hashlib.sha256(f"{entry.bucket}/{folder}".encode()).hexdigest()
        marker_id = {"id": {"S": f"{_UNKNOWN_PREFIX_ID}{marker}#{period}"}}
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={**marker_id, "folder": {"S": folder},
                      "expiration": {"N": str((period + 2) * self.period_seconds)}},
                ConditionExpression="attribute_not_exists(id)",
            )
        except self.dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        try:
            self._publish(*self._unknown_prefix_message(entry, folder, known_prefixes))
        except Exception:
            # the redelivery (the delivery fails with this error) must find no marker, or nobody would be told
            self.dynamodb.delete_item(TableName=self.table, Key=marker_id)
            raise
        return True

    def _unknown_prefix_message(self, entry: LedgerEntry, folder: str,
                                known_prefixes: list[str]) -> tuple[str, dict[str, Any]]:
        return (
            f"[lakehouse] files under an unknown folder: {folder or '(bucket root)'}",
            {
                "type": "landing_unknown_prefix",
                "bucket": entry.bucket,
                "folder": folder,
                "example": entry.object_uri,
                "reason": entry.reason,
                "period_minutes": self.period_seconds // 60,
                "known_prefixes": known_prefixes,
                "fix": "move the files under a contract's landing_prefix, or add a contract for this folder "
                       "(`lakehouse new dataset`); the files stay in landing, recorded as ignored/unknown_prefix",
            },
        )
