"""Commands that run the lake locally (`lakehouse demo`, `up`, `generate`); registered by cli.build_parser."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

from .console import quiet
from .stack import REPO


def _generate(args: argparse.Namespace) -> int:
    """Regenerates the state machines and the template's generated blocks from pipelines/."""
    from lakehouse.pipeline import Lake, PipelineError
    from lakehouse.stackgen import generate, stale, write

    try:
        generated = generate(Lake.load(REPO / "pipelines"), REPO)
    except (PipelineError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        out_of_date = stale(generated, REPO)
        for path in out_of_date:
            print(f"out of date: {path.relative_to(REPO)} (run `lakehouse generate`)", file=sys.stderr)
        return 1 if out_of_date else 0
    for path in write(generated, REPO):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def regenerate(say) -> None:  # type: ignore[no-untyped-def]
    """What `sam build` would deploy: the state machines and template section of the current pipelines/."""
    from lakehouse.pipeline import Lake
    from lakehouse.stackgen import generate, write

    for path in write(generate(Lake.load(REPO / "pipelines"), REPO), REPO):
        say(f"regenerated {path.relative_to(REPO)} from pipelines/")


def _demo(args: argparse.Namespace) -> int:
    from lakehouse.pipeline import PipelineError

    from .demo import print_report, run_demo

    pipelines = args.pipeline or ["stedi"]
    try:
        with quiet("demo", args.verbose) as (say, log):
            regenerate(say)
            report = run_demo(pipelines, landings=args.landing, docker=args.docker, port=args.port, say=say,
                              log=log)
    except (PipelineError, FileNotFoundError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_report(report, sys.stdout)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    failed = [e for e in report["executions"] if e["status"] != "SUCCEEDED"]
    return 1 if failed else 0


def _up(args: argparse.Namespace) -> int:
    from .up import serve

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with quiet("up", args.verbose) as (say, log):
        regenerate(say)
        serve(port=args.port, host=args.host, docker=args.docker, stop=stop, say=say, log=log)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the lake locally: landing files -> ConvertFunction -> state machines -> report",
        description="Start a local AWS (moto, in-process), create template.yaml's resources in it, land the files "
        "batch by batch, convert them with the real ConvertFunction, run each pipeline's state machine after each "
        "batch (Glue steps in local Spark on Iceberg) and print a report. Exits 1 when an execution did not "
        "succeed, 2 on a usage error.",
    )
    demo.add_argument("--pipeline", action="append", default=None,
                      help="pipeline to run (repeatable; default stedi)")
    demo.add_argument("--landing", type=Path, action="append", default=None,
                      help="a batch of landing files: DIR's files land (key = path relative to DIR), then the "
                           "pipelines run; repeatable (default: pipelines/<p>/samples)")
    demo.add_argument("--json", type=Path, help="also write the report as JSON to FILE")
    demo.add_argument("--docker", action="store_true",
                      help="run ConvertFunction through `sam local invoke` in Docker (needs `sam build`)")
    demo.add_argument("--port", type=int, help="local AWS port (default: a free port)")
    demo.add_argument("--verbose", action="store_true",
                      help="function logs and Spark output on the terminal instead of the log file")
    demo.set_defaults(func=_demo)

    up = sub.add_parser(
        "up",
        help="keep the local stack running (endpoint for aws --endpoint-url, sam local invoke, lakehouse commands)",
        description="Start the local AWS with the stack and the landing poller, print the endpoint and example "
        "commands, and run until Ctrl-C or `lakehouse down`.",
    )
    up.add_argument("--port", type=int, default=4566, help="default 4566")
    up.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0, reachable from Docker)")
    up.add_argument("--docker", action="store_true", help="the poller invokes ConvertFunction via sam local invoke")
    up.add_argument("--verbose", action="store_true")
    up.set_defaults(func=_up)

    generate = sub.add_parser(
        "generate",
        help="regenerate statemachines/*.asl.json and template.yaml's generated blocks from pipelines/",
        description="What the template holds per pipeline comes from pipelines/<name>/: its state machine, "
        "schedule and outputs. Run after adding or changing a pipeline (`make build` and `lakehouse demo` do).",
    )
    generate.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    generate.set_defaults(func=_generate)
