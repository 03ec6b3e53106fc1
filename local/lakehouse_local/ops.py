"""What the operator commands do, on a Target (target.py: the local stack or a deployed one); views.py prints it.

Every function returns plain data (the ``--json`` shape). The same code runs against the local stack and AWS: the
ledger is read with awswrangler, queues and state machines with boto3.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.aws import error_code
from lakehouse.ledger import now as ledger_now

from .target import Target, TargetError

if TYPE_CHECKING:
    from lakehouse.contracts import Contract
    from lakehouse.ledger import LedgerEntry
    from lakehouse.pipeline import Lake

STATES = ("converting", "converted", "quarantined", "ignored", "failed", "dead_lettered")


class OpsError(ValueError):
    """A command cannot do what was asked; the message says why and what to do."""


# ------------------------------------------------------------------------------------------------ the ledger
def ledger(target: Target) -> list[LedgerEntry]:
    """Every ledger entry, read with awswrangler (a full, consistent scan: operators want every object)."""
    import awswrangler as wr
    from lakehouse.ledger import LedgerEntry

    with target.wrangler_session() as session, warnings.catch_warnings():
        # awswrangler warns on every full scan; reading every entry is the point here
        warnings.filterwarnings("ignore", message="Attempting DynamoDB Scan", category=UserWarning)
        items = wr.dynamodb.read_items(table_name=target.output("ObjectLedgerTableName"), allow_full_scan=True,
                                       consistent=True, as_dataframe=False, boto3_session=session)
    known = LedgerEntry.__dataclass_fields__
    entries = [LedgerEntry(**{k: _plain(v) for k, v in item.items() if k in known}) for item in items]
    return sorted(entries, key=lambda e: e.key)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def function_timeout(target: Target) -> timedelta:
    """ConvertFunction's timeout: from Lambda on AWS, the template's locally."""
    from .lake import FUNCTION_TIMEOUT

    if target.local:
        return FUNCTION_TIMEOUT
    from botocore.exceptions import ClientError

    try:
        name = target.resource("ConvertFunction")
        return timedelta(seconds=int(target.client("lambda").get_function_configuration(FunctionName=name)["Timeout"]))
    except (ClientError, TargetError):
        return FUNCTION_TIMEOUT


def dataset_of(entry: LedgerEntry) -> str:
    return f"{entry.pipeline}.{entry.dataset}" if entry.dataset else "(no contract)"


# ------------------------------------------------------------------------------------------------ status
def queue_depth(target: Target, logical_id: str) -> dict[str, int]:
    attributes = target.client("sqs").get_queue_attributes(
        QueueUrl=target.queue_url(logical_id),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return {"waiting": int(attributes.get("ApproximateNumberOfMessages", 0)),
            "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0))}


def executions(target: Target, pipeline: str, limit: int = 5) -> list[dict[str, Any]]:
    """The pipeline's last executions, newest first: the stack's own (and, locally, those saved by earlier runs of
    the local stack, which moto forgets)."""
    from .state import execution_summary

    sfn = target.client("stepfunctions")
    arn = target.state_machine(pipeline)
    found: dict[str, dict[str, Any]] = {}
    listed = sfn.list_executions(stateMachineArn=arn, maxResults=limit)["executions"]
    for item in listed:
        described = sfn.describe_execution(executionArn=item["executionArn"]) if item["status"] == "FAILED" else item
        found[item["executionArn"]] = execution_summary(sfn, pipeline, described)
    if target.local:
        for saved in _saved_executions():
            if saved["pipeline"] == pipeline and saved["arn"] not in found:
                found[saved["arn"]] = saved
    return sorted(found.values(), key=lambda e: e["start"] or "", reverse=True)[:limit]


def _saved_executions() -> list[dict[str, Any]]:
    from .home import home
    from .state import StateStore

    return list(StateStore(home() / "state").manifest().get("executions", []))


def status(target: Target, model: Lake | None, limit: int = 5) -> dict[str, Any]:
    """Objects per data set and ledger state, the last landing time, queue depths, the last executions."""
    now = datetime.now(UTC)
    timeout = function_timeout(target)
    entries = ledger(target)
    datasets: dict[str, dict[str, Any]] = {}
    if model is not None:
        for contract in model.contracts.contracts:
            datasets[contract.qualified_name] = _dataset_row(contract.qualified_name, contract.table,
                                                             contract.landing_prefix)
    for entry in entries:
        row = datasets.setdefault(dataset_of(entry), _dataset_row(dataset_of(entry), entry.table, ""))
        state = entry.effective_state(now, timeout)
        row["states"][state] = row["states"].get(state, 0) + 1
        row["objects"] += 1
        if entry.rows_rejected and state == "converted":
            row["rows_quarantined"] += entry.rows_rejected
        if entry.landed_at and (row["last_landed"] is None or entry.landed_at > row["last_landed"]):
            row["last_landed"] = entry.landed_at
    pipelines = []
    for pipeline, arn in target.state_machines().items():
        pipelines.append({"pipeline": pipeline, "state_machine": arn, "executions": executions(target, pipeline,
                                                                                               limit)})
    totals: dict[str, int] = {}
    for row in datasets.values():
        for state, count in row["states"].items():
            totals[state] = totals.get(state, 0) + count
    return {
        "stack": target.name,
        "where": target.where,
        "at": now.isoformat(timespec="seconds"),
        "objects": len(entries),
        "states": totals,
        "datasets": sorted(datasets.values(), key=lambda r: r["dataset"]),
        "landing_queue": queue_depth(target, "LandingQueue"),
        "dead_letter_queue": queue_depth(target, "LandingDeadLetterQueue"),
        "pipelines": pipelines,
    }


def _dataset_row(name: str, table: str, prefix: str) -> dict[str, Any]:
    return {"dataset": name, "table": table, "landing_prefix": prefix, "objects": 0, "states": {},
            "rows_quarantined": 0, "last_landed": None}


# ------------------------------------------------------------------------------------------------ quarantine
def quarantine(target: Target, model: Lake | None, dataset: str | None = None) -> list[dict[str, Any]]:
    """Quarantined objects, and converted ones with rows set aside, each with the reason and row errors of its
    reason.json. Only those fields are read from the file; they never hold a ``pii: true`` column's value (the
    converter redacts them), and an error message on such a column is redacted again here in case it quotes."""
    wanted = resolve_dataset(model, dataset) if dataset else None
    s3 = target.client("s3")
    out = []
    for entry in ledger(target):
        if wanted and dataset_of(entry) != wanted:
            continue
        if entry.state != "quarantined" and not (entry.state == "converted" and entry.rows_rejected):
            continue
        reason = _reason_file(s3, entry.reason_uri)
        pii = _pii_columns(model, entry)
        errors = [
            {"row": e.get("row"), "column": e.get("column"),
             "message": _redact(str(e.get("message", "")), e.get("column") in pii)}
            for e in reason.get("errors", []) if isinstance(e, dict)
        ]
        out.append({
            "dataset": dataset_of(entry),
            "key": entry.key,
            "state": entry.state,
            "landed_at": entry.landed_at,
            "reason_code": entry.reason_code,
            "reason": entry.reason,
            "bad_rows": reason.get("bad_rows", entry.rows_rejected or None),
            "errors_total": reason.get("errors_total"),
            "errors": errors,
            "errors_truncated": bool(reason.get("errors_truncated")),
            "quarantine_uri": entry.quarantine_uri,
            "reason_uri": entry.reason_uri,
            "rows_written": entry.rows_written,
            "rows_rejected": entry.rows_rejected,
        })
    return out


def _reason_file(s3: Any, uri: str) -> dict[str, Any]:
    if not uri:
        return {}
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    try:
        data = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except (s3.exceptions.NoSuchKey, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _pii_columns(model: Lake | None, entry: LedgerEntry) -> set[str]:
    if model is None or not entry.dataset:
        return set()
    for contract in model.contracts.contracts:
        if contract.pipeline == entry.pipeline and contract.dataset == entry.dataset:
            return {c.name for c in contract.columns if c.pii}
    return set()


def _redact(message: str, pii: bool) -> str:
    from lakehouse.outcomes import redact_quoted

    return redact_quoted(message) if pii else message


def resolve_dataset(model: Lake | None, name: str) -> str:
    """``pipeline.dataset`` of a data set named as ``dataset`` or ``pipeline.dataset``."""
    if model is None:
        return name
    contracts: list[Contract] = list(model.contracts.contracts)
    matches = [c for c in contracts if name in (c.qualified_name, c.dataset)]
    if len(matches) == 1:
        return matches[0].qualified_name
    if not matches:
        known = ", ".join(sorted(c.qualified_name for c in contracts))
        raise OpsError(f"no data set {name!r} (known: {known})")
    raise OpsError(f"data set {name!r} is ambiguous: write one of {', '.join(c.qualified_name for c in matches)}")


# ------------------------------------------------------------------------------------------------ replay
def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``--since``: an ISO date or time (UTC unless it says otherwise), or an age such as 30m, 6h, 2d."""
    if not text:
        return None
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"(\d+)\s*([smhd])", text.strip())
    if match:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return now - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise OpsError(f"--since {text!r}: give an ISO date or time (2026-11-27, 2026-11-27T10:00) or an age "
                       "(30m, 6h, 2d)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def select(target: Target, model: Lake | None, *, prefix: str | None = None, dataset: str | None = None,
           state: str | None = None, since: datetime | None = None) -> list[LedgerEntry]:
    """The ledger entries a replay covers: under ``prefix``, or of ``dataset`` in (effective) ``state``; landed at
    or after ``since``. Objects being converted right now are left out (their conversion is still running)."""
    if state and state not in STATES:
        raise OpsError(f"--state {state!r}: one of {', '.join(STATES)}")
    wanted = resolve_dataset(model, dataset) if dataset else None
    now = datetime.now(UTC)
    timeout = function_timeout(target)
    chosen = []
    for entry in ledger(target):
        effective = entry.effective_state(now, timeout)
        if prefix is not None and not entry.key.startswith(prefix):
            continue
        if wanted and dataset_of(entry) != wanted:
            continue
        if state and effective != state:
            continue
        if effective == "converting":
            continue
        if since and (not entry.landed_at or _time(entry.landed_at) < since):
            continue
        chosen.append(entry)
    return chosen


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class Replayed:
    replay_id: str
    started_at: str
    sent: list[dict[str, Any]]  # key, version_id, etag
    skipped: list[dict[str, str]]  # key, why

    def as_dict(self) -> dict[str, Any]:
        return {"replay_id": self.replay_id, "started_at": self.started_at, "sent": self.sent,
                "skipped": self.skipped}


def replay_event(target: Target, bucket: str, key: str, head: dict[str, Any], entry: LedgerEntry,
                 replay_id: str) -> dict[str, Any]:
    """The S3 "Object Created" event of the object's current version, as EventBridge delivers it to the landing
    queue, with the replay's id in ``detail["lakehouse-replay"]``.

    The converter's idempotency key is (bucket, key, etag, version id, replay id): the original event's record does
    not answer the replay, so the object is converted again, and the replay's own record swallows an accidental
    second delivery of this message (lakehouse.ingest.REPLAY_FIELD). ``time`` is when the object landed (the
    ledger's record of its original event, else its modification time), so the rows keep their ingest date and
    replace the files an earlier conversion of the same version wrote."""
    from lakehouse.ingest import REPLAY_FIELD

    version = head.get("VersionId") or ""
    same_version = entry.version_id == version or not entry.version_id
    landed = entry.landed_at if same_version and entry.landed_at else \
        head["LastModified"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    obj: dict[str, Any] = {"key": urllib.parse.quote_plus(key, safe="/"), "size": int(head["ContentLength"]),
                           "etag": head["ETag"].strip('"')}
    if version and version != "null":
        obj["version-id"] = version
    if same_version and entry.sequencer:
        obj["sequencer"] = entry.sequencer
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": target.account,
        "time": landed,
        "region": target.region,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": replay_id,
            "requester": target.account,
            "reason": "PutObject",
            REPLAY_FIELD: replay_id,
        },
    }


def replay(target: Target, entries: list[LedgerEntry]) -> Replayed:
    """Send each object's event to the landing queue (the normal path: the queue, the function, the ledger), marked
    with one replay id, which the converter's idempotency key includes: the replay is converted again."""
    s3, sqs = target.client("s3"), target.client("sqs")
    queue = target.queue_url("LandingQueue")
    replay_id = f"replay-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    started = ledger_now()
    sent: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    batch: list[dict[str, str]] = []

    def flush() -> None:
        if batch:
            response = sqs.send_message_batch(QueueUrl=queue, Entries=list(batch))
            for failure in response.get("Failed", []):
                raise OpsError(f"the landing queue refused a replayed event: {failure.get('Message')}")
            batch.clear()

    present = []
    for entry in entries:
        try:
            present.append((entry, s3.head_object(Bucket=entry.bucket, Key=entry.key)))
        except s3.exceptions.ClientError as exc:
            skipped.append({"key": entry.key, "why": f"no longer in the landing bucket ({error_code(exc) or type(exc).__name__})"})
    for entry, head in present:
        event = replay_event(target, entry.bucket, entry.key, head, entry, replay_id)
        batch.append({"Id": str(len(batch)), "MessageBody": json.dumps(event)})
        sent.append({"key": entry.key, "object_uri": entry.object_uri, "version_id": head.get("VersionId") or "",
                     "etag": head["ETag"].strip('"'), "previous_state": entry.state})
        if len(batch) == 10:
            flush()
    flush()
    return Replayed(replay_id, started, sent, skipped)


def wait_for_outcomes(target: Target, uris: list[str], since: str, say: Callable[[str], None],
                      timeout: float = 600, poll: float = 0.5) -> dict[str, LedgerEntry]:
    """Wait until each object's ledger entry was updated after ``since`` to a final state; report each."""
    from lakehouse.ledger import Ledger

    from .lake import wait_for_outcomes as wait

    ledger = Ledger(target.client("dynamodb"), target.output("ObjectLedgerTableName"))
    return wait(ledger, uris, since, say, timeout=timeout, poll=poll,
                hint="see the function's logs (locally: the log file of `lakehouse up`)")


# ------------------------------------------------------------------------------------------------ redrive
def redrive(target: Target) -> dict[str, Any]:
    """Move the dead-letter queue's messages back to the landing queue. On AWS: StartMessageMoveTask (the task runs
    in SQS). Locally (moto 5.2.1 has no message move tasks): receive, send to the landing queue, delete, with the
    same effect."""
    sqs = target.client("sqs")
    dlq_arn = target.output("LandingDeadLetterQueueArn")
    depth = queue_depth(target, "LandingDeadLetterQueue")
    if not target.local:
        if depth["waiting"] == 0:
            return {"moved": 0, "task": None, "dead_letter_queue": dlq_arn, "objects": []}
        task = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=target.queue_arn("LandingQueue"))
        return {"moved": depth["waiting"], "task": task.get("TaskHandle"), "dead_letter_queue": dlq_arn,
                "objects": [],
                "note": "SQS moves the messages in the background: `aws sqs list-message-move-tasks "
                        f"--source-arn {dlq_arn}` follows it; `lakehouse status` shows the objects' states"}
    source, destination = target.queue_url("LandingDeadLetterQueue"), target.queue_url("LandingQueue")
    moved = 0
    bodies: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, VisibilityTimeout=60,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        sqs.send_message_batch(QueueUrl=destination, Entries=[
            {"Id": str(i), "MessageBody": m["Body"],
             **({"MessageAttributes": m["MessageAttributes"]} if m.get("MessageAttributes") else {})}
            for i, m in enumerate(messages)])
        sqs.delete_message_batch(QueueUrl=source, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        moved += len(messages)
        bodies += [m["Body"] for m in messages]
    return {"moved": moved, "task": None, "dead_letter_queue": dlq_arn, "objects": object_uris_of_messages(bodies)}


def object_uris_of_messages(bodies: list[str]) -> list[str]:
    """The landing objects named by S3 event messages (to wait for their outcomes)."""
    uris = []
    for body in bodies:
        try:
            detail = json.loads(body)["detail"]
            key = urllib.parse.unquote_plus(detail["object"]["key"])
            uris.append(f"s3://{detail['bucket']['name']}/{key}")
        except (ValueError, KeyError, TypeError):
            continue
    return uris


# ------------------------------------------------------------------------------------------------ upload
def upload(target: Target, paths: list[Path], prefix: str = "") -> list[dict[str, Any]]:
    """Upload files to the landing bucket: a folder's files under keys relative to it, a file under ``prefix``
    + its name. Returns key, object URI and version of each."""
    s3 = target.client("s3")
    bucket = target.output("LandingBucketName")
    files: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            files += [(p, prefix + p.relative_to(path).as_posix()) for p in sorted(path.rglob("*"))
                      if p.is_file() and not p.name.startswith(".")]
        elif path.is_file():
            files.append((path, prefix + path.name))
        else:
            raise OpsError(f"no such file or folder: {path}")
    out = []
    for path, key in files:
        with path.open("rb") as body:
            response = s3.put_object(Bucket=bucket, Key=key, Body=body)
        out.append({"key": key, "object_uri": f"s3://{bucket}/{key}", "version_id": response.get("VersionId", ""),
                    "bytes": path.stat().st_size})
    return out


# ------------------------------------------------------------------------------------------------ run
def start_run(target: Target, pipeline: str, *, from_step: str | None = None, full_refresh: bool = False,
              model: Lake | None = None, name: str | None = None) -> dict[str, Any]:
    """Start a named execution; returns its ARN, name and input."""
    if from_step and model is not None:
        steps = [s.name for s in model.pipeline(pipeline).steps]
        if from_step not in steps:
            raise OpsError(f"--from {from_step!r}: pipeline {pipeline} has the steps {', '.join(steps)}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
    name = name or f"{pipeline}-{stamp}"
    execution_input: dict[str, Any] = {"trigger": "lakehouse run", "full_refresh": full_refresh}
    if from_step:
        execution_input["from"] = from_step
    arn = target.client("stepfunctions").start_execution(
        stateMachineArn=target.state_machine(pipeline), name=name, input=json.dumps(execution_input))["executionArn"]
    return {"pipeline": pipeline, "name": name, "arn": arn, "input": execution_input}


def run_report(target: Target, model: Lake | None, pipeline: str, execution: dict[str, Any],
               glue_summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The report after an execution: status, failed state, each step's task (and the Glue job's summary when the
    run was local), the pipeline's tables with their rows."""
    from .lake import failed_state

    history = execution.get("history", [])
    steps = _steps_from_history(history)
    for name, summary in glue_summaries.items():
        steps.setdefault(name, {"state": None})["summary"] = summary
    tables = table_rows(target, model, pipeline) if model is not None else {}
    succeeded = execution["status"] == "SUCCEEDED"
    return {
        "pipeline": pipeline,
        "name": execution.get("name"),
        "arn": execution["executionArn"],
        "status": execution["status"],
        "failed_state": None if succeeded else failed_state(history, []),
        "error": execution.get("error"),
        "cause": _cause(execution.get("cause")),
        "steps": steps,
        "tables": tables,
    }


def _cause(cause: Any) -> Any:
    try:  # a failed Glue task's cause is the job run; its ErrorMessage is the script's error
        return json.loads(cause).get("ErrorMessage", cause)
    except (TypeError, ValueError, AttributeError):
        return cause


def _steps_from_history(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each Task state's outcome and duration, from the execution history."""
    from .lake import task_state_of

    steps: dict[str, dict[str, Any]] = {}
    entered: dict[int, tuple[str, Any]] = {}
    by_id = {e["id"]: e for e in history}
    for event in history:
        kind = event["type"]
        if kind == "TaskStateEntered":
            entered[event["id"]] = (event["stateEnteredEventDetails"]["name"], event["timestamp"])
        elif kind in ("TaskStateExited",):
            name = event["stateExitedEventDetails"]["name"]
            start = next((t for n, t in entered.values() if n == name), None)
            seconds = (event["timestamp"] - start).total_seconds() if start else None
            steps[name] = {"state": "SUCCEEDED", "seconds": round(seconds, 1) if seconds is not None else None}
        elif kind == "TaskFailed" and (failed := task_state_of(event, by_id)) is not None:
            steps[failed] = {"state": "FAILED", "seconds": None}
    for name, _ in entered.values():
        steps.setdefault(name, {"state": "RUNNING", "seconds": None})
    return steps


def table_rows(target: Target, model: Lake, pipeline: str) -> dict[str, dict[str, Any]]:
    """Rows of the pipeline's tables, from metadata only (tables.py: the same locally and on AWS)."""
    from .lake import ZONE_DATABASES
    from .lake import table_rows as rows_of
    from .tables import local_io, session_io

    io_settings = local_io(target.endpoint, target.region) if target.endpoint else session_io(target.session)
    tables = [(t.zone, t.name) for t in model.tables.values()
              if t.pipeline == pipeline and ZONE_DATABASES[t.zone] in target.outputs]
    return rows_of(target.client("glue"), target.client("s3"), target.outputs, io_settings, tables)
