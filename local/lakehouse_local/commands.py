"""Commands that run the local lake (`lakehouse demo`, `up`, `down`, `reset`, `generate`); registered by
cli.build_parser. The operator commands (status, run, replay...) are in opscli.py."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .console import quiet
from .home import default_pipelines, home, shown
from .stack import REPO


def _error(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return 2


def _generate(args: argparse.Namespace) -> int:
    """Regenerates the state machines and the template's generated blocks from pipelines/."""
    from lakehouse.pipeline import Lake, PipelineError
    from lakehouse.stackgen import generate, stale, write

    try:
        generated = generate(Lake.load(REPO / "pipelines"), REPO)
    except (PipelineError, ValueError) as exc:
        return _error(str(exc))
    if args.check:
        out_of_date = stale(generated, REPO)
        for path in out_of_date:
            print(f"out of date: {path.relative_to(REPO)} (run `lakehouse generate`)", file=sys.stderr)
        return 1 if out_of_date else 0
    for path in write(generated, REPO):
        print(f"wrote {path.relative_to(REPO)}")
    return 0


def regenerate(say: Callable[[str], None], pipelines_dir: Path | None = None) -> None:
    """What `sam build` would deploy: the state machines and template section of this checkout's pipelines/.
    Another pipelines folder gets its own generated template in .lakehouse/build/ (lake.stack_template)."""
    from lakehouse.pipeline import Lake
    from lakehouse.stackgen import generate, write

    if pipelines_dir is not None and pipelines_dir.resolve() != (REPO / "pipelines").resolve():
        return
    for path in write(generate(Lake.load(REPO / "pipelines"), REPO), REPO):
        say(f"regenerated {path.relative_to(REPO)} from pipelines/")


def _demo(args: argparse.Namespace) -> int:
    from lakehouse.pipeline import PipelineError

    from .demo import print_report, run_demo
    from .lake import LakeBusy

    pipelines = args.pipeline or ["stedi"]
    pipelines_dir = default_pipelines()
    try:
        with quiet("demo", args.verbose) as (say, log):
            regenerate(say, pipelines_dir)
            report = run_demo(pipelines, landings=args.landing, docker=args.docker, port=args.port, say=say,
                              log=log, fresh=args.fresh, pipelines_dir=pipelines_dir)
    except (PipelineError, FileNotFoundError, LookupError, LakeBusy) as exc:
        return _error(str(exc))
    print_report(report, sys.stdout)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    failed = [e for e in report["executions"] if e["status"] != "SUCCEEDED"]
    return 1 if failed else 0


def _up(args: argparse.Namespace) -> int:
    from .lake import LakeBusy
    from .up import running, serve

    if (up := running()) is not None:
        return _error(f"lakehouse up already runs (pid {up.pid}, {up.endpoint}); `lakehouse down` stops it")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    pipelines_dir = default_pipelines()
    try:
        with quiet("up", args.verbose) as (say, log):
            regenerate(say, pipelines_dir)
            serve(port=args.port, host=args.host, docker=args.docker, stop=stop, say=say, log=log,
                  pipelines_dir=pipelines_dir, fresh=args.fresh)
    except LakeBusy as exc:
        return _error(str(exc))
    return 0


def _down(args: argparse.Namespace) -> int:
    from .up import down

    def say(text: str) -> None:
        print(text, flush=True)

    if not down(say, timeout=args.timeout):
        print("no lakehouse up is running")
    return 0


def _reset(args: argparse.Namespace) -> int:
    """Empties the kept lake; refuses while `lakehouse up` runs (stopping it here would surprise whoever uses it)."""
    from .lake import LakeBusy, hold_lake_lock
    from .state import StateStore
    from .up import running

    if (up := running()) is not None:
        return _error(f"lakehouse up runs (pid {up.pid}, {up.endpoint}) on this lake: `lakehouse down` first")
    try:
        lock = hold_lake_lock(home())
    except LakeBusy as exc:
        return _error(str(exc))
    with lock:
        StateStore(home() / "state").clear()
        for generated in ("zones", "build", "scripts"):
            shutil.rmtree(home() / generated, ignore_errors=True)
    print(f"emptied the local lake ({shown(home() / 'state')}); the next `lakehouse up` or `demo` starts empty")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo",
        help="run the lake locally: landing files -> ConvertFunction -> state machines -> report",
        description="Start a local AWS (moto, in-process), create template.yaml's resources in it, restore the "
        "local lake kept in .lakehouse/state (unless --fresh), land the files batch by batch, convert them with the "
        "real ConvertFunction, run each pipeline's state machine after each batch (Glue steps in local Spark on "
        "Iceberg), print a report and save the lake for `lakehouse status`, `query` and the next `demo` or `up`. "
        "Refuses while `lakehouse up` runs. Exits 1 when an execution did not succeed, 2 on a usage error.",
    )
    demo.add_argument("--pipeline", action="append", default=None,
                      help="pipeline to run (repeatable; default stedi)")
    demo.add_argument("--landing", type=Path, action="append", default=None,
                      help="a batch of landing files: DIR's files land (key = path relative to DIR), then the "
                           "pipelines run; repeatable (default: pipelines/<p>/samples)")
    demo.add_argument("--fresh", action="store_true",
                      help="start from an empty lake (the saved one is replaced when the demo ends)")
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
        description="Start the local AWS with the stack and the landing poller, restore the lake kept in "
        ".lakehouse/state, print the endpoint and example commands, and run until Ctrl-C or `lakehouse down`. The "
        "lake is saved whenever it changes and at shutdown; .lakehouse/up.json tells the other commands where it "
        "runs.",
    )
    up.add_argument("--port", type=int, default=4566, help="default 4566")
    up.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0, reachable from Docker)")
    up.add_argument("--docker", action="store_true", help="the poller invokes ConvertFunction via sam local invoke")
    up.add_argument("--fresh", action="store_true", help="start from an empty lake (replacing the saved one)")
    up.add_argument("--verbose", action="store_true",
                    help="function logs and Spark output on the terminal instead of the log file")
    up.set_defaults(func=_up)

    down = sub.add_parser(
        "down", help="stop the running `lakehouse up` (it saves the lake first)",
        description="Send SIGTERM to the `lakehouse up` named in .lakehouse/up.json and wait until it has saved the "
        "lake and exited.",
    )
    down.add_argument("--timeout", type=float, default=120, help="seconds to wait (default 120)")
    down.set_defaults(func=_down)

    reset = sub.add_parser(
        "reset", help="empty the local lake kept in .lakehouse/ (refuses while `lakehouse up` runs)",
        description="Delete the saved lake (.lakehouse/state: buckets, catalog, ledger, queues, executions, alerts) "
        "and generated files; logs stay. Refuses while `lakehouse up`, `demo` or another command runs the lake.",
    )
    reset.set_defaults(func=_reset)

    generate = sub.add_parser(
        "generate",
        help="regenerate statemachines/*.asl.json and template.yaml's generated blocks from pipelines/",
        description="What the template holds per pipeline comes from pipelines/<name>/: its state machine, "
        "schedule and outputs. Run after adding or changing a pipeline (`make build`, `lakehouse demo` and "
        "`lakehouse up` do).",
    )
    generate.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    generate.set_defaults(func=_generate)
