"""One landing object from event to recorded state: converted, quarantined or ignored.

Failure semantics: bad data is quarantined and the record succeeds (never retried); anything else (throttling,
5xx, timeouts) is recorded as ``failed`` and re-raised so SQS redelivers only that record, and after
MaxReceiveCount parks it in the dead-letter queue (recorded as ``dead_lettered``). Each outcome has its own method
below; the entry's state changes are methods of the ledger entry.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from .alerts import Alerts
from .aws import AwsClients, error_code
from .catalog import Catalog
from .ledger import Ledger, LedgerEntry, sequencer_order
from .outcomes import FileRejected, Lineage, ObjectIgnored, OutputFile, engine_message
from .quarantine import Quarantine
from .settings import Settings

if TYPE_CHECKING:
    from .contracts import Contract, ContractRegistry
    from .convert import ConversionResult

logger = Logger(child=True)

# (metric name, unit, value, data set) -> None; the data set is "pipeline.dataset", or "" for an object no contract
# claims. The handler passes Powertools Metrics (one series per data set), tests a list.
MetricSink = Callable[[str, str, float, str], None]


# In an "Object Created" event's detail: the id of a deliberate replay (`lakehouse replay`). The converter's
# idempotency key is (bucket, key, etag, version id, replay id): a duplicate delivery of an event is swallowed, a
# replay of the same object version is converted again, and a duplicate delivery of that replay is swallowed.
REPLAY_FIELD = "lakehouse-replay"


@dataclass(frozen=True)
class LandingObject:
    bucket: str
    key: str  # decoded: the real object key
    etag: str = ""
    version_id: str = ""
    size: int | None = None
    sequencer: str = ""
    landed_at: str = ""  # the event's time (ISO 8601): when this version of the object was created
    replay: str = ""  # a deliberate replay's id (`lakehouse replay`): part of the idempotency key, see REPLAY_FIELD

    @property
    def landed(self) -> datetime:
        """When the object landed; deterministic for every delivery of the event, so a retry on another day
        writes to the same ingest_date partition and overwrites what a crashed attempt left."""
        if self.landed_at:
            return datetime.fromisoformat(self.landed_at).astimezone(UTC)
        return datetime.now(UTC)

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @classmethod
    def from_event(cls, event: Any) -> LandingObject:
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
            replay=event.detail.get(REPLAY_FIELD) or "",
        )

    def as_dict(self) -> dict[str, Any]:
        return {"bucket": self.bucket, "key": self.key, "etag": self.etag, "version_id": self.version_id,
                "size": self.size, "sequencer": self.sequencer, "landed_at": self.landed_at, "replay": self.replay}


class Superseded(ObjectIgnored):
    """The event is for an older version of a key than the one already recorded or now stored."""

    def __init__(self, message: str):
        super().__init__("superseded", message)


def _is_older(sequencer: str, recorded: str) -> bool:
    return bool(sequencer and recorded) and sequencer_order(sequencer) < sequencer_order(recorded)


class LandingService:
    def __init__(self, registry: ContractRegistry, settings: Settings, clients: AwsClients,
                 metric: MetricSink | None = None):
        self.registry = registry
        self.settings = settings
        self.clients = clients
        self.metric: MetricSink = metric or (lambda name, unit, value, dataset: None)
        self.ledger = Ledger(clients.dynamodb, settings.ledger_table)
        self.catalog = Catalog(clients.glue, settings.raw_database, settings.raw_bucket)
        self.quarantine = Quarantine(clients.s3, settings.quarantine_bucket)
        self.alerts = Alerts(clients.sns, settings.alert_topic_arn, clients.dynamodb, settings.idempotency_table,
                             settings.unknown_prefix_alert_seconds)

    # ----------------------------------------------------------------------------- entry point
    def process(self, obj: LandingObject, receive_count: int = 1) -> dict[str, Any]:
        started = time.monotonic()
        contract = self.registry.resolve(obj.key)
        dataset = contract.qualified_name if contract else ""
        self.metric("ObjectsLanded", "Count", 1, dataset)
        entry = LedgerEntry(
            object_uri=obj.uri, bucket=obj.bucket, key=obj.key, etag=obj.etag, version_id=obj.version_id,
            sequencer=obj.sequencer, size=obj.size or 0, landed_at=obj.landed_at,
            pipeline=contract.pipeline if contract else "", dataset=contract.dataset if contract else "",
            table=contract.table if contract else "", attempts=receive_count,
            max_attempts=self.settings.max_receive_count,
        )
        try:
            if obj.key.endswith("/"):
                raise ObjectIgnored("folder_marker", "the key ends in '/': a folder marker, not a file")
            if contract is None:
                self._unknown_prefix(entry)
            elif obj.size == 0:
                raise ObjectIgnored("zero_bytes", "the object is empty (0 bytes)")
            else:
                previous = self.ledger.get(obj.uri)
                if previous and _is_older(obj.sequencer, previous.sequencer):
                    raise Superseded(f"a newer version of the key (sequencer {previous.sequencer}) was already "
                                     "recorded")
                # The Parquet files of earlier versions stay listed in every later record until a conversion
                # replaces them, so a failed or quarantined version never makes them unreachable for cleanup.
                entry.outputs = list(previous.outputs) if previous else []
                entry.converting(receive_count, self.settings.max_receive_count)
                self.ledger.record(entry)
                self._convert(obj, contract, entry)
        except Superseded as exc:
            # A late event for an older version: the key's ledger entry and rows belong to the newer version.
            entry.ignored(exc.code, exc.message)
            self.metric("FilesIgnored", "Count", 1, dataset)
            logger.info("superseded", extra={"reason": exc.message})
        except ObjectIgnored as exc:
            self._ignored(entry, exc.code, exc.message)
        except FileRejected as exc:
            try:
                self._quarantined(obj, contract, entry, exc)
            except Exception as failure:  # S3/SNS failing while quarantining: transient like any other error
                self._failed(entry, failure)
                raise
        except Exception as exc:
            self._failed(entry, exc)
            raise
        self.metric("ConversionDuration", "Milliseconds", (time.monotonic() - started) * 1000, dataset)
        return {"object": obj.uri, "state": entry.state, "reason_code": entry.reason_code,
                "rows_written": entry.rows_written, "rows_rejected": entry.rows_rejected}

    # ----------------------------------------------------------------------------- ignored
    def _ignored(self, entry: LedgerEntry, code: str, message: str) -> None:
        entry.ignored(code, message)
        self.ledger.record(entry)
        self.metric("FilesIgnored", "Count", 1, f"{entry.pipeline}.{entry.dataset}" if entry.dataset else "")
        logger.info("ignored", extra={"reason_code": code, "reason": message})

    def _unknown_prefix(self, entry: LedgerEntry) -> None:
        prefixes = sorted(c.landing_prefix for c in self.registry.contracts)
        self._ignored(entry, "unknown_prefix", f"no contract's landing_prefix matches {entry.key!r}: move the file "
                                               f"under one of {prefixes}, or add a contract for its folder")
        self.alerts.unknown_prefix(entry, prefixes)

    # ----------------------------------------------------------------------------- converted
    def _convert(self, obj: LandingObject, contract: Contract, entry: LedgerEntry) -> None:
        from .convert import convert  # pyarrow is imported on the first conversion, not at cold start

        lineage = Lineage(obj.key, obj.version_id or obj.etag, obj.landed)
        with tempfile.TemporaryDirectory(prefix="convert-", dir=self.settings.work_dir) as tmp:
            out_dir, work_dir = Path(tmp, "out"), Path(tmp, "work")
            work_dir.mkdir()
            result = convert(self._opener(obj), contract, key=obj.key, lineage=lineage, out_dir=out_dir,
                             work_dir=work_dir)
            # Publish: each Parquet file is one PUT (atomic), then the partitions are registered, so a crash mid-way
            # leaves no half-written file visible and at worst an unregistered partition that the retry registers.
            uris = [f"s3://{self.settings.raw_bucket}/{raw_key(contract, o)}" for o in result.outputs]
            entry.outputs = sorted(set(entry.outputs) | set(uris))
            self.ledger.record(entry)  # files about to be written are listed before they exist
            for output in result.outputs:
                self.clients.s3.upload_file(str(out_dir / output.path), self.settings.raw_bucket,
                                            raw_key(contract, output))
            self.catalog.ensure_table(contract)
            self.catalog.add_partitions(contract, result.outputs)
            self._delete_stale(entry.outputs, keep=set(uris))
            entry.converted(result.rows_written, result.rows_rejected, uris)
            if result.rows_rejected:
                rejection = FileRejected("invalid_rows", result.row_errors.summary(), result.row_errors)
                reason_uri, rows_uri = self.quarantine.write_reason(obj, contract, rejection, result.bad_rows_file)
                entry.rows_quarantined(rejection.message, rows_uri, reason_uri)
        self.ledger.record(entry)
        self._converted_metrics(result, contract.qualified_name)
        if result.rows_rejected:
            self.alerts.quarantined(entry, contract.qualified_name)

    def _converted_metrics(self, result: ConversionResult, dataset: str) -> None:
        self.metric("FilesConverted", "Count", 1, dataset)
        self.metric("RowsWritten", "Count", result.rows_written, dataset)
        self.metric("RowsRejected", "Count", result.rows_rejected, dataset)
        self.metric("BytesRead", "Bytes", result.bytes_read, dataset)
        logger.info("converted", extra={"rows_written": result.rows_written, "rows_rejected": result.rows_rejected,
                                        "parse_path": result.path})

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
                    raise Superseded("the object was overwritten since this event; its newer event converts it") \
                        from exc
                if code in ("NoSuchKey", "NoSuchVersion", "404"):
                    raise ObjectIgnored("deleted", "the object no longer exists") from exc
                raise

        return open_object

    def _delete_stale(self, old: list[str], keep: set[str]) -> None:
        """A re-upload replaces the object's rows: drop files of the previous version not rewritten now."""
        for uri in old:
            if uri not in keep:
                bucket, key = uri.removeprefix("s3://").split("/", 1)
                self.clients.s3.delete_object(Bucket=bucket, Key=key)

    # ----------------------------------------------------------------------------- quarantined
    def _quarantined(self, obj: LandingObject, contract: Contract | None, entry: LedgerEntry,
                     exc: FileRejected) -> None:
        copy_uri = self.quarantine.copy_original(obj)
        reason_uri, _ = self.quarantine.write_reason(obj, contract, exc, None)
        entry.quarantined(exc.code, exc.message, copy_uri, reason_uri)
        self.ledger.record(entry)
        self.metric("FilesQuarantined", "Count", 1, contract.qualified_name if contract else "")
        # Reasons can quote values from the file: the log gets the code and counts only (no row contents).
        bad_rows = exc.row_errors.bad_rows if exc.row_errors else None
        logger.warning("quarantined", extra={"reason_code": exc.code, "bad_rows": bad_rows})
        self.alerts.quarantined(entry, contract.qualified_name if contract else "unknown")

    # ----------------------------------------------------------------------------- failed
    def _failed(self, entry: LedgerEntry, exc: Exception) -> None:
        code = error_code(exc)
        # An AWS error's text is the service's; any other may quote the file (a parser, a codec): cut that out,
        # since the ledger and the log must never carry a row's values.
        message = str(exc)[:900] if code else engine_message(str(exc), limit=900)
        entry.failed(code or type(exc).__name__, message)
        logger.error("conversion failed; SQS will redeliver" if entry.state == "failed"
                     else "conversion failed; parked in the DLQ",
                     extra={"error_type": type(exc).__name__, "error": message})
        try:
            self.ledger.record(entry)
        except Exception:  # the ledger itself may be what is failing; the original error matters more
            logger.exception("could not record the failure in the ledger")


def raw_key(contract: Contract, output: OutputFile) -> str:
    """The raw-zone key of one output file: ``<table>/<partition path>/<file>``."""
    return f"{contract.table}/{output.path}"
