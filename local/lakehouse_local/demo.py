"""`lakehouse demo` and `lakehouse up`: the whole lake on this machine, on the local AWS.

Emulation only; the pieces are: server (moto in-process), stack (template.yaml → resources), poller (Lambda's SQS
event source mapping → the real ConvertFunction handler), glue_runner (job runs → the real Glue script in local Spark;
crawls → catalog tables). The state machine is the real ASL on moto's Step Functions interpreter.

The demo uploads landing files, waits until the object ledger has an outcome for each, runs the pipeline's state
machine, follows it, and reports tables (rows counted from the Parquet in the zone buckets), objects (from the
ledger), alerts (from an SQS queue subscribed to the alert topic) and the execution's status.
"""

from __future__ import annotations

import io
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from .glue_runner import GlueEvent, GlueRunner
from .poller import InProcessInvoker, Poller, SamLocalInvoker
from .server import LocalAws, free_port
from .stack import REPO, Stack, create_stack

FINAL_STATES = {"converted", "quarantined", "ignored", "dead_lettered"}
ZONE_OUTPUTS = {"raw": ("RawBucketName", "RawDatabaseName"), "trusted": ("TrustedBucket", "TrustedDatabaseName"),
                "curated": ("CuratedBucket", "CuratedDatabaseName")}


# ------------------------------------------------------------------------------------------------ the local lake
@dataclass
class LocalLake:
    """A running local stack: server, resources, Glue runner and the landing poller."""

    aws: LocalAws
    stack: Stack
    runner: GlueRunner
    poller: Poller
    out: TextIO | None = None
    glue_events: list[GlueEvent] = field(default_factory=list)

    @classmethod
    def start(cls, *, port: int | None = None, host: str = "0.0.0.0", work_dir: Path = REPO / ".lakehouse",
              docker: bool = False, out: TextIO | None = None, verbose: bool = False) -> "LocalLake":
        out = out or sys.stdout
        aws = LocalAws(port=port or free_port(), host=host).start()
        events: list[GlueEvent] = []

        def on_glue_event(event: GlueEvent) -> None:
            events.append(event)
            print(_describe_glue_event(event), file=out, flush=True)

        runner = GlueRunner(aws, work_dir, on_glue_event)
        runner.install()
        try:
            stack = create_stack(aws)
            function = stack.functions["ConvertFunction"]
            if docker:
                invoker: Any = SamLocalInvoker(function, aws.docker_endpoint, work_dir)
            else:
                invoker = InProcessInvoker(function, aws.endpoint, log_level="INFO" if verbose else "WARNING")
            poller = Poller(aws, stack, function, invoker).start()
        except BaseException:
            runner.uninstall()
            aws.stop()
            raise
        return cls(aws, stack, runner, poller, out, events)

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

    def wait_for_objects(self, keys: list[str], timeout: float = 600) -> list[Any]:
        """Print each object's outcome as the ledger records it; return when every key has a final state (or the
        queue is drained and the poller idle, e.g. for keys no rule routes)."""
        reported: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        sqs = self.aws.client("sqs")
        idle_since: float | None = None
        while True:
            entries = {e.key: e for e in self.ledger()}
            for key in keys:
                entry = entries.get(key)
                if entry is not None and reported.get(key) != entry.state:
                    reported[key] = entry.state
                    print(_describe_object(entry), file=self.out, flush=True)
            if all(reported.get(k) in FINAL_STATES for k in keys):
                return list(entries.values())
            attributes = sqs.get_queue_attributes(QueueUrl=self.poller.queue_url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            queued = sum(int(v) for v in attributes.values())
            if queued == 0 and not self.poller.busy.is_set():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since > 3:
                    return list(entries.values())
            else:
                idle_since = None
            if time.monotonic() > deadline:
                raise TimeoutError(f"landing objects without an outcome after {timeout}s: "
                                   f"{[k for k in keys if reported.get(k) not in FINAL_STATES]}")
            time.sleep(0.3)

    # -------------------------------------------------------------------- pipeline
    def run_pipeline(self, pipeline: str, execution_input: dict[str, Any] | None = None,
                     timeout: float = 1800) -> dict[str, Any]:
        sfn = self.aws.client("stepfunctions")
        arn = self.stack.state_machines()[pipeline]
        execution_arn = sfn.start_execution(
            stateMachineArn=arn, name=f"{pipeline}-{time.strftime('%Y%m%dT%H%M%S')}-{int(time.time() * 1000) % 1000}",
            input=json.dumps(execution_input or {"trigger": "lakehouse demo"}),
        )["executionArn"]
        print(f"execution {execution_arn}", file=self.out, flush=True)
        seen = 0
        deadline = time.monotonic() + timeout
        while True:
            execution = sfn.describe_execution(executionArn=execution_arn)
            history = self.history(execution_arn)
            for event in history[seen:]:
                if event["type"].endswith("StateEntered"):
                    print(f"  state  {event['stateEnteredEventDetails']['name']}", file=self.out, flush=True)
            seen = len(history)
            if execution["status"] != "RUNNING":
                execution["history"] = history
                return execution
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {execution_arn} still RUNNING after {timeout}s")
            time.sleep(0.5)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = self.aws.client("stepfunctions")
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                return events
            kwargs["nextToken"] = page["nextToken"]

    def alerts(self) -> list[dict[str, Any]]:
        """Drain the local alert queue (SNS → SQS envelopes)."""
        sqs = self.aws.client("sqs")
        out = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.stack.alerts_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return out
            for message in batch:
                envelope = json.loads(message["Body"])
                out.append({"subject": envelope.get("Subject"), "message": envelope.get("Message")})
                sqs.delete_message(QueueUrl=self.stack.alerts_queue_url, ReceiptHandle=message["ReceiptHandle"])

    # -------------------------------------------------------------------- report
    def table_rows(self, pipeline: str) -> dict[str, dict[str, Any]]:
        """Every table of the pipeline (raw contracts, then steps) with its zone, database and the rows of the
        Parquet files under s3://<zone bucket>/<table>/."""
        import pyarrow.parquet as pq

        sys.path.insert(0, str(REPO / "glue"))
        from pipeline_step import load_pipeline  # noqa: PLC0415 - the Glue script is also the pipeline loader

        definition = load_pipeline(REPO / "pipelines", pipeline)
        tables = [(t, "raw") for t in definition.raw_tables] + [(s.name, s.zone) for s in definition.steps]
        s3 = self.aws.client("s3")
        out: dict[str, dict[str, Any]] = {}
        for table, zone in tables:
            bucket_key, database_key = ZONE_OUTPUTS[zone]
            bucket = self.stack.outputs.get(bucket_key) or self.stack.refs[bucket_key]
            rows, files = 0, 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{table}/"):
                for obj in page.get("Contents", []):
                    if obj["Key"].endswith(".parquet"):
                        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                        rows += pq.ParquetFile(io.BytesIO(body)).metadata.num_rows
                        files += 1
            out[table] = {"zone": zone, "database": self.stack.outputs[database_key], "rows": rows, "files": files}
        return out


def _describe_object(entry: Any) -> str:
    detail = f"{entry.rows_written} rows" if entry.state == "converted" else (entry.reason or entry.reason_code)
    return f"  object {entry.state:<12} {entry.key}  ({detail})"


def _describe_glue_event(event: GlueEvent) -> str:
    if event.kind == "crawl":
        tables = ", ".join(sorted(event.summary.get("tables", {})))
        text = f"  crawl  {event.name}: {event.state} -> {event.summary.get('database')}: {tables}"
    else:
        step, action = event.arguments.get("--step"), event.arguments.get("--action", "run")
        rows = event.summary.get("rows")
        text = f"  glue   {step} ({action}): {event.state}" + (f", {rows} rows" if rows is not None else "")
    return text + (f" - {event.error}" if event.error else "")


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


def run_demo(pipeline: str, *, landing: Path | None = None, json_path: Path | None = None, docker: bool = False,
             port: int | None = None, out: TextIO | None = None, verbose: bool = False) -> dict[str, Any]:
    """The demo end to end; returns the report (the --json shape)."""
    out = out or sys.stdout
    folder = landing or REPO / "pipelines" / pipeline / "samples"
    if not folder.is_dir():
        raise FileNotFoundError(f"no landing folder {folder}")
    started = time.monotonic()
    print(f"lakehouse demo: pipeline {pipeline}, landing files from {folder}", file=out, flush=True)
    lake = LocalLake.start(port=port, docker=docker, out=out, verbose=verbose)
    try:
        print(f"local AWS at {lake.aws.endpoint}; stack {lake.stack.name} created "
              f"({len(lake.stack.refs)} resources) in {time.monotonic() - started:.1f}s", file=out, flush=True)
        keys = lake.upload(folder)
        print(f"uploaded {len(keys)} files to s3://{lake.landing_bucket}/", file=out, flush=True)
        lake.wait_for_objects(keys)
        execution = lake.run_pipeline(pipeline)
        alerts = lake.alerts()
        entries = {e.key: e for e in lake.ledger()}
        report = {
            "pipeline": pipeline,
            "execution": {
                "arn": execution["executionArn"],
                "status": execution["status"],
                "failed_state": failed_state(execution["history"], alerts) if execution["status"] != "SUCCEEDED"
                else None,
                "error": execution.get("error"),
                "cause": execution.get("cause"),
            },
            "tables": lake.table_rows(pipeline),
            "objects": [
                {"key": key, "status": entries[key].state if key in entries else "pending",
                 "rows": entries[key].rows_written if key in entries else 0,
                 "reason": (entries[key].reason or entries[key].reason_code or None) if key in entries else None}
                for key in keys
            ],
            "alerts": alerts,
            "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        lake.stop()
    print_report(report, out)
    if json_path:
        json_path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    return report


def print_report(report: dict[str, Any], out: TextIO) -> None:
    w = lambda text="": print(text, file=out)  # noqa: E731
    w()
    w(f"== report: pipeline {report['pipeline']} ({report['seconds']}s)")
    for zone in ("raw", "trusted", "curated"):
        for name, table in report["tables"].items():
            if table["zone"] == zone:
                w(f"  {zone:<8} {table['database']}.{name:<28} {table['rows']:>8} rows")
    quarantined = [o for o in report["objects"] if o["status"] != "converted"]
    w(f"  objects: {len(report['objects'])} landed, {len(report['objects']) - len(quarantined)} converted")
    for o in quarantined:
        w(f"    {o['status']}: {o['key']} - {o['reason']}")
    w(f"  alerts: {len(report['alerts'])}")
    for alert in report["alerts"]:
        w(f"    {alert['subject']}")
    execution = report["execution"]
    w(f"  execution: {execution['status']}")
    if execution["status"] != "SUCCEEDED":
        w(f"    failed state: {execution['failed_state']}")
        w(f"    error: {execution['error']}")
        cause = execution["cause"]
        try:  # a failed Glue task's cause is the job run; its ErrorMessage is the script's error
            cause = json.loads(cause).get("ErrorMessage", cause)
        except (TypeError, ValueError, AttributeError):
            pass
        w(f"    cause: {cause}")
    out.flush()


def serve(*, port: int, host: str = "0.0.0.0", docker: bool = False, out: TextIO | None = None,
          ready: Callable[[LocalLake], None] | None = None, stop: threading.Event | None = None) -> None:
    """`lakehouse up`: keep the local stack running until ``stop`` is set (SIGINT/SIGTERM in the command)."""
    from .poller import write_env_vars_file

    out = out or sys.stdout
    lake = LocalLake.start(port=port, host=host, docker=docker, out=out)
    stop = stop or threading.Event()
    try:
        env_file = write_env_vars_file(lake.stack.functions["ConvertFunction"], lake.aws.docker_endpoint,
                                       REPO / ".lakehouse" / "env-vars.json")
        write_sample_event(lake, REPO / ".lakehouse" / "events" / "s3-object-created.json")
        print_endpoint(lake, env_file, out)
        if ready:
            ready(lake)
        stop.wait()
    finally:
        print("stopping the local stack", file=out, flush=True)
        lake.stop()


SAMPLE_KEY = "stedi/customer/customers-1.json"


def write_sample_event(lake: LocalLake, path: Path) -> Path:
    """events/s3-object-created.json (the official EventBridge shape) pointed at the local landing bucket and the
    sample file the printed `aws s3 cp` command uploads (no version id: the local upload's is not known yet)."""
    import hashlib

    event = json.loads((REPO / "events" / "s3-object-created.json").read_text(encoding="utf-8"))
    sample = REPO / "pipelines" / "stedi" / "samples" / SAMPLE_KEY
    event["detail"]["bucket"]["name"] = lake.landing_bucket
    event["resources"] = [f"arn:aws:s3:::{lake.landing_bucket}"]
    event["detail"]["object"].update(key=SAMPLE_KEY, size=sample.stat().st_size,
                                     etag=hashlib.md5(sample.read_bytes()).hexdigest())  # noqa: S324 - S3 ETag
    event["detail"]["object"].pop("version-id", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, indent=2), encoding="utf-8")
    return path


def print_endpoint(lake: LocalLake, env_file: Path, out: TextIO) -> None:
    o = lake.stack.outputs
    endpoint = lake.aws.endpoint
    lines = [
        f"local AWS: {endpoint} (containers: {lake.aws.docker_endpoint}); credentials: any, region us-east-1",
        "buckets:",
        *[f"  {key:<24} {o[key]}" for key in ("LandingBucketName", "RawBucketName", "QuarantineBucketName",
                                               "ArtifactsBucketName") if key in o],
        *[f"  {zone + ' bucket':<24} {lake.stack.refs[ZONE_OUTPUTS[zone][0]]}" for zone in ("trusted", "curated")],
        "state machines:",
        *[f"  {name:<24} {arn}" for name, arn in lake.stack.state_machines().items()],
        "",
        "drop a file (the poller converts it within seconds):",
        f"  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 \\",
        f"  aws --endpoint-url {endpoint} s3 cp pipelines/stedi/samples/{SAMPLE_KEY} \\",
        f"      s3://{o['LandingBucketName']}/{SAMPLE_KEY}",
        "run a pipeline:",
        f"  aws --endpoint-url {endpoint} stepfunctions start-execution \\",
        f"      --state-machine-arn {o.get('StediStateMachineArn')} --input file://events/statemachine-stedi.json",
        "one function in Docker against this stack (after `sam build`; the container reaches the host at the docker0"
        " gateway):",
        f"  sam local invoke ConvertFunction --skip-pull-image --region us-east-1 \\",
        f"      -e .lakehouse/events/s3-object-created.json --env-vars {env_file.relative_to(REPO)}",
        "Ctrl-C stops the stack.",
    ]
    print("\n".join(lines), file=out, flush=True)
