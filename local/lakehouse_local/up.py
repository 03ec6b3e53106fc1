"""`lakehouse up`: keep the local stack running for the AWS CLI, `sam local invoke` and the operator commands."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from .lake import ZONE_BUCKETS, LocalLake
from .poller import write_env_vars_file
from .stack import REPO

SAMPLE_KEY = "stedi/customer/customers-1.json"


def serve(*, port: int, host: str = "0.0.0.0", docker: bool = False, stop: threading.Event | None = None,
          say: Callable[[str], None], log: TextIO | None = None,
          ready: Callable[[LocalLake], None] | None = None) -> None:
    """Run the local stack until ``stop`` is set (SIGINT/SIGTERM in the command)."""
    lake = LocalLake.start(port=port, host=host, docker=docker, say=say, log=log)
    stop = stop or threading.Event()
    try:
        env_file = write_env_vars_file(lake.stack.functions["ConvertFunction"], lake.aws.docker_endpoint,
                                       REPO / ".lakehouse" / "env-vars.json")
        write_sample_event(lake, REPO / ".lakehouse" / "events" / "s3-object-created.json")
        say(endpoint_text(lake, env_file))
        if ready:
            ready(lake)
        stop.wait()
    finally:
        say("stopping the local stack")
        lake.stop()


def write_sample_event(lake: LocalLake, path: Path) -> Path:
    """events/s3-object-created.json (the official EventBridge shape) pointed at the local landing bucket and the
    sample file the printed `aws s3 cp` command uploads (no version id: the local upload's is not known yet)."""
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
        "one function in Docker against this stack (after `sam build`):",
        "  sam local invoke ConvertFunction --skip-pull-image --region us-east-1 \\",
        f"      -e .lakehouse/events/s3-object-created.json --env-vars {env_file.relative_to(REPO)}",
        "Ctrl-C (or `lakehouse down`) stops the stack.",
    ]
    return "\n".join(lines)
