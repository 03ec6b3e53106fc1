"""The operator commands: status, quarantine, replay, redrive, run, upload, graph, new.

Each works on the local stack by default (a running `lakehouse up`, else the lake kept in .lakehouse/, started in
this process for the command) and on a deployed stack with ``--stack NAME``; each prints a table for people, or
``--json`` for scripts (progress lines then go to stderr). What they do is in ops.py; target.py finds the stack.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lakehouse.ledger import now as ledger_now

from .console import quiet
from .home import default_pipelines
from .target import TargetError, open_target

USAGE = 2


def _error(text: str) -> int:
    print(f"error: {text}", file=sys.stderr)
    return USAGE


def _model(pipelines_dir: Path | None = None) -> Any:
    from lakehouse.pipeline import Lake

    return Lake.load(pipelines_dir or default_pipelines())


def _model_if_valid(pipelines_dir: Path) -> Any:
    """The lake's model, or None when pipelines/ does not load (status and quarantine still show the ledger)."""
    from lakehouse.pipeline import PipelineError

    try:
        return _model(pipelines_dir)
    except PipelineError as exc:
        print(f"warning: {exc}; data sets without objects are not listed", file=sys.stderr)
        return None


def _emit(args: argparse.Namespace, data: Any, text: Callable[[Any], str]) -> None:
    from .views import as_json

    print(as_json(data) if args.json else text(data), flush=True)


def _expected_errors() -> tuple[type[Exception], ...]:
    from lakehouse.pipeline import PipelineError

    from .lake import LakeBusy
    from .ops import OpsError
    from .scaffold import ScaffoldError

    return (TargetError, OpsError, PipelineError, LakeBusy, ScaffoldError, TimeoutError)


def _console(args: argparse.Namespace, command: str, announce: bool = False) -> Any:
    return quiet(command, args.verbose, out=sys.stderr if getattr(args, "json", False) else None, announce=announce)


# ------------------------------------------------------------------------------------------------ status
def _status(args: argparse.Namespace) -> int:
    from . import ops, views

    try:
        with _console(args, "status") as (say, log), \
                open_target(args.stack, "read", region=args.region, say=say, log=log) as target:
            model = _model_if_valid(target.pipelines_dir)
            report = ops.status(target, model, limit=args.executions)
    except _expected_errors() as exc:
        return _error(str(exc))
    _emit(args, report, views.status_text)
    return 0


def _quarantine(args: argparse.Namespace) -> int:
    from . import ops, views

    try:
        with _console(args, "quarantine") as (say, log), \
                open_target(args.stack, "read", region=args.region, say=say, log=log) as target:
            model = _model_if_valid(target.pipelines_dir)
            items = ops.quarantine(target, model, args.dataset)
    except _expected_errors() as exc:
        return _error(str(exc))
    _emit(args, items, views.quarantine_text)
    return 0


# ------------------------------------------------------------------------------------------------ replay, redrive
def _replay(args: argparse.Namespace) -> int:
    from . import ops, views

    if args.dataset and not args.state or args.state and not args.dataset:
        return _error("--dataset and --state go together (or give --prefix)")
    try:
        since = ops.parse_since(args.since)
        with _console(args, "replay", announce=True) as (say, log), \
                open_target(args.stack, "write", region=args.region, say=say, log=log) as target:
            model = _model(target.pipelines_dir)
            entries = ops.select(target, model, prefix=args.prefix, dataset=args.dataset, state=args.state,
                                 since=since)
            if not entries:
                say(f"nothing to replay in {target.where}: no object matches")
            result = ops.replay(target, entries).as_dict()
            say(f"replay {result['replay_id']}: sent {len(result['sent'])} event(s) to the landing queue")
            if result["sent"] and (args.wait or target.lake is not None):
                done = ops.wait_for_outcomes(target, [s["object_uri"] for s in result["sent"]],
                                             result["started_at"], say, timeout=args.timeout)
                result["outcomes"] = [{"key": e.key, "state": e.state, "reason_code": e.reason_code,
                                       "rows_written": e.rows_written} for e in done.values()]
    except _expected_errors() as exc:
        return _error(str(exc))
    _emit(args, result, views.replay_text)
    return 1 if any(o["state"] != "converted" for o in result.get("outcomes", [])) else 0


def _redrive(args: argparse.Namespace) -> int:

    from . import ops, views

    try:
        with _console(args, "redrive", announce=True) as (say, log), \
                open_target(args.stack, "write", region=args.region, say=say, log=log) as target:
            started = ledger_now()
            result = ops.redrive(target)
            say(f"redrive: {result['moved']} message(s) from the dead-letter queue to the landing queue"
                + (f" (move task {result['task']})" if result.get("task") else ""))
            if result["objects"] and (args.wait or target.lake is not None):
                done = ops.wait_for_outcomes(target, result["objects"], started, say, timeout=args.timeout)
                result["outcomes"] = [{"key": e.key, "state": e.state} for e in done.values()]
    except _expected_errors() as exc:
        return _error(str(exc))
    _emit(args, result, views.redrive_text)
    return 0


# ------------------------------------------------------------------------------------------------ upload
def _upload(args: argparse.Namespace) -> int:

    from . import ops, views

    try:
        with _console(args, "upload", announce=True) as (say, log), \
                open_target(args.stack, "write", region=args.region, say=say, log=log) as target:
            started = ledger_now()
            uploaded = ops.upload(target, args.paths, prefix=args.prefix)
            result: dict[str, Any] = {"bucket": target.output("LandingBucketName"), "uploaded": uploaded}
            if uploaded and (args.wait or target.lake is not None):
                say(f"uploaded {len(uploaded)} file(s) to s3://{result['bucket']}/; waiting for their outcomes")
                done = ops.wait_for_outcomes(target, [u["object_uri"] for u in uploaded], started, say,
                                             timeout=args.timeout)
                result["outcomes"] = [{"key": e.key, "state": e.state, "rows_written": e.rows_written,
                                       "reason_code": e.reason_code} for e in done.values()]
    except _expected_errors() as exc:
        return _error(str(exc))
    _emit(args, result, views.upload_text)
    return 0


# ------------------------------------------------------------------------------------------------ run
def _run(args: argparse.Namespace) -> int:
    from . import ops, views
    from .lake import follow_execution

    try:
        model = _model()
        model.pipeline(args.pipeline)
        with _console(args, "run", announce=True) as (say, log), \
                open_target(args.stack, "write", region=args.region, say=say, log=log) as target:
            started = ops.start_run(target, args.pipeline, from_step=args.from_step, full_refresh=args.full_refresh,
                                    model=model, name=args.name)
            say(f"execution {started['name']} of {args.pipeline} on {target.where}")
            if not (args.wait or target.lake is not None):
                _emit(args, started, lambda s: s["arn"])
                return 0
            before = len(target.lake.glue_events) if target.lake else 0
            execution = follow_execution(target.client("stepfunctions"), started["arn"], say,
                                         timeout=args.timeout)
            summaries = {e.arguments.get("--step", ""): e.summary for e in target.lake.glue_events[before:]} \
                if target.lake else {}
            report = ops.run_report(target, model, args.pipeline, execution, summaries)
    except _expected_errors() as exc:
        return _error(str(exc))
    _emit(args, report, views.run_text)
    return 0 if report["status"] == "SUCCEEDED" else 1


# ------------------------------------------------------------------------------------------------ graph
def _graph(args: argparse.Namespace) -> int:
    from . import graph

    try:
        model = _model()
        picture = graph.build(model, model.pipeline(args.pipeline))
    except _expected_errors() as exc:
        return _error(str(exc))
    text = graph.svg(picture) if args.format == "svg" else graph.mermaid(picture)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


# ------------------------------------------------------------------------------------------------ new
def _new_dataset(args: argparse.Namespace) -> int:
    from . import scaffold

    try:
        written = scaffold.new_dataset(args.pipelines_dir or default_pipelines(), args.pipeline, args.dataset,
                                       args.sample, table=args.table)
    except _expected_errors() as exc:
        return _error(str(exc))
    for path in written:
        print(f"wrote {path}")
    print(f"drop files under {args.pipeline}/{args.dataset}/ of the landing bucket (`lakehouse upload`); "
          f"`lakehouse demo --pipeline {args.pipeline}` converts the sample")
    return 0


def _new_pipeline(args: argparse.Namespace) -> int:
    from . import scaffold

    try:
        written = scaffold.new_pipeline(args.pipelines_dir or default_pipelines(), args.name, dataset=args.dataset,
                                        sample=args.sample, step=args.step)
    except _expected_errors() as exc:
        return _error(str(exc))
    for path in written:
        print(f"wrote {path}")
    print(f"next: rewrite {written[2].name} (Spark SQL), then `lakehouse demo --pipeline {args.name}`; "
          f"`lakehouse graph --pipeline {args.name}` draws it")
    return 0


# ------------------------------------------------------------------------------------------------ parser
def _common(parser: argparse.ArgumentParser, json_help: str = "print JSON (progress lines go to stderr)") -> None:
    parser.add_argument("--stack", help="a deployed stack's name (AWS credentials from the default chain); "
                                        "default: the local stack")
    parser.add_argument("--region", help="AWS region of --stack (default: the SDK's)")
    parser.add_argument("--json", action="store_true", help=json_help)
    parser.add_argument("--verbose", action="store_true",
                        help="logs on the terminal instead of the log file in .lakehouse/logs")


def register(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser(
        "status", help="objects per data set and ledger state, queue depths, the last executions per pipeline",
        description="Per data set: the objects in each ledger state (a conversion older than the function's timeout "
        "counts as failed, or dead_lettered after its last delivery), the rows set aside in converted files and the "
        "last landing time; the landing and dead-letter queues' depths; per pipeline, the last executions with "
        "their outcome. Every object of the ledger is counted.")
    _common(status)
    status.add_argument("--executions", type=int, default=5, help="executions shown per pipeline (default 5)")
    status.set_defaults(func=_status)

    quarantine = sub.add_parser(
        "quarantine", help="quarantined objects with their reason and row errors (pii values redacted)",
        description="Each quarantined object (and each converted object with rows set aside) with its reason code "
        "and message, and the row errors of its reason.json (row, column, message). Nothing else is read from the "
        "file; values of pii: true columns never appear.")
    _common(quarantine)
    quarantine.add_argument("--dataset", help="only this data set (name, or pipeline.name)")
    quarantine.set_defaults(func=_quarantine)

    replay = sub.add_parser(
        "replay", help="send objects' events through the landing path again (e.g. after a contract fix)",
        description="Sends each selected object's S3 'Object Created' event (its current version, as EventBridge "
        "delivers it, marked with a replay id) to the landing queue. The converter's idempotency key includes the "
        "replay id, so the record of the object's earlier conversion does not answer the replay: it is converted "
        "again, and an accidental duplicate of it is swallowed by the record it makes. Objects being converted "
        "are left out. Running it twice is safe: a converted object no longer matches --state quarantined, and "
        "converting an object again gives the same rows. Waits for the outcomes with --wait (always when the lake "
        "runs in this process). Exits 1 when a replayed object did not end converted.")
    choose = replay.add_mutually_exclusive_group(required=True)
    choose.add_argument("--prefix", help="every object whose key starts with this")
    choose.add_argument("--dataset", help="the objects of a data set (name, or pipeline.name); with --state")
    replay.add_argument("--state", help="ledger state of the objects: converted, quarantined, ignored, failed, "
                                        "dead_lettered")
    replay.add_argument("--since", help="only objects landed since: ISO date/time (UTC), or an age: 30m, 6h, 2d")
    replay.add_argument("--wait", action="store_true", help="wait for each object's new outcome")
    replay.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    _common(replay)
    replay.set_defaults(func=_replay)

    redrive = sub.add_parser(
        "redrive", help="move the dead-letter queue's messages back to the landing queue",
        description="On AWS: StartMessageMoveTask from the dead-letter queue to the landing queue (SQS moves them "
        "in the background). Locally (moto has no move tasks): receive, send to the landing queue, delete; with "
        "--wait (always when the lake runs in this process) it waits for the objects' new outcomes.")
    redrive.add_argument("--wait", action="store_true", help="locally: wait for each object's new outcome")
    redrive.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    _common(redrive)
    redrive.set_defaults(func=_redrive)

    run = sub.add_parser(
        "run", help="start a pipeline's state machine; with --wait, follow it and print the report",
        description="Starts a named execution of the pipeline's state machine. With --wait (always when the lake "
        "runs in this process) it prints each state as it is entered, then the report: each step's outcome and "
        "time, and the pipeline's tables with their rows. Exits 1 when the execution did not succeed.")
    run.add_argument("--pipeline", required=True)
    run.add_argument("--from", dest="from_step", metavar="STEP",
                     help="start at STEP's wave: the steps before it (those it reads from among them) are skipped")
    run.add_argument("--full-refresh", action="store_true",
                     help="incremental steps read every raw file, not only the new ones")
    run.add_argument("--name", help="the execution's name (default <pipeline>-<UTC time>)")
    run.add_argument("--wait", action="store_true", help="follow the execution and print the report")
    run.add_argument("--timeout", type=float, default=3600, help="seconds to wait (default 3600)")
    _common(run)
    run.set_defaults(func=_run)

    upload = sub.add_parser(
        "upload", help="upload files or folders to the landing bucket",
        description="Uploads each file (key: --prefix + its name) or folder (keys: --prefix + paths relative to "
        "it, as pipelines/<p>/samples/ is laid out) to the landing bucket. With --wait (always when the lake runs "
        "in this process) it waits until each object's conversion is recorded.")
    upload.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    upload.add_argument("--prefix", default="", help="key prefix, e.g. stedi/customer/ (default none)")
    upload.add_argument("--wait", action="store_true", help="wait for each object's outcome")
    upload.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    _common(upload)
    upload.set_defaults(func=_upload)

    graph = sub.add_parser(
        "graph", help="draw a pipeline's DAG: data sets, steps, zones, quality gates (Mermaid or SVG)",
        description="The pipeline's DAG from pipelines/<p>/: data sets (contracts) feeding raw tables, the steps "
        "by zone with their write modes, each step's quality gate (expectations) and the tables of other pipelines "
        "it reads. Mermaid renders on GitHub; the SVG is standalone.")
    graph.add_argument("--pipeline", required=True)
    graph.add_argument("--format", choices=("mermaid", "svg"), default="mermaid")
    graph.add_argument("--output", type=Path, help="write to FILE instead of stdout")
    graph.set_defaults(func=_graph)

    new = sub.add_parser("new", help="scaffold a data set (contract) or a pipeline folder",
                         description="Write the files of a new data set or pipeline under the pipelines folder.")
    kinds = new.add_subparsers(dest="kind", required=True)
    dataset = kinds.add_parser(
        "dataset", help="a contract (columns inferred from --sample) and a sample file",
        description="Writes <pipelines>/PIPELINE/contracts/DATASET.yaml (landing prefix PIPELINE/DATASET/) and "
        "puts the sample under samples/ (an example CSV without --sample). Columns and format come from the "
        "sample: a CSV/TSV header and values, or JSON lines' keys and values.")
    dataset.add_argument("pipeline")
    dataset.add_argument("dataset")
    dataset.add_argument("--sample", type=Path, help="a file of the data set (.csv, .tsv, .json, .jsonl)")
    dataset.add_argument("--table", help="raw table name (default: the data set's, or <pipeline>_<dataset> when "
                                         "taken)")
    dataset.add_argument("--pipelines-dir", type=Path,
                         help="default: $LAKEHOUSE_PIPELINES_DIR, ./pipelines, or this checkout's pipelines/")
    dataset.set_defaults(func=_new_dataset)
    pipeline = kinds.add_parser(
        "pipeline", help="a pipeline folder that runs as it is: a data set, one step, pipeline.yaml, samples",
        description="Writes <pipelines>/NAME/: a data set (as `new dataset`), pipeline.yaml with one trusted step "
        "that selects its columns (steps/<step>.sql) and a row_count gate. `lakehouse demo --pipeline NAME` runs "
        "it; rewrite the SQL and add steps from there.")
    pipeline.add_argument("name")
    pipeline.add_argument("--dataset", help="the data set's name (default: the sample's name, or records)")
    pipeline.add_argument("--sample", type=Path, help="a file of the data set (.csv, .tsv, .json, .jsonl)")
    pipeline.add_argument("--step", help="the first step's name (default <dataset>_trusted)")
    pipeline.add_argument("--pipelines-dir", type=Path,
                          help="default: $LAKEHOUSE_PIPELINES_DIR, ./pipelines, or this checkout's pipelines/")
    pipeline.set_defaults(func=_new_pipeline)
