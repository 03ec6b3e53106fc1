"""One landing object from event to recorded state: converted, quarantined or ignored.

Failure semantics: bad data is quarantined and the record succeeds (never retried); anything else
(throttling, 5xx, timeouts) is recorded as ``failed`` and re-raised so SQS redelivers only that record,
and after MaxReceiveCount parks it in the dead-letter queue (recorded as ``dead_lettered``).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from .aws import AwsClients, error_code
from .catalog import Catalog
from .ledger import Ledger, LedgerEntry, sequencer_order
from .outcomes import FileRejected, Lineage, ObjectIgnored, OutputFile
from .settings import Settings

if TYPE_CHECKING:
    from .contracts import Contract, ContractRegistry
    from .convert import ConversionResult

logger = Logger(child=True)

# (metric name, unit, value) -> None; the handler passes Powertools Metrics, tests a list.
MetricSink = Callable[[str, str, float], None]


@dataclass(frozen=True)
class LandingObject:
    bucket: str
    key: str  # decoded: the real object key
    etag: str = ""
    version_id: str = ""
    size: int | None = None
    sequencer: str = ""
    landed_at: str = ""  # the event's time (ISO 8601): when this version of the object was created

    @property
    def landed(self) -> datetime:
        """When the object landed; deterministic for every delivery of the event, so a retry on another day
        writes to the same ingest_date partition and overwrites what a crashed attempt left."""
        if self.landed_at:
            return datetime.fromisoformat(self.landed_at.replace("Z", "+00:00")).astimezone(timezone.utc)
        return datetime.now(timezone.utc)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def from_event(cls, event: Any) -> "LandingObject":
        """From Powertools' ``S3EventBridgeNotificationEvent`` (its ``key`` is already URL-decoded)."""
        obj = event.detail.object
        size = obj.get("size")
        return cls(
            bucket=event.detail.bucket.name,
            key=obj.key,
            etag=obj.etag.strip('"'),
            version_id=obj.get("version-id") or "",
            size=int(size) if size is not None else None,
            sequencer=obj.get("sequencer") or "",
            landed_at=event.get("time") or "",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "version_id": self.version_id,
            "size": self.size,
            "sequencer": self.sequencer,
            "landed_at": self.landed_at,
        }


class Superseded(ObjectIgnored):
    """The event is for an older version of a key than the one already recorded or now stored."""

    def __init__(self, message: str):
        super().__init__("superseded", message)


def _is_older(sequencer: str, recorded: str) -> bool:
    return bool(sequencer and recorded) and sequencer_order(sequencer) < sequencer_order(recorded)


class LandingService:
    def __init__(
        self,
        registry: ContractRegistry,
        settings: Settings,
        clients: AwsClients,
        metric: MetricSink | None = None,
    ):
        self.registry = registry
        self.settings = settings
        self.clients = clients
        self.metric: MetricSink = metric or (lambda name, unit, value: None)
        self.ledger = Ledger(clients.dynamodb, settings.ledger_table)
        self.catalog = Catalog(clients.glue, settings.raw_database, settings.raw_bucket)

    # ----------------------------------------------------------------------------- entry point
    def process(self, obj: LandingObject, receive_count: int = 1) -> dict[str, Any]:
        started = time.monotonic()
        contract = self.registry.resolve(obj.key)
        entry = LedgerEntry(
            object_uri=obj.uri,
            bucket=obj.bucket,
            key=obj.key,
            state="failed",
            etag=obj.etag,
            version_id=obj.version_id,
            sequencer=obj.sequencer,
            size=obj.size or 0,
            pipeline=contract.pipeline if contract else "",
            dataset=contract.dataset if contract else "",
            table=contract.table if contract else "",
            attempts=receive_count,
        )
        try:
            if obj.key.endswith("/"):
                raise ObjectIgnored("folder_marker", "the key ends in '/': a folder marker, not a file")
            if contract is None:
                raise ObjectIgnored("unknown_prefix", f"no contract's landing_prefix matches {obj.key!r}")
            if obj.size == 0:
                raise ObjectIgnored("zero_bytes", "the object is empty (0 bytes)")
            previous = self.ledger.get(obj.uri)
            if previous and _is_older(obj.sequencer, previous.sequencer):
                raise Superseded(f"a newer version of the key (sequencer {previous.sequencer}) was already recorded")
            # The Parquet files of earlier versions stay listed in every later record until a conversion
            # replaces them, so a failed or quarantined version never makes them unreachable for cleanup.
            entry.outputs = list(previous.outputs) if previous else []
            # Recorded before the work: if this delivery never finishes (timeout, out of memory), the object
            # still has a state, and the last allowed delivery already says where the event will be.
            self._record_attempt(entry, receive_count)
            self._convert(obj, contract, entry, previous)
        except Superseded as exc:
            # A late event for an older version: the key's ledger entry and rows belong to the newer version.
            entry.state, entry.reason_code, entry.reason = "ignored", exc.code, exc.message
            self.metric("FilesIgnored", "Count", 1)
            logger.info("superseded", extra={"reason": exc.message})
        except ObjectIgnored as exc:
            entry.state, entry.reason_code, entry.reason = "ignored", exc.code, exc.message
            self.ledger.record(entry)
            self.metric("FilesIgnored", "Count", 1)
            logger.info("ignored", extra={"reason_code": exc.code, "reason": exc.message})
        except FileRejected as exc:
            try:
                self._quarantine(obj, contract, entry, exc)
            except Exception as failure:  # S3/SNS failing while quarantining: transient like any other error
                self._record_failure(entry, failure, receive_count)
                raise
        except Exception as exc:
            self._record_failure(entry, exc, receive_count)
            raise
        self.metric("ConversionDuration", "Milliseconds", (time.monotonic() - started) * 1000)
        return {
            "object": obj.uri,
            "state": entry.state,
            "reason_code": entry.reason_code,
            "rows_written": entry.rows_written,
            "rows_rejected": entry.rows_rejected,
        }

    # ----------------------------------------------------------------------------- converted
    def _convert(self, obj: LandingObject, contract: Contract, entry: LedgerEntry, previous: LedgerEntry | None) -> None:
        from .convert import convert  # pyarrow is imported on the first conversion, not at cold start

        lineage = Lineage(obj.key, obj.version_id or obj.etag, obj.landed)
        with tempfile.TemporaryDirectory(prefix="convert-", dir=self.settings.work_dir) as tmp:
            out_dir, work_dir = Path(tmp, "out"), Path(tmp, "work")
            work_dir.mkdir()
            result = convert(self._opener(obj), contract, key=obj.key, lineage=lineage, out_dir=out_dir, work_dir=work_dir)
            # Publish: each Parquet file is one PUT (atomic), then the partitions are registered, so a
            # crash mid-way leaves no half-written file visible and at worst an unregistered partition
            # that the retry registers.
            uris = [f"s3://{self.settings.raw_bucket}/{_raw_key(contract, o)}" for o in result.outputs]
            entry.outputs = sorted(set(entry.outputs) | set(uris))
            self.ledger.record(entry)  # files about to be written are listed before they exist
            self._upload(contract, out_dir, result)
            self.catalog.ensure_table(contract)
            self.catalog.add_partitions(contract, result.outputs)
            self._delete_stale(entry.outputs, keep=set(uris))
            entry.state, entry.reason_code, entry.reason = "converted", "", ""
            entry.rows_written = result.rows_written
            entry.rows_rejected = result.rows_rejected
            entry.outputs = uris
            if result.rows_rejected:
                rejection = FileRejected("invalid_rows", result.row_errors.summary(), result.row_errors)
                entry.reason_code, entry.reason = "rows_quarantined", rejection.message
                entry.quarantine_uri = self._write_quarantine(obj, contract, rejection, result.bad_rows_file)
        self.ledger.record(entry)
        self.metric("FilesConverted", "Count", 1)
        self.metric("RowsWritten", "Count", result.rows_written)
        self.metric("RowsRejected", "Count", result.rows_rejected)
        self.metric("BytesRead", "Bytes", result.bytes_read)
        logger.info(
            "converted",
            extra={"rows_written": result.rows_written, "rows_rejected": result.rows_rejected, "parse_path": result.path},
        )
        if result.rows_rejected:
            self._alert(obj, contract, entry)

    def _opener(self, obj: LandingObject) -> Callable[[], Any]:
        def open_object() -> Any:
            request: dict[str, Any] = {"Bucket": obj.bucket, "Key": obj.key}
            if obj.version_id:
                request["VersionId"] = obj.version_id
            elif obj.etag:
                request["IfMatch"] = obj.etag  # the event's version, or nothing: never a newer one
            try:
                return self.clients.s3.get_object(**request)["Body"]
            except Exception as exc:
                code = error_code(exc)
                if code in ("PreconditionFailed", "412"):
                    raise Superseded("the object was overwritten since this event; its newer event converts it") from exc
                if code in ("NoSuchKey", "NoSuchVersion", "404"):
                    raise ObjectIgnored("deleted", "the object no longer exists") from exc
                raise

        return open_object

    def _upload(self, contract: Contract, out_dir: Path, result: ConversionResult) -> None:
        for output in result.outputs:
            self.clients.s3.upload_file(str(out_dir / output.path), self.settings.raw_bucket, _raw_key(contract, output))

    def _delete_stale(self, old: list[str], keep: set[str]) -> None:
        """A re-upload replaces the object's rows: drop files of the previous version not rewritten now."""
        for uri in old:
            if uri in keep:
                continue
            bucket, key = uri.removeprefix("s3://").split("/", 1)
            self.clients.s3.delete_object(Bucket=bucket, Key=key)

    # ----------------------------------------------------------------------------- quarantined
    def _quarantine(self, obj: LandingObject, contract: Contract | None, entry: LedgerEntry, exc: FileRejected) -> None:
        copy_source: dict[str, str] = {"Bucket": obj.bucket, "Key": obj.key}
        if obj.version_id:
            copy_source["VersionId"] = obj.version_id
        self.clients.s3.copy(copy_source, self.settings.quarantine_bucket, obj.key)
        entry.state, entry.reason_code, entry.reason = "quarantined", exc.code, exc.message
        entry.quarantine_uri = self._write_quarantine(obj, contract, exc, None)
        self.ledger.record(entry)
        self.metric("FilesRejected", "Count", 1)
        # Reasons can quote values from the file: the log gets the code and counts only (no row contents).
        bad_rows = exc.row_errors.bad_rows if exc.row_errors else None
        logger.warning("quarantined", extra={"reason_code": exc.code, "bad_rows": bad_rows})
        self._alert(obj, contract, entry)

    def _write_quarantine(
        self, obj: LandingObject, contract: Contract | None, exc: FileRejected, bad_rows: Path | None
    ) -> str:
        bucket = self.settings.quarantine_bucket
        reason = {
            "object": obj.uri,
            "etag": obj.etag,
            "version_id": obj.version_id,
            "contract": contract.qualified_name if contract else None,
            "on_bad_rows": contract.on_bad_rows if contract else None,
            "quarantined_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            **exc.reason(),
        }
        if bad_rows is not None:
            rows_key = f"{obj.key}.rejected-rows.jsonl"
            self.clients.s3.upload_file(str(bad_rows), bucket, rows_key)
            reason["rejected_rows"] = f"s3://{bucket}/{rows_key}"
        self.clients.s3.put_object(
            Bucket=bucket,
            Key=f"{obj.key}.reason.json",
            Body=json.dumps(reason, indent=2, default=str).encode("utf-8"),
            ContentType="application/json",
        )
        return f"s3://{bucket}/{obj.key}"

    def _alert(self, obj: LandingObject, contract: Contract | None, entry: LedgerEntry) -> None:
        dataset = contract.qualified_name if contract else "unknown"
        name = obj.key.rsplit("/", 1)[-1]
        verb = "rows quarantined" if entry.state == "converted" else "quarantined"
        message = {
            "type": "landing_object_" + ("rows_quarantined" if entry.state == "converted" else "quarantined"),
            "object": obj.uri,
            "dataset": dataset,
            "reason_code": entry.reason_code,
            "reason": entry.reason,
            "quarantine": entry.quarantine_uri if entry.state == "quarantined" else None,
            "rejected_rows": f"{entry.quarantine_uri}.rejected-rows.jsonl" if entry.state == "converted" else None,
            "reason_file": f"{entry.quarantine_uri}.reason.json",
            "rows_written": entry.rows_written,
            "rows_rejected": entry.rows_rejected,
        }
        self.clients.sns.publish(
            TopicArn=self.settings.alert_topic_arn,
            Subject=f"[lakehouse] {dataset} {verb}: {name}"[:100],
            Message=json.dumps(message, indent=2),
        )

    # ----------------------------------------------------------------------------- failed
    def _record_attempt(self, entry: LedgerEntry, receive_count: int) -> None:
        last_try = receive_count >= self.settings.max_receive_count
        entry.state = "dead_lettered" if last_try else "failed"
        entry.reason_code = "incomplete"
        entry.reason = (
            f"delivery {receive_count} of {self.settings.max_receive_count} is converting, "
            "or did not finish (timeout, out of memory)"
        )
        self.ledger.record(entry)

    def _record_failure(self, entry: LedgerEntry, exc: Exception, receive_count: int) -> None:
        last_try = receive_count >= self.settings.max_receive_count
        entry.state = "dead_lettered" if last_try else "failed"
        entry.reason_code = error_code(exc) or type(exc).__name__
        entry.reason = f"{str(exc)[:900]} (delivery {receive_count} of {self.settings.max_receive_count})"
        logger.exception("conversion failed; SQS will redeliver" if not last_try else "conversion failed; parked in the DLQ")
        try:
            self.ledger.record(entry)
        except Exception:  # the ledger itself may be what is failing; the original error matters more
            logger.exception("could not record the failure in the ledger")


def _raw_key(contract: Contract, output: OutputFile) -> str:
    """The raw-zone key of one output file: ``<table>/<partition path>/<file>``."""
    return f"{contract.table}/{output.path}"
