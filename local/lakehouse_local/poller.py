"""Lambda's SQS event source mapping, locally: receive from the queue, invoke the function, delete what succeeded.

Emulation only. For each ``AWS::Lambda::EventSourceMapping`` of a function (from the translated template) the poller
receives up to ``BatchSize`` messages (long poll), builds the event Lambda would send (``{"Records": [...]}`` in the
SQS record shape), invokes the function, and with ``ReportBatchItemFailures`` deletes every message except those in
the response's ``batchItemFailures`` (all of them when the invocation raised). Failed messages come back after their
visibility timeout; the queue's redrive policy moves them to the dead-letter queue after ``maxReceiveCount``
receives — both done by moto's SQS. Deviation: the template's visibility timeout (90 min, for 15-minute functions)
would hold a failed record for the whole demo, so the poller sets a failed message's visibility to
``retry_seconds`` (default 2 s), as if the function's timeout were short.

The function runs in this process (``InProcessInvoker``: the real handler module, with the environment the template
declares, resolved to the local names) or through ``sam local invoke`` in Docker (``SamLocalInvoker``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from .server import REGION, LocalAws
from .stack import REPO, Function, Stack


class Invoker(Protocol):
    def __call__(self, event: dict[str, Any]) -> dict[str, Any] | None: ...


def normalise_s3_event(body: str) -> str:
    """moto's S3 → EventBridge event differs from AWS's in two details: it says ``eTag`` where AWS says ``etag``,
    and it puts the raw key where AWS puts the URL-encoded key (``a b.csv`` → ``a+b.csv``). Powertools (and the
    handler) read the official shape, so the poller restores it before invoking, as the real service would have
    delivered it."""
    try:
        event = json.loads(body)
    except ValueError:
        return body
    obj = event.get("detail", {}).get("object") if isinstance(event, dict) else None
    if not isinstance(obj, dict) or event.get("source") != "aws.s3":
        return body
    if "eTag" in obj:
        obj["etag"] = obj.pop("eTag")
        obj["key"] = urllib.parse.quote_plus(obj["key"], safe="/")
    return json.dumps(event)


@dataclass
class LambdaContext:
    """The parts of Lambda's context object the handler and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 900
    aws_request_id: str = ""
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self.aws_request_id = self.aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def function_environment(function: Function, endpoint: str, *, in_process: bool,
                         pipelines_dir: Path = REPO / "pipelines") -> dict[str, str]:
    """The environment the template declares for ``function``, with the local endpoint. In-process runs also point
    LAKEHOUSE_PIPELINES_DIR at the repo's pipelines/ (what the PipelinesLayer mounts at /opt in Lambda) and turn off
    X-Ray (no daemon locally) and EMF metrics output."""
    env = dict(function.environment)
    env["AWS_ENDPOINT_URL"] = endpoint
    if in_process:
        env["LAKEHOUSE_PIPELINES_DIR"] = str(pipelines_dir)
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
        env["POWERTOOLS_METRICS_DISABLED"] = "true"
        env["LAKEHOUSE_WORK_DIR"] = os.environ.get("TMPDIR", "/tmp")
    return env


class InProcessInvoker:
    """Calls the function's handler in this process, as one warm Lambda container would."""

    def __init__(self, function: Function, endpoint: str, *, log: TextIO | None = None,
                 pipelines_dir: Path = REPO / "pipelines") -> None:
        env = function_environment(function, endpoint, in_process=True, pipelines_dir=pipelines_dir)
        # The handler's JSON log lines go to ``log`` (the command's log file), never among the progress lines.
        env["POWERTOOLS_LOG_LEVEL"] = "INFO" if log is not None else "ERROR"
        self._saved_env = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        module_name, _, attribute = function.handler.rpartition(".")
        if str(function.code_dir) not in sys.path:
            sys.path.insert(0, str(function.code_dir))
        import importlib

        module = importlib.import_module(module_name)
        if hasattr(module, "runtime") and hasattr(module.runtime, "cache_clear"):
            module.runtime.cache_clear()  # a new local stack: rebuild clients and settings ("cold start")
        if hasattr(module, "logger"):  # the module may be imported already, with an earlier stack's settings
            module.logger.setLevel(env["POWERTOOLS_LOG_LEVEL"])
            # the stream, not setStream(): an earlier command's log file may be closed, and setStream flushes it
            handler = module.logger.registered_handler
            handler.acquire()
            try:
                handler.stream = log if log is not None else sys.stderr
            finally:
                handler.release()
        self.handler: Callable[..., Any] = getattr(module, attribute)
        self.function = function
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any] | None:
        with self._lock:
            return self.handler(event, LambdaContext(self.function.name))

    def reload(self) -> None:
        """A new deployment of the function: contracts are read again on the next event (a cold start)."""
        with self._lock:
            runtime = getattr(sys.modules.get(self.handler.__module__), "runtime", None)
            if runtime is not None and hasattr(runtime, "cache_clear"):
                runtime.cache_clear()

    def close(self) -> None:
        """Give the process its environment back (the function's variables were set process-wide)."""
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class SamLocalInvoker:
    """Runs each invocation through ``sam local invoke`` in Docker (needs ``sam build`` output in .aws-sam/build).
    The container reaches the local AWS at the docker0 gateway; the environment comes from an --env-vars file."""

    def __init__(self, function: Function, docker_endpoint: str, work_dir: Path, sam: str | None = None) -> None:
        self.function = function
        self.work_dir = work_dir
        self.sam = sam or str(Path(sys.executable).with_name("sam"))
        self.env_file = write_env_vars_file(function, docker_endpoint, work_dir / "env-vars.json")

    def __call__(self, event: dict[str, Any]) -> dict[str, Any] | None:
        event_file = self.work_dir / f"event-{uuid.uuid4().hex[:8]}.json"
        event_file.write_text(json.dumps(event), encoding="utf-8")
        try:
            result = subprocess.run(
                sam_invoke_command(self.sam, self.function.logical_id, event_file, self.env_file),
                cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
            )
        finally:
            event_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise RuntimeError(f"sam local invoke failed ({result.returncode}): {result.stderr[-2000:]}")
        lines = [line for line in result.stdout.splitlines() if line.strip().startswith("{")]
        response = json.loads(lines[-1]) if lines else None
        if isinstance(response, dict) and "errorMessage" in response:
            raise RuntimeError(f"function error: {response['errorMessage']}")
        return response


def write_env_vars_file(function: Function, endpoint: str, path: Path) -> Path:
    """An --env-vars file for `sam local invoke`: the function's template environment resolved to the local stack."""
    env = function_environment(function, endpoint, in_process=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({function.logical_id: env}, indent=2), encoding="utf-8")
    return path


def sam_invoke_command(sam: str, logical_id: str, event_file: Path, env_file: Path) -> list[str]:
    return [sam, "local", "invoke", logical_id, "--skip-pull-image", "--region", REGION,
            "-e", str(event_file), "--env-vars", str(env_file)]


class Poller:
    """One event source mapping: queue → function, on a background thread."""

    def __init__(self, aws: LocalAws, stack: Stack, function: Function, invoke: Invoker, *,
                 retry_seconds: int = 2, on_error: Callable[[BaseException], None] | None = None) -> None:
        mapping = function.event_sources[0]
        self.queue_arn = mapping["EventSourceArn"]
        self.batch_size = min(int(mapping.get("BatchSize", 10)), 10)
        self.report_failures = "ReportBatchItemFailures" in mapping.get("FunctionResponseTypes", [])
        self.sqs = aws.client("sqs")
        self.queue_url = self.sqs.get_queue_url(QueueName=self.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        self.invoke = invoke
        self.retry_seconds = retry_seconds
        self.on_error = on_error or (lambda exc: print(f"poller: {exc}", file=sys.stderr))
        self.invocations = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.busy = threading.Event()

    def start(self) -> Poller:
        self._thread = threading.Thread(target=self._run, name="local-esm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as exc:  # noqa: BLE001 - keep polling, as the service does
                self.on_error(exc)
                time.sleep(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive + invoke + delete cycle; returns the number of messages handled."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.busy.set()
        try:
            event = {"Records": [self._record(m) for m in messages]}
            try:
                response = self.invoke(event)
                failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])} \
                    if self.report_failures else set()
            except Exception as exc:  # noqa: BLE001 - the whole batch failed: every message is retried
                self.on_error(exc)
                failed = {m["MessageId"] for m in messages}
            self.invocations += 1
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
            for m in messages:
                if m["MessageId"] in failed:
                    self.sqs.change_message_visibility(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"],
                                                       VisibilityTimeout=self.retry_seconds)
        finally:
            self.busy.clear()
        return len(messages)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": normalise_s3_event(message["Body"]),
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }
