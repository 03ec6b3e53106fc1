"""`lakehouse up` / `down`: one local stack that keeps running, and lasts across restarts.

`up` restores the lake saved in ``.lakehouse/state`` (state.py), saves it whenever it changed and at shutdown, and
writes ``.lakehouse/up.json`` (pid, port, endpoint, the stack's outputs and resource names) so that the other
commands find it. `down` signals that process and waits until it has saved and exited.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .home import home, shown
from .lake import ZONE_BUCKETS, LocalLake
from .poller import write_env_vars_file
from .stack import REPO

SAMPLE_KEY = "stedi/customer/customers-1.json"


@dataclass(frozen=True)
class Running:
    """A running `lakehouse up`, as its up.json describes it."""

    pid: int
    port: int
    endpoint: str
    stack: str
    outputs: dict[str, Any]
    resources: dict[str, str]  # logical id -> physical id (name, URL or ARN)
    state_machines: dict[str, str]  # pipeline -> ARN
    pipelines_dir: str


def marker(work_dir: Path | None = None) -> Path:
    return (work_dir or home()) / "up.json"


def running(work_dir: Path | None = None) -> Running | None:
    """The `lakehouse up` of this ``.lakehouse/``, if one runs (a marker left by a killed process is removed)."""
    path = marker(work_dir)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(int(data.get("pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return Running(**{k: data[k] for k in Running.__dataclass_fields__})


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not running
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


def serve(*, port: int, host: str = "0.0.0.0", docker: bool = False, stop: threading.Event | None = None,
          say: Callable[[str], None], log: TextIO | None = None, pipelines_dir: Path = REPO / "pipelines",
          fresh: bool = False, ready: Callable[[LocalLake], None] | None = None) -> None:
    """Run the local stack until ``stop`` is set (SIGINT/SIGTERM in the command); save it on the way out."""
    work_dir = home()
    lake = LocalLake.start(port=port, host=host, docker=docker, say=say, log=log, pipelines_dir=pipelines_dir,
                           work_dir=work_dir, persistence="write", fresh=fresh)
    stop = stop or threading.Event()
    path = marker(work_dir)
    try:
        if lake.restored and lake.restored.objects:
            say(lake.restored.describe())
        env_file = write_env_vars_file(lake.stack.functions["ConvertFunction"], lake.aws.docker_endpoint,
                                       work_dir / "env-vars.json")
        write_sample_event(lake, work_dir / "events" / "s3-object-created.json")
        _write_marker(lake, path, pipelines_dir)
        lake.autosave()
        say(endpoint_text(lake, env_file))
        if ready:
            ready(lake)
        stop.wait()
    finally:
        say("stopping the local stack: saving the lake")
        path.unlink(missing_ok=True)
        lake.stop()
        say(f"saved in {shown(work_dir / 'state')}")


def _write_marker(lake: LocalLake, path: Path, pipelines_dir: Path) -> None:
    resources = {lid: ref for lid, ref in lake.stack.refs.items() if isinstance(ref, str)}
    resources["LocalAlertsQueue"] = lake.stack.alerts_queue_url
    data = {
        "pid": os.getpid(),
        "port": lake.aws.port,
        "endpoint": lake.aws.endpoint,
        "stack": lake.stack.name,
        "outputs": lake.stack.outputs,
        "resources": resources,
        "state_machines": lake.stack.state_machines(),
        "pipelines_dir": str(pipelines_dir),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(partial, path)


def down(say: Callable[[str], None], timeout: float = 120) -> bool:
    """Stop the running `lakehouse up` (SIGTERM: it saves the lake, then exits); False when none runs."""
    up = running()
    if up is None:
        return False
    say(f"stopping lakehouse up (pid {up.pid}, {up.endpoint}); it saves the lake first")
    os.kill(up.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(up.pid):
        if time.monotonic() > deadline:
            raise TimeoutError(f"lakehouse up (pid {up.pid}) still runs after {timeout:.0f}s; see its log file")
        time.sleep(0.2)
    marker().unlink(missing_ok=True)
    say("stopped")
    return True


def write_sample_event(lake: LocalLake, path: Path) -> Path:
    """events/s3-object-created.json (the official EventBridge shape) pointed at the local landing bucket and the
    sample file the printed `aws s3 cp` command uploads (no version id: the local upload's is not known yet)."""
    event = json.loads((REPO / "events" / "s3-object-created.json").read_text(encoding="utf-8"))
    sample = REPO / "pipelines" / "stedi" / "samples" / SAMPLE_KEY
    event["detail"]["bucket"]["name"] = lake.landing_bucket
    event["resources"] = [f"arn:aws:s3:::{lake.landing_bucket}"]
    event["detail"]["object"].update(key=SAMPLE_KEY, size=sample.stat().st_size,
                                     etag=hashlib.md5(sample.read_bytes()).hexdigest())
    event["detail"]["object"].pop("version-id", None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(event, indent=2), encoding="utf-8")
    return path


def endpoint_text(lake: LocalLake, env_file: Path) -> str:
    outputs = lake.stack.outputs
    endpoint = lake.aws.endpoint
    lines = [
        f"local AWS: {endpoint} (containers: {lake.aws.docker_endpoint}); credentials: any, region us-east-1",
        "buckets:",
        f"  {'landing':<14} {lake.landing_bucket}",
        *[f"  {zone:<14} {outputs[key]}" for zone, key in ZONE_BUCKETS.items()],
        f"  {'quarantine':<14} {outputs['QuarantineBucketName']}",
        "state machines:",
        *[f"  {name:<14} {arn}" for name, arn in lake.stack.state_machines().items()],
        "",
        "drop files (converted within seconds), run a pipeline, look at the result:",
        "  lakehouse upload pipelines/stedi/samples",
        "  lakehouse run --pipeline stedi --wait",
        "  lakehouse status",
        '  lakehouse query "SELECT count(*) FROM curated.machine_learning_curated"',
        "one function in Docker against this stack (after `sam build`):",
        "  sam local invoke ConvertFunction --skip-pull-image --region us-east-1 \\",
        f"      -e {shown(env_file.parent / 'events' / 's3-object-created.json')} --env-vars {shown(env_file)}",
        "Ctrl-C (or `lakehouse down`) saves the lake and stops the stack; `lakehouse up` brings it back.",
    ]
    return "\n".join(lines)
