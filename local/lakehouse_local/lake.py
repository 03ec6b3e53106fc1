"""The local lake: one harness that stands the stack up and drives it, for `lakehouse demo`, `up`, `run` and the tests.

Emulation only; the pieces are: server (moto in-process), stack (template.yaml -> resources), poller (Lambda's SQS
event source mapping -> the real ConvertFunction handler), glue_runner (job runs -> the real Glue job in local Spark,
against this stack's S3 and Glue catalog) and athena_runner (Athena queries -> the local query engine). The state
machines are the real ASL on moto's Step Functions interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TextIO

from .athena_runner import AthenaEvent, AthenaRunner
from .glue_runner import Executor, GlueEvent, GlueRunner
from .home import home
from .poller import InProcessInvoker, Poller, SamLocalInvoker
from .server import ACCOUNT_ID, LocalAws, free_port
from .stack import DEPLOY_BUCKET, REPO, TEMPLATE, Stack, create_stack
from .state import Restored, StateStore

FUNCTION_TIMEOUT = timedelta(minutes=15)  # the template's Globals.Function.Timeout
ZONE_BUCKETS = {"raw": "RawBucketName", "trusted": "TrustedBucketName", "curated": "CuratedBucketName",
                "presentation": "PresentationBucketName"}
ZONE_DATABASES = {"raw": "RawDatabaseName", "trusted": "TrustedDatabaseName", "curated": "CuratedDatabaseName",
                  "presentation": "PresentationDatabaseName"}


def _no_output(text: str) -> None:
    return None


Persistence = Literal["off", "read", "write"]


class LakeBusy(RuntimeError):
    """Another process runs the saved local lake (`lakehouse up`, `demo`, or a command that changes the lake)."""


@dataclass
class LocalLake:
    """A running local stack: server, resources, Glue runner and the landing poller.

    With ``persistence`` "read" or "write" the lake is restored from ``<work_dir>/state`` after the stack is created
    (see state.py); "write" also saves it at :meth:`stop` (and whenever :meth:`save` is called) and holds
    ``<work_dir>/lake.lock``, so only one process at a time runs the lake that is kept.
    """

    aws: LocalAws
    stack: Stack
    runner: GlueRunner
    poller: Poller | None
    say: Callable[[str], None] = _no_output  # progress lines
    glue_events: list[GlueEvent] = field(default_factory=list)
    state: StateStore | None = None  # set when this lake is saved (persistence "write")
    restored: Restored | None = None
    alert_history: list[dict[str, Any]] = field(default_factory=list)  # drained alerts not yet saved
    _lock: TextIO | None = field(default=None, repr=False)
    _autosave: threading.Event | None = field(default=None, repr=False)
    athena: AthenaRunner | None = None  # Athena queries run on the local query engine

    @classmethod
    def start(cls, *, port: int | None = None, host: str = "0.0.0.0", work_dir: Path | None = None,
              docker: bool = False, say: Callable[[str], None] = _no_output,
              log: TextIO | None = None, executor: Executor | None = None,
              pipelines_dir: Path = REPO / "pipelines", persistence: Persistence = "off", fresh: bool = False,
              poll: bool = True) -> LocalLake:
        """Start the server, create the stack and start the poller. ``log`` receives the function's log lines;
        ``executor`` replaces the Glue job's script (tests of the state machines alone); ``poll=False`` leaves
        the landing queue alone (read-only commands); ``fresh`` starts empty and replaces the saved lake at stop."""
        work_dir = work_dir or home()
        lock = hold_lake_lock(work_dir) if persistence == "write" else None
        store = StateStore(work_dir / "state")
        if fresh and persistence == "write":
            store.clear()
        aws = LocalAws(port=port or free_port(), host=host).start()
        events: list[GlueEvent] = []

        def on_glue_event(event: GlueEvent) -> None:
            events.append(event)
            say(describe_glue_event(event))

        def on_athena_event(event: AthenaEvent) -> None:
            say(describe_athena_event(event))

        runner = GlueRunner(aws, work_dir, on_glue_event, executor=executor, pipelines_dir=pipelines_dir)
        runner.install()
        poller = None
        athena = None
        try:
            stack = create_stack(aws, template_path=stack_template(aws, pipelines_dir, work_dir))
            athena = AthenaRunner(aws, {zone: str(stack.outputs[key]) for zone, key in ZONE_DATABASES.items()},
                                  on_athena_event)
            athena.install()
            restored = store.restore(stack) if persistence != "off" and not fresh else None
            if poll:
                function = stack.functions["ConvertFunction"]
                invoker: Any
                if docker:
                    invoker = SamLocalInvoker(function, aws.docker_endpoint, work_dir)
                else:
                    invoker = RedeployOnChange(
                        InProcessInvoker(function, aws.endpoint, log=log, pipelines_dir=pipelines_dir),
                        pipelines_dir)
                poller = Poller(aws, stack, function, invoker, on_error=lambda exc: say(f"  poller: {exc}")).start()
        except BaseException:
            if poller is not None:
                poller.stop()
            if athena is not None:
                athena.uninstall()
            runner.uninstall()
            aws.stop()
            if lock is not None:
                lock.close()
            raise
        return cls(aws, stack, runner, poller, say, events, state=store if persistence == "write" else None,
                   restored=restored, _lock=lock, athena=athena)

    def save(self) -> None:
        """Write the lake to ``.lakehouse/state`` (a no-op unless the lake is kept)."""
        if self.state is not None:
            self.state.save(self)

    def autosave(self, every: float = 2.0, busy_limit: float = 30.0) -> None:
        """Save in the background whenever the lake changed (objects converted, job runs, executions), once the
        poller is idle, or after ``busy_limit`` seconds of continuous work (`lakehouse up`)."""
        if self.state is None or self._autosave is not None:
            return
        stopped = self._autosave = threading.Event()

        from botocore.exceptions import BotoCoreError, ClientError

        def loop() -> None:
            saved = self._fingerprint()
            changed_at: float | None = None
            while not stopped.wait(every):
                try:
                    now = self._fingerprint()
                    if now == saved:
                        changed_at = None
                        continue
                    changed_at = changed_at or time.monotonic()
                    busy = self.poller is not None and self.poller.busy.is_set()
                    if busy and time.monotonic() - changed_at < busy_limit:
                        continue
                    self.save()
                    saved, changed_at = now, None
                except (OSError, ValueError, RuntimeError, BotoCoreError, ClientError) as exc:  # try again later
                    self.say(f"  could not save the lake: {exc}")

        threading.Thread(target=loop, name="local-autosave", daemon=True).start()

    def _fingerprint(self) -> tuple[Any, ...]:
        """Changes worth a save: conversions (poller invocations), job runs, execution states, stored objects."""
        sfn = self.aws.client("stepfunctions")
        executions = tuple(
            (e["executionArn"], e["status"])
            for arn in self.stack.state_machines().values()
            for e in sfn.list_executions(stateMachineArn=arn)["executions"]
        )
        return (self.poller.invocations if self.poller else 0, len(self.glue_events), executions,
                object_versions(self.stack))

    def stop(self) -> None:
        """Stop the poller, save the lake when it is kept, then stop the server."""
        if self._autosave is not None:
            self._autosave.set()
        try:
            if self.poller is not None:
                self.poller.stop()
                close = getattr(self.poller.invoke, "close", None)
                if close:
                    close()
            self.save()
        finally:
            if self.athena is not None:
                self.athena.uninstall()
            self.runner.uninstall()
            self.aws.stop()
            if self._lock is not None:
                self._lock.close()

    # -------------------------------------------------------------------- landing
    @property
    def settle_seconds(self) -> int:
        return int(self.stack.parameters.get("IncrementalSettleSeconds", 0))

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

    def wait_for_objects(self, keys: list[str], since: str, timeout: float = 600) -> dict[str, Any]:
        """Report each object's outcome recorded at or after ``since`` (taken before the upload: a kept lake holds
        the outcomes of earlier uploads of the same keys); return the entries by key once every key has one."""
        from lakehouse.ledger import Ledger

        ledger = Ledger(self.aws.client("dynamodb"), str(self.stack.outputs["ObjectLedgerTableName"]))
        uris = {f"s3://{self.landing_bucket}/{key}": key for key in keys}
        done = wait_for_outcomes(ledger, list(uris), since, self.say, timeout=timeout, poll=0.3,
                                 hint="the function may have crashed; rerun with --verbose and see the log file")
        if any(entry.state == "converted" for entry in done.values()):
            # Incremental steps leave raw files younger than IncrementalSettleSeconds to their next run (S3 times
            # are whole seconds): wait that out, so a pipeline started next reads these files.
            time.sleep(self.settle_seconds + 1)
        return {uris[uri]: entry for uri, entry in done.items()}

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
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]
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
        """Drain the local alert queue (SNS -> SQS envelopes); a kept lake keeps them in its saved alerts."""
        drained = drain_alerts(self.aws.client("sqs"), self.stack.alerts_queue_url)
        self.alert_history += drained
        return drained

    # -------------------------------------------------------------------- tables
    def table_rows(self, tables: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
        """Rows of each (zone, table), from metadata only (see tables.py)."""
        from .tables import local_io

        return table_rows(self.aws.client("glue"), self.aws.client("s3"), self.stack.outputs,
                          local_io(self.aws.endpoint, self.aws.region), tables)


def table_rows(glue: Any, s3: Any, outputs: dict[str, Any], io_settings: dict[str, str],
               tables: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Rows of each (zone, table) of a stack with these outputs, from metadata only (tables.py: the same locally
    and on AWS)."""
    from .tables import iceberg_rows, raw_rows

    out: dict[str, dict[str, Any]] = {}
    for zone, name in tables:
        database = str(outputs[ZONE_DATABASES[zone]])
        if zone == "raw":
            rows: int | None = raw_rows(s3, str(outputs[ZONE_BUCKETS["raw"]]), name)
        else:
            rows = iceberg_rows(glue, database, name, io_settings)
        out[name] = {"zone": zone, "database": database, "rows": rows}
    return out


# ------------------------------------------------------------------------------------------------ the stack's parts
def hold_lake_lock(work_dir: Path) -> TextIO:
    """``lake.lock``, held while this process runs the kept lake; raises LakeBusy naming the holder."""
    work_dir.mkdir(parents=True, exist_ok=True)
    handle = (work_dir / "lake.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise LakeBusy(f"the local lake in {work_dir} is in use by {holder}; stop it (`lakehouse down` for "
                       "`lakehouse up`) or wait for it to finish") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} ({' '.join(sys.argv[:2]) or 'python'})\n")
    handle.flush()
    return handle


def stack_template(aws: LocalAws, pipelines_dir: Path, work_dir: Path) -> Path:
    """The template to create: template.yaml itself for this checkout's pipelines/ (kept fresh by `lakehouse
    generate`), else one generated from ``pipelines_dir`` (a copy in a test, a user's folder) into
    ``<work_dir>/build/``, with its state machine definitions already in the deployment bucket, as `sam package`
    leaves them (the rest of the template's paths still name this checkout's code)."""
    if pipelines_dir.resolve() == (REPO / "pipelines").resolve():
        return TEMPLATE
    from lakehouse.pipeline import Lake
    from lakehouse.stackgen import generate

    generated = generate(Lake.load(pipelines_dir), REPO).files
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=DEPLOY_BUCKET)  # the stack's own `sam package` creates it again: us-east-1 allows that
    for path, text in generated.items():
        if path.suffix == ".json":
            s3.put_object(Bucket=DEPLOY_BUCKET, Key=f"build/statemachines/{path.name}", Body=text.encode("utf-8"))
    template = re.sub(r"DefinitionUri: statemachines/(\S+)",
                      rf"DefinitionUri: {{Bucket: {DEPLOY_BUCKET}, Key: build/statemachines/\1}}",
                      generated[REPO / "template.yaml"])
    path = work_dir / "build" / "template.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template, encoding="utf-8")
    return path


class RedeployOnChange:
    """The in-process function, redeployed when a contract changes: in the cloud a contract fix reaches the
    function through `sam deploy` (a new PipelinesLayer, new containers); locally the working tree is the
    deployment, so the next invocation after a change under ``<pipelines>/*/contracts/`` is a cold start."""

    def __init__(self, invoker: InProcessInvoker, pipelines_dir: Path) -> None:
        self.invoker = invoker
        self.pipelines_dir = pipelines_dir
        self.version = contracts_version(pipelines_dir)

    def __call__(self, event: dict[str, Any]) -> dict[str, Any] | None:
        version = contracts_version(self.pipelines_dir)
        if version != self.version:
            self.invoker.reload()
            self.version = version
        return self.invoker(event)

    def reload(self) -> None:
        """Redeploy now (a caller that changed something else the function reads)."""
        self.invoker.reload()
        self.version = contracts_version(self.pipelines_dir)

    def close(self) -> None:
        self.invoker.close()


def contracts_version(pipelines_dir: Path) -> str:
    """Changes whenever a contract file is added, removed or edited."""
    digest = hashlib.sha256()
    for path in sorted(pipelines_dir.glob("*/contracts/*")):
        stat = path.stat()
        digest.update(f"{path}:{stat.st_mtime_ns}:{stat.st_size}\n".encode())
    return digest.hexdigest()


def object_versions(stack: Stack) -> int:
    """A hash of the current version of every object in the stack's buckets (read from moto's model: no request)."""
    from moto.s3.models import s3_backends

    backend = s3_backends[ACCOUNT_ID]["aws"]
    versions = []
    for name in stack.of_type("AWS::S3::Bucket").values():
        bucket = backend.get_bucket(str(name))
        for key in list(bucket.keys.keys()):
            current = bucket.keys.getlist(key, [])
            versions.append((str(name), key, getattr(current[-1], "version_id", None) if current else None))
    return hash(tuple(versions))


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
    out: list[dict[str, Any]] = []
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
        if event["type"] == "TaskFailed" and (name := task_state_of(event, by_id)) is not None:
            return name
    return None


def task_state_of(event: dict[str, Any], by_id: dict[int, dict[str, Any]]) -> str | None:
    """The Task state a task event (TaskFailed, ...) belongs to: the TaskStateEntered before it."""
    previous = by_id.get(event.get("previousEventId", -1))
    while previous is not None and previous["type"] != "TaskStateEntered":
        previous = by_id.get(previous.get("previousEventId", -1))
    return None if previous is None else str(previous["stateEnteredEventDetails"]["name"])


def wait_for_outcomes(ledger: Any, uris: list[str], since: str, say: Callable[[str], None], *, timeout: float,
                      poll: float, hint: str) -> dict[str, Any]:
    """Wait until each object's ledger entry was updated at or after ``since`` to a final state, printing each
    outcome as it comes; return the entries by object URI.

    Only final states count: ``converting`` (recorded before the work) and ``failed`` (SQS delivers the event
    again) are steps on the way. One consistent read per object still pending and poll, not a scan of the ledger.
    """
    from lakehouse.ledger import FINAL_STATES

    pending = list(dict.fromkeys(uris))
    done: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while pending:
        for uri in list(pending):
            entry = ledger.get(uri)
            if entry is not None and entry.updated_at >= since and entry.state in FINAL_STATES:
                pending.remove(uri)
                done[uri] = entry
                say(describe_object(entry))
        if not pending:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"no new outcome after {timeout:.0f}s for {pending}: {hint}")
        time.sleep(poll)
    return done


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


def describe_athena_event(event: AthenaEvent) -> str:
    parts = [event.statement] if event.statement else []
    if event.rows is not None:
        parts.append(f"{event.rows} rows in the table")
    text = f"  athena {event.table or '?'}: {event.state}" + (f" ({', '.join(parts)})" if parts else "")
    return text + (f" - {event.error}" if event.error else "")


def effective_states(entries: list[Any], now: datetime | None = None) -> dict[str, str]:
    """Each object's reported state (a ``converting`` entry past the function's time limit did not finish)."""
    now = now or datetime.now(UTC)
    return {e.key: e.effective_state(now, FUNCTION_TIMEOUT) for e in entries}


def say_to(out: TextIO | None) -> Callable[[str], None]:
    stream = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=stream, flush=True)

    return say
