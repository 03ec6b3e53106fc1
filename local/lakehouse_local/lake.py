"""The local lake: one harness that stands the stack up and drives it, for `lakehouse demo`, `up`, `run` and the tests.

Emulation only; the pieces are: server (moto in-process), stack (template.yaml -> resources), poller (Lambda's SQS
event source mapping -> the real ConvertFunction handler), glue_runner (job runs -> the real Glue job in local Spark,
against this stack's S3 and Glue catalog) and athena_runner (Athena queries -> the local query engine). The state
machines are the real ASL on moto's Step Functions interpreter.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

from .glue_runner import Executor, GlueEvent, GlueRunner
from .poller import InProcessInvoker, Poller, SamLocalInvoker
from .server import LocalAws, free_port
from .stack import REPO, Stack, create_stack

FUNCTION_TIMEOUT = timedelta(minutes=15)  # the template's Globals.Function.Timeout
ZONE_BUCKETS = {"raw": "RawBucketName", "trusted": "TrustedBucketName", "curated": "CuratedBucketName",
                "presentation": "PresentationBucketName"}
ZONE_DATABASES = {"raw": "RawDatabaseName", "trusted": "TrustedDatabaseName", "curated": "CuratedDatabaseName",
                  "presentation": "PresentationDatabaseName"}


def _no_output(text: str) -> None:
    return None


@dataclass
class LocalLake:
    """A running local stack: server, resources, Glue runner and the landing poller."""

    aws: LocalAws
    stack: Stack
    runner: GlueRunner
    poller: Poller
    say: Callable[[str], None] = _no_output  # progress lines
    glue_events: list[GlueEvent] = field(default_factory=list)

    @classmethod
    def start(cls, *, port: int | None = None, host: str = "0.0.0.0", work_dir: Path = REPO / ".lakehouse",
              docker: bool = False, say: Callable[[str], None] = _no_output,
              log: TextIO | None = None, executor: Executor | None = None,
              pipelines_dir: Path = REPO / "pipelines") -> LocalLake:
        """Start the server, create the stack and start the poller. ``log`` receives the function's log lines;
        ``executor`` replaces the Glue job's script (tests of the state machines alone)."""
        aws = LocalAws(port=port or free_port(), host=host).start()
        events: list[GlueEvent] = []

        def on_glue_event(event: GlueEvent) -> None:
            events.append(event)
            say(describe_glue_event(event))

        runner = GlueRunner(aws, work_dir, on_glue_event, executor=executor, pipelines_dir=pipelines_dir)
        runner.install()
        try:
            stack = create_stack(aws)
            function = stack.functions["ConvertFunction"]
            invoker: Any
            if docker:
                invoker = SamLocalInvoker(function, aws.docker_endpoint, work_dir)
            else:
                invoker = InProcessInvoker(function, aws.endpoint, log=log, pipelines_dir=pipelines_dir)
            poller = Poller(aws, stack, function, invoker, on_error=lambda exc: say(f"  poller: {exc}")).start()
        except BaseException:
            runner.uninstall()
            aws.stop()
            raise
        return cls(aws, stack, runner, poller, say, events)

    def stop(self) -> None:
        self.poller.stop()
        close = getattr(self.poller.invoke, "close", None)
        if close:
            close()
        self.runner.uninstall()
        self.aws.stop()

    # -------------------------------------------------------------------- landing
    @property
    def landing_bucket(self) -> str:
        return str(self.stack.outputs["LandingBucketName"])

    def upload(self, folder: Path) -> list[str]:
        """Upload every file under ``folder`` with key = its path relative to ``folder``."""
        s3 = self.aws.client("s3")
        keys = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
            key = path.relative_to(folder).as_posix()
            s3.upload_file(str(path), self.landing_bucket, key)
            keys.append(key)
        return keys

    def ledger(self) -> list[Any]:
        from lakehouse.ledger import Ledger

        return Ledger(self.aws.client("dynamodb"), str(self.stack.outputs["ObjectLedgerTableName"])).scan()

    def wait_for_objects(self, keys: list[str], timeout: float = 600) -> dict[str, Any]:
        """Report each object's final state as the ledger records it; return the entries once every key has one.

        Only final states are reported: ``converting`` (recorded before the work) and ``failed`` (SQS delivers the
        event again) are steps on the way, not outcomes.
        """
        from lakehouse.ledger import FINAL_STATES

        reported: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while True:
            entries = {e.key: e for e in self.ledger()}
            for key in keys:
                entry = entries.get(key)
                if entry is not None and entry.state in FINAL_STATES and reported.get(key) != entry.state:
                    reported[key] = entry.state
                    self.say(describe_object(entry))
            if all(k in reported for k in keys):
                return entries
            if time.monotonic() > deadline:
                missing = [k for k in keys if k not in reported]
                raise TimeoutError(f"no outcome after {timeout:.0f}s for {missing}: the function may have crashed; "
                                   "rerun with --verbose and see the log file")
            time.sleep(0.3)

    # -------------------------------------------------------------------- pipelines
    def state_machine_arn(self, pipeline: str) -> str:
        machines = self.stack.state_machines()
        if pipeline not in machines:
            raise LookupError(f"pipeline {pipeline!r} has no state machine in this stack (state machines: "
                              f"{sorted(machines)}); a pipeline needs steps in pipelines/{pipeline}/pipeline.yaml, "
                              "then `lakehouse generate`")
        return machines[pipeline]

    def start_execution(self, pipeline: str, execution_input: dict[str, Any] | None = None,
                        name: str | None = None) -> str:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")[:-3]
        return str(self.aws.client("stepfunctions").start_execution(
            stateMachineArn=self.state_machine_arn(pipeline), name=name or f"{pipeline}-{stamp}",
            input=json.dumps(execution_input or {"trigger": "lakehouse"}),
        )["executionArn"])

    def follow(self, execution_arn: str, timeout: float = 1800) -> dict[str, Any]:
        """Report each state as it is entered; return the execution (with its history) once it ends."""
        return follow_execution(self.aws.client("stepfunctions"), execution_arn, self.say, timeout)

    def run_pipeline(self, pipeline: str, execution_input: dict[str, Any] | None = None) -> dict[str, Any]:
        arn = self.start_execution(pipeline, execution_input)
        self.say(f"execution {arn}")
        return self.follow(arn)

    def alerts(self) -> list[dict[str, Any]]:
        """Drain the local alert queue (SNS -> SQS envelopes)."""
        return drain_alerts(self.aws.client("sqs"), self.stack.alerts_queue_url)

    # -------------------------------------------------------------------- tables
    def table_rows(self, tables: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """Rows of each (zone, table): raw tables from their Parquet footers, Iceberg tables from their current
        snapshot's summary (what a reader of the table sees)."""
        out: dict[str, dict[str, Any]] = {}
        for zone, name in tables:
            database = str(self.stack.outputs[ZONE_DATABASES[zone]])
            rows = self._raw_rows(name) if zone == "raw" else iceberg_rows(self.aws, database, name)
            out[name] = {"zone": zone, "database": database, "rows": rows}
        return out

    def _raw_rows(self, table: str) -> int:
        import pyarrow.parquet as pq

        s3 = self.aws.client("s3")
        bucket = str(self.stack.outputs[ZONE_BUCKETS["raw"]])
        rows = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{table}/"):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith(".parquet"):
                    body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                    rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
        return rows


def iceberg_rows(aws: LocalAws, database: str, table: str) -> int | None:
    """``total-records`` of the table's current snapshot (0 without one); None when the table does not exist."""
    glue, s3 = aws.client("glue"), aws.client("s3")
    try:
        location = glue.get_table(DatabaseName=database, Name=table)["Table"]["Parameters"]["metadata_location"]
    except (glue.exceptions.EntityNotFoundException, KeyError):
        return None
    bucket, _, key = location.removeprefix("s3://").partition("/")
    metadata = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    current = metadata.get("current-snapshot-id")
    for snapshot in metadata.get("snapshots", []):
        if snapshot["snapshot-id"] == current:
            return int(snapshot["summary"].get("total-records", 0))
    return 0


def follow_execution(sfn: Any, execution_arn: str, say: Callable[[str], None], timeout: float = 1800,
                     poll: float = 0.5) -> dict[str, Any]:
    seen = 0
    deadline = time.monotonic() + timeout
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        history = execution_history(sfn, execution_arn)
        for event in history[seen:]:
            if event["type"].endswith("StateEntered"):
                say(f"  state  {event['stateEnteredEventDetails']['name']}")
        seen = len(history)
        if execution["status"] != "RUNNING":
            execution["history"] = history
            return dict(execution)
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout}s")
        time.sleep(poll)


def execution_history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def drain_alerts(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    out = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return out
        for message in batch:
            envelope = json.loads(message["Body"])
            out.append({"subject": envelope.get("Subject"), "message": envelope.get("Message")})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def failed_state(history: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> str | None:
    """The state the failure came from: the alert's failed_state (computed by the ASL), else the state entered
    before the last TaskFailed event of the history."""
    for alert in alerts:
        try:
            message = json.loads(alert["message"])
        except (TypeError, ValueError):
            continue
        if isinstance(message, dict) and message.get("failed_state"):
            return str(message["failed_state"])
    by_id = {e["id"]: e for e in history}
    for event in reversed(history):
        if event["type"] == "TaskFailed":
            previous = by_id.get(event.get("previousEventId"))
            while previous is not None and previous["type"] != "TaskStateEntered":
                previous = by_id.get(previous.get("previousEventId"))
            if previous is not None:
                return str(previous["stateEnteredEventDetails"]["name"])
    return None


def describe_object(entry: Any) -> str:
    if entry.state == "converted":
        detail = f"{entry.rows_written} rows" + (f", {entry.rows_rejected} rows quarantined" if entry.rows_rejected
                                                 else "")
    else:
        detail = f"{entry.reason_code}: {entry.reason}" if entry.reason else entry.reason_code
    return f"  object {entry.state:<12} {entry.key}  ({detail})"


def describe_glue_event(event: GlueEvent) -> str:
    step = event.arguments.get("--step")
    summary = event.summary
    parts = []
    if summary.get("rows_written") is not None:
        parts.append(f"{summary['rows_written']} rows written")
    if summary.get("rows_read"):
        parts.append("read " + ", ".join(f"{t} {n}" for t, n in summary["rows_read"].items()))
    if summary.get("rows") is not None:
        parts.append(f"{summary['rows']} rows in the table")
    if summary.get("schema_changes"):
        parts.append("schema: " + "; ".join(summary["schema_changes"]))
    text = f"  glue   {step}: {event.state}" + (f" ({', '.join(parts)})" if parts else "")
    return text + (f" - {event.error}" if event.error else "")


def effective_states(entries: list[Any], now: datetime | None = None) -> dict[str, str]:
    """Each object's reported state (a ``converting`` entry past the function's time limit did not finish)."""
    now = now or datetime.now(timezone.utc)
    return {e.key: e.effective_state(now, FUNCTION_TIMEOUT) for e in entries}


def say_to(out: TextIO | None) -> Callable[[str], None]:
    stream = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    return say
