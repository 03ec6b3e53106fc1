"""Commands of the local emulation (`lakehouse demo`, `lakehouse up`); registered by cli.build_parser."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path


def _quiet_logging(verbose: bool) -> None:
    # The Glue script configures INFO logging only when nothing is configured yet; locally keep its and Spark's
    # Python-side chatter out of the progress output unless asked for.
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    for name in ("botocore", "boto3", "urllib3", "werkzeug", "py4j"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not verbose:  # moto logs every caught state failure at ERROR; the report shows the failure instead
        logging.getLogger("moto").setLevel(logging.CRITICAL)


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _quiet_logging(args.verbose)
    status = 0
    for pipeline in args.pipeline:
        report = run_demo(pipeline, landing=args.landing, json_path=args.json if len(args.pipeline) == 1 else None,
                          docker=args.docker, port=args.port, verbose=args.verbose)
        if report["execution"]["status"] != "SUCCEEDED":
            status = 1
    return status


def _up(args: argparse.Namespace) -> int:
    from .demo import serve

    _quiet_logging(args.verbose)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    serve(port=args.port, host=args.host, docker=args.docker, stop=stop)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    """Adds `demo` and `up`."""
    demo = sub.add_parser(
        "demo",
        help="run the lake locally: landing files -> ConvertFunction -> state machine -> report",
        description="Start a local AWS (moto, in-process), create template.yaml's resources in it, upload landing "
        "files, convert them with the real ConvertFunction, run the pipeline's state machine (Glue steps in local "
        "Spark) and print a report. Exits 1 when the execution did not succeed.",
    )
    demo.add_argument("--pipeline", action="append", default=None,
                      help="pipeline to run (repeatable; default stedi)")
    demo.add_argument("--landing", type=Path,
                      help="upload DIR's files (key = path relative to DIR) instead of pipelines/<p>/samples")
    demo.add_argument("--json", type=Path, help="also write the report as JSON to FILE (one pipeline only)")
    demo.add_argument("--docker", action="store_true",
                      help="run ConvertFunction through `sam local invoke` in Docker (needs `sam build`)")
    demo.add_argument("--port", type=int, help="local AWS port (default: a free port)")
    demo.add_argument("--verbose", action="store_true", help="show the function's and the Glue script's logs")
    demo.set_defaults(func=_demo_default)

    up = sub.add_parser(
        "up",
        help="keep the local stack running (endpoint for aws --endpoint-url and sam local invoke)",
        description="Start the local AWS with the stack and the landing poller, print the endpoint and example "
        "commands, and run until Ctrl-C.",
    )
    up.add_argument("--port", type=int, default=4566, help="default 4566")
    up.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0, reachable from Docker)")
    up.add_argument("--docker", action="store_true", help="the poller invokes ConvertFunction via sam local invoke")
    up.add_argument("--verbose", action="store_true")
    up.set_defaults(func=_up)


def _demo_default(args: argparse.Namespace) -> int:
    args.pipeline = args.pipeline or ["stedi"]
    return _demo(args)
