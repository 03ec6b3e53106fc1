"""The local lake on disk: what moto keeps only in memory, saved under ``.lakehouse/state/`` and restored on start.

Emulation only. moto's backends live in this process and vanish with it, so the lake is snapshotted after
conversions, after pipeline executions and at shutdown, and restored into a new local AWS right after the stack is
created (before the landing poller starts). A snapshot holds:

- **buckets**: the current version of every object of every bucket the stack created (landing, raw, zones,
  quarantine, Athena results...), Iceberg data and metadata files included. Bucket names are the stack's own and the
  local stack's name is fixed, so the absolute ``s3://`` paths inside Iceberg metadata stay valid.
- **Glue catalog**: every table of the stack's databases (Parameters such as Iceberg's ``metadata_location``
  included), their partitions and their table optimizers (recorded only: see moto_patches).
- **DynamoDB**: every item of the stack's tables (the object ledger and the idempotency records).
- **SQS**: the messages waiting in the stack's queues (landing queue, dead-letter queue, the local alert queue).
- **executions**: a summary of each Step Functions execution (moto cannot recreate finished executions).
- **alerts**: the alerts already drained from the local alert queue (by `lakehouse demo`'s report).

Objects are written through moto's S3 model, not its API: the API cannot set an object's version id and modification
time, and both matter (the ledger names versions; incremental steps select raw files by modification time), and a
model write with notifications off does not send "Object Created" to EventBridge, so restored landing objects are
not converted again. Queue messages are read from the model too, because receiving a message through the API counts
as a delivery (towards the dead-letter queue's ``maxReceiveCount``). Everything else goes through the API.

Not kept: older object versions, object tags, message attributes and receive counts, Glue table versions, the
stack's other resources (they are recreated from template.yaml on start).

On disk: ``manifest.json`` (written atomically, last) and ``objects/<sha256>`` (object contents, by content, so an
unchanged object is written once). Catalogs and ledgers are read before the objects they point to, so a snapshot
taken while a pipeline commits never names a metadata file it does not hold.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .server import ACCOUNT_ID, REGION

if TYPE_CHECKING:
    from .lake import LocalLake
    from .stack import Stack

FORMAT = 1
MAX_EXECUTIONS = 50  # summaries kept per pipeline
MAX_ALERTS = 200
_TABLE_INPUT = ("Name", "Description", "Owner", "Retention", "StorageDescriptor", "PartitionKeys",
                "ViewOriginalText", "ViewExpandedText", "TableType", "Parameters", "TargetTable")
_PARTITION_INPUT = ("Values", "StorageDescriptor", "Parameters")


@dataclass
class Restored:
    """What a restore put back, for the progress line."""

    objects: int = 0
    tables: int = 0
    partitions: int = 0
    items: int = 0
    messages: int = 0
    executions: int = 0
    seconds: float = 0.0

    def describe(self) -> str:
        return (f"restored the lake from {self.objects} objects, {self.tables} tables ({self.partitions} partitions), "
                f"{self.items} ledger/idempotency items, {self.messages} queued messages, {self.executions} "
                f"execution summaries in {self.seconds:.1f}s")


class StateStore:
    """One saved lake under ``root`` (``.lakehouse/state``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest_path = root / "manifest.json"
        self.objects_dir = root / "objects"

    # ---------------------------------------------------------------- files
    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        if not self.exists():
            return {}
        return dict(json.loads(self.manifest_path.read_text(encoding="utf-8")))

    def clear(self) -> None:
        """Forget the saved lake (``lakehouse reset``, ``lakehouse demo --fresh``)."""
        with self.lock(exclusive=True):
            self.manifest_path.unlink(missing_ok=True)
            shutil.rmtree(self.objects_dir, ignore_errors=True)

    @contextlib.contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        """Writers (save, clear) exclude each other and readers (restore), across processes."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _blob(self, digest: str) -> Path:
        return self.objects_dir / digest[:2] / digest

    # ---------------------------------------------------------------- saving
    def save(self, lake: LocalLake) -> dict[str, Any]:
        """Snapshot the running lake; returns the manifest written."""
        previous = self.manifest()
        stack, client = lake.stack, lake.aws.client
        with self.lock(exclusive=True):
            # catalogs and ledgers first, then the objects they name (see the module's docstring)
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "stack": stack.name,
                "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "glue": _glue_tables(client("glue"), _databases(stack)),
                "dynamodb": {t: _scan(client("dynamodb"), t) for t in _tables(stack)},
                "executions": _executions(client("stepfunctions"), stack, previous.get("executions", [])),
                "alerts": (previous.get("alerts", []) + lake.alert_history)[-MAX_ALERTS:],
            }
            manifest["buckets"] = self._save_objects(_buckets(stack), previous.get("buckets", {}))
            manifest["queues"] = _queue_messages(_queues(stack))
            text = json.dumps(manifest, indent=1, default=str)
            partial = self.manifest_path.with_suffix(".json.part")
            partial.write_text(text, encoding="utf-8")
            os.replace(partial, self.manifest_path)
            self._collect_garbage(manifest["buckets"])
        lake.alert_history.clear()  # now in the manifest
        return manifest

    def _save_objects(self, buckets: list[str], previous: dict[str, Any]) -> dict[str, dict[str, Any]]:
        from moto.s3.models import FakeKey, s3_backends

        backend = s3_backends[ACCOUNT_ID]["aws"]
        out: dict[str, dict[str, Any]] = {}
        for name in buckets:
            bucket = backend.get_bucket(name)
            before = previous.get(name, {})
            objects: dict[str, Any] = {}
            for key_name in list(bucket.keys.keys()):
                versions = bucket.keys.getlist(key_name, [])
                current = versions[-1] if versions else None
                if not isinstance(current, FakeKey):  # deleted: a delete marker is the current version
                    continue
                entry = {
                    "version_id": current.version_id or "",
                    "etag": current.etag.strip('"'),
                    "last_modified": current.last_modified.replace(tzinfo=UTC).isoformat(),
                    "size": current.size,
                    "metadata": dict(current.metadata),
                }
                old = before.get(key_name)
                if old and all(old.get(k) == entry[k] for k in ("version_id", "etag", "last_modified", "size")) \
                        and self._blob(old["sha256"]).is_file():
                    entry["sha256"] = old["sha256"]
                else:
                    value = current.value
                    entry["sha256"] = digest = hashlib.sha256(value).hexdigest()
                    path = self._blob(digest)
                    if not path.is_file():
                        path.parent.mkdir(parents=True, exist_ok=True)
                        partial = path.with_suffix(".part")
                        partial.write_bytes(value)
                        os.replace(partial, path)
                objects[key_name] = entry
            out[name] = objects
        return out

    def _collect_garbage(self, buckets: dict[str, dict[str, Any]]) -> None:
        used = {o["sha256"] for objects in buckets.values() for o in objects.values()}
        if not self.objects_dir.is_dir():
            return
        for path in self.objects_dir.glob("*/*"):
            if path.name not in used:
                path.unlink(missing_ok=True)

    # ---------------------------------------------------------------- restoring
    def restore(self, stack: Stack) -> Restored:
        """Put the saved lake into a freshly created local stack (before its poller starts)."""
        started = time.monotonic()
        done = Restored()
        with self.lock(exclusive=False):
            manifest = self.manifest()
            if not manifest:
                return done
            if manifest.get("format") != FORMAT or manifest.get("stack") != stack.name:
                raise RuntimeError(f"{self.manifest_path} holds a lake of another format or stack "
                                   f"({manifest.get('format')}, {manifest.get('stack')}); `lakehouse reset` empties it")
            done.objects = self._restore_objects(manifest.get("buckets", {}), set(_buckets(stack)))
            done.tables, done.partitions = _restore_glue(stack.aws.client("glue"), manifest.get("glue", {}))
            done.items = _restore_items(stack.aws.client("dynamodb"), manifest.get("dynamodb", {}), _tables(stack))
            done.messages = _restore_messages(stack.aws.client("sqs"), manifest.get("queues", {}), _queues(stack))
            done.executions = len(manifest.get("executions", []))
        done.seconds = time.monotonic() - started
        return done

    def _restore_objects(self, buckets: dict[str, dict[str, Any]], known: set[str]) -> int:
        from moto.s3.models import s3_backends

        backend = s3_backends[ACCOUNT_ID]["aws"]
        count = 0
        for name, objects in buckets.items():
            if name not in known:  # a bucket the template no longer has
                continue
            for key_name, saved in objects.items():
                value = self._blob(saved["sha256"]).read_bytes()
                key = backend.put_object(name, key_name, value, etag=saved["etag"], disable_notification=True)
                if saved["version_id"] and saved["version_id"] != "null":
                    key._version_id = saved["version_id"]
                key.last_modified = datetime.fromisoformat(saved["last_modified"]).replace(tzinfo=None)
                key.set_metadata(dict(saved.get("metadata", {})))
                count += 1
        return count


# ------------------------------------------------------------------------------------------------ the stack's parts
def _buckets(stack: Stack) -> list[str]:
    return [str(b) for b in stack.of_type("AWS::S3::Bucket").values()]


def _databases(stack: Stack) -> list[str]:
    return [str(d) for d in stack.of_type("AWS::Glue::Database").values()]


def _tables(stack: Stack) -> list[str]:
    return [str(t) for t in stack.of_type("AWS::DynamoDB::Table").values()]


def _queues(stack: Stack) -> dict[str, str]:
    """Queue name -> URL: the template's queues and the local alert queue."""
    urls = [str(u) for u in stack.of_type("AWS::SQS::Queue").values()]
    if stack.alerts_queue_url:
        urls.append(stack.alerts_queue_url)
    return {url.rsplit("/", 1)[1]: url for url in urls}


# ------------------------------------------------------------------------------------------------ Glue
def _glue_tables(glue: Any, databases: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for database in databases:
        tables = []
        for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
            for table in page["TableList"]:
                saved = {k: table[k] for k in _TABLE_INPUT if k in table}
                partitions = []
                if table.get("PartitionKeys"):
                    for part_page in glue.get_paginator("get_partitions").paginate(
                            DatabaseName=database, TableName=table["Name"]):
                        partitions += [{k: p[k] for k in _PARTITION_INPUT if k in p} for p in part_page["Partitions"]]
                saved["_partitions"] = partitions
                saved["_optimizers"] = _table_optimizers(glue, database, table["Name"])
                tables.append(saved)
        out[database] = tables
    return out


def _table_optimizers(glue: Any, database: str, table: str) -> list[dict[str, Any]]:
    """The table's optimizers as GetTableOptimizer returns them ({type, configuration})."""
    from .moto_patches import OPTIMIZER_TYPES

    found = glue.batch_get_table_optimizer(Entries=[
        {"catalogId": ACCOUNT_ID, "databaseName": database, "tableName": table, "type": kind}
        for kind in OPTIMIZER_TYPES])["TableOptimizers"]
    return [{k: o["tableOptimizer"][k] for k in ("type", "configuration")} for o in found]


def _restore_glue(glue: Any, databases: dict[str, list[dict[str, Any]]]) -> tuple[int, int]:
    tables = partitions = 0
    for database, saved_tables in databases.items():
        for saved in saved_tables:
            table_input = {k: v for k, v in saved.items() if not k.startswith("_")}
            try:
                glue.create_table(DatabaseName=database, TableInput=table_input)
            except glue.exceptions.EntityNotFoundException:
                continue  # a database the template no longer has
            tables += 1
            parts = saved.get("_partitions", [])
            for start in range(0, len(parts), 100):
                glue.batch_create_partition(DatabaseName=database, TableName=saved["Name"],
                                            PartitionInputList=parts[start:start + 100])
            partitions += len(parts)
            for optimizer in saved.get("_optimizers", []):  # absent from lakes saved before they were recorded
                glue.create_table_optimizer(CatalogId=ACCOUNT_ID, DatabaseName=database, TableName=saved["Name"],
                                            Type=optimizer["type"],
                                            TableOptimizerConfiguration=optimizer["configuration"])
    return tables, partitions


# ------------------------------------------------------------------------------------------------ DynamoDB
def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += page.get("Items", [])
    return items


def _restore_items(dynamodb: Any, tables: dict[str, list[dict[str, Any]]], known: list[str]) -> int:
    count = 0
    for table, items in tables.items():
        if table not in known:
            continue
        for start in range(0, len(items), 25):
            requests = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
            while requests:
                requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
        count += len(items)
    return count


# ------------------------------------------------------------------------------------------------ SQS
def _queue_messages(queues: dict[str, str]) -> dict[str, list[str]]:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[ACCOUNT_ID][REGION]
    out: dict[str, list[str]] = {}
    for name in queues:
        queue = backend.queues.get(name)
        if queue is None:
            continue
        with queue._messages_lock:
            out[name] = [m.body for m in queue._messages]
    return out


def _restore_messages(sqs: Any, saved: dict[str, list[str]], queues: dict[str, str]) -> int:
    count = 0
    for name, bodies in saved.items():
        url = queues.get(name)
        if url is None:
            continue
        for start in range(0, len(bodies), 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start:start + 10])])
        count += len(bodies)
    return count


# ------------------------------------------------------------------------------------------------ executions
def execution_summary(sfn: Any, pipeline: str, execution: dict[str, Any]) -> dict[str, Any]:
    """What `lakehouse status` shows of one execution (DescribeExecution, plus the failed state from the history)."""
    from .lake import execution_history, failed_state

    summary = {
        "pipeline": pipeline,
        "name": execution["name"],
        "arn": execution["executionArn"],
        "status": execution["status"],
        "start": _iso(execution.get("startDate")),
        "stop": _iso(execution.get("stopDate")),
        "error": execution.get("error"),
        "cause": execution.get("cause"),
        "failed_state": None,
    }
    if execution["status"] == "FAILED":
        summary["failed_state"] = failed_state(execution_history(sfn, execution["executionArn"]), [])
    return summary


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


def _executions(sfn: Any, stack: Stack, previous: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved summaries, updated with this stack's executions (moto's list: only those since the start)."""
    by_arn = {e["arn"]: e for e in previous}
    live: set[str] = set()
    for pipeline, machine in stack.state_machines().items():
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
            for item in page["executions"]:
                live.add(item["executionArn"])
                known = by_arn.get(item["executionArn"])
                if known and known["status"] == item["status"]:
                    continue
                execution = sfn.describe_execution(executionArn=item["executionArn"])
                by_arn[item["executionArn"]] = execution_summary(sfn, pipeline, execution)
    for arn, summary in by_arn.items():
        if summary["status"] == "RUNNING" and arn not in live:  # an earlier local stack stopped during it
            summary.update(status="ABORTED", error="lakehouse.StackStopped",
                           cause="the local stack stopped while the execution ran")
    kept: list[dict[str, Any]] = []
    for pipeline in sorted({e["pipeline"] for e in by_arn.values()}):
        mine = sorted((e for e in by_arn.values() if e["pipeline"] == pipeline), key=lambda e: e["start"] or "")
        kept += mine[-MAX_EXECUTIONS:]
    return kept
