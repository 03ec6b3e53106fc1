"""The quarantine bucket: the original file, its machine-readable reason, and the rows set aside.

Layout, under the landing key: ``<key>`` (a copy of the original version), ``<key>.reason.json`` and, for
``on_bad_rows: quarantine_rows``, ``<key>.rejected-rows.jsonl``. S3 keys are at most 1,024 bytes: when a suffixed key
would be longer, it goes under ``long-keys/<sha256 of the key>`` instead, and the reason file names the object.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .contracts import Contract
    from .ingest import LandingObject
    from .outcomes import FileRejected

MAX_KEY_BYTES = 1024


def side_key(key: str, suffix: str) -> str:
    """``<key><suffix>``, or ``long-keys/<digest><suffix>`` when that would exceed S3's key limit."""
    candidate = f"{key}{suffix}"
    if len(candidate.encode("utf-8")) <= MAX_KEY_BYTES:
        return candidate
    return f"long-keys/{hashlib.sha256(key.encode('utf-8')).hexdigest()}{suffix}"


class Quarantine:
    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def copy_original(self, obj: LandingObject) -> str:
        source: dict[str, str] = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            source["VersionId"] = obj.version_id
        self.s3.copy(source, self.bucket, obj.key)
        return self.uri(obj.key)

    def write_reason(
        self, obj: LandingObject, contract: Contract | None, rejection: FileRejected, rejected_rows: Path | None
    ) -> tuple[str, str]:
        """Writes ``reason.json`` (and the rejected rows, if any); returns their URIs (rows: "" when none)."""
        reason: dict[str, Any] = {
            "object": obj.uri,
            "etag": obj.etag,
            "version_id": obj.version_id,
            "contract": contract.qualified_name if contract else None,
            "on_bad_rows": contract.on_bad_rows if contract else None,
            "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **rejection.reason(),
        }
        rows_uri = ""
        if rejected_rows is not None:
            rows_key = side_key(obj.key, ".rejected-rows.jsonl")
            self.s3.upload_file(str(rejected_rows), self.bucket, rows_key)
            reason["rejected_rows"] = rows_uri = self.uri(rows_key)
        reason_key = side_key(obj.key, ".reason.json")
        self.s3.put_object(
            Bucket=self.bucket,
            Key=reason_key,
            Body=json.dumps(reason, indent=2, default=str).encode("utf-8"),
            ContentType="application/json",
        )
        return self.uri(reason_key), rows_uri
