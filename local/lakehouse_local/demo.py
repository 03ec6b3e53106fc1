"""`lakehouse demo`: landing files -> ConvertFunction -> each pipeline's state machine -> a report, on the local lake.

Each landing folder is a batch: its files land and are converted, then every pipeline of the demo runs once. A
second batch shows what a later day looks like: incremental steps reading only the new raw rows, re-uploads
replacing rows, a contract's new column flowing through, time travel to the first batch.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from lakehouse.ledger import now as ledger_now

from .home import home, shown
from .lake import LocalLake, effective_states, failed_state
from .stack import REPO


def sample_batches(pipeline: str, pipelines_dir: Path = REPO / "pipelines") -> list[Path]:
    """A pipeline's bundled samples: ``samples/`` is one batch, unless it holds only ``batch-*`` folders."""
    folder = pipelines_dir / pipeline / "samples"
    if not folder.is_dir() or not any(p.is_file() for p in folder.rglob("*")):
        raise FileNotFoundError(f"pipeline {pipeline!r} has no samples: put landing files under {folder}/ (their "
                                "paths below it are their landing keys, e.g. <landing_prefix>/file.csv), or pass "
                                "--landing DIR")
    children = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    if children and all(p.is_dir() and p.name.startswith("batch") for p in children):
        return children
    return [folder]


def run_demo(pipelines: list[str], *, landings: list[Path] | None = None, docker: bool = False,
             port: int | None = None, say: Callable[[str], None], log: TextIO | None = None, fresh: bool = False,
             pipelines_dir: Path = REPO / "pipelines") -> dict[str, Any]:
    """The demo end to end, on the kept local lake (a new one with ``fresh``); returns the report (the --json
    shape). The lake is saved when the demo ends, for `lakehouse query`, `status` and the next `demo` or `up`."""
    from lakehouse.pipeline import Lake

    started = time.monotonic()
    definition = Lake.load(pipelines_dir)
    for name in pipelines:
        definition.pipeline(name)  # an unknown pipeline fails here, naming the known ones
    # A batch lands before the pipelines run: --landing folders one by one, else the samples' first batch of every
    # pipeline together, then their second batch...
    batches = [[folder] for folder in landings] if landings else [
        [b for b in group if b is not None]
        for group in itertools.zip_longest(*(sample_batches(name, pipelines_dir) for name in pipelines))]
    say(f"lakehouse demo: pipelines {', '.join(pipelines)}; {len(batches)} landing batch(es): "
        + "; ".join(", ".join(shown(f) for f in batch) for batch in batches))
    lake = LocalLake.start(port=port, docker=docker, say=say, log=log, pipelines_dir=pipelines_dir,
                           persistence="write", fresh=fresh)
    keys: list[str] = []
    executions: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    try:
        say(f"local AWS at {lake.aws.endpoint}; stack {lake.stack.name} created ({len(lake.stack.refs)} resources) "
            f"in {time.monotonic() - started:.1f}s")
        if lake.restored and lake.restored.objects:
            say(f"{lake.restored.describe()} (`lakehouse demo --fresh` starts empty)")
        for number, batch in enumerate(batches, start=1):
            landed = ledger_now()
            uploaded = [key for folder in batch for key in lake.upload(folder)]
            say(f"batch {number}: uploaded {len(uploaded)} files from {', '.join(shown(f) for f in batch)} to "
                f"s3://{lake.landing_bucket}/")
            lake.wait_for_objects(uploaded, since=landed)
            keys += [k for k in uploaded if k not in keys]
            for name in pipelines:
                if not definition.pipeline(name).steps:
                    say(f"pipeline {name} has no steps ({name}/pipeline.yaml): its files are converted, nothing runs "
                        f"after them; `lakehouse new pipeline` scaffolds one")
                    continue
                before = len(lake.glue_events)
                execution = lake.run_pipeline(name, {"trigger": "lakehouse demo", "batch": number})
                batch_alerts = lake.alerts()
                alerts += batch_alerts
                executions.append(_execution_report(name, number, execution, batch_alerts,
                                                    lake.glue_events[before:]))
        alerts += lake.alerts()
        entries = {e.key: e for e in lake.ledger()}
        states = effective_states(list(entries.values()))
        tables = [(t.zone, t.name) for name in pipelines for t in definition.tables.values() if t.pipeline == name]
        report = {
            "pipelines": pipelines,
            "executions": executions,
            "execution": executions[-1] if executions else None,
            "tables": lake.table_rows(tables),
            "objects": [
                {"key": key, "status": states.get(key, "pending"),
                 "rows": entries[key].rows_written if key in entries else 0,
                 "reason": (entries[key].reason or entries[key].reason_code or None) if key in entries else None}
                for key in keys
            ],
            "alerts": alerts,
            "seconds": round(time.monotonic() - started, 1),
        }
    finally:
        lake.stop()
    say(f"the lake is saved in {shown(home() / 'state')}: `lakehouse status`, `lakehouse query` and the next "
        "`lakehouse demo` or `lakehouse up` use it")
    return report


def _execution_report(pipeline: str, batch: int, execution: dict[str, Any], alerts: list[dict[str, Any]],
                      glue_events: list[Any]) -> dict[str, Any]:
    succeeded = execution["status"] == "SUCCEEDED"
    return {
        "pipeline": pipeline,
        "batch": batch,
        "arn": execution["executionArn"],
        "status": execution["status"],
        "failed_state": None if succeeded else failed_state(execution["history"], alerts),
        "error": execution.get("error"),
        "cause": execution.get("cause"),
        "steps": {e.arguments.get("--step"): e.summary for e in glue_events},
    }


def print_report(report: dict[str, Any], out: TextIO) -> None:
    def w(text: str = "") -> None:
        print(text, file=out)

    w()
    w(f"== report: {', '.join(report['pipelines'])} ({report['seconds']}s)")
    names = {name: f"{table['database']}.{name}" for name, table in report["tables"].items()}
    width = max(map(len, names.values()), default=0)
    for zone in ("raw", "trusted", "curated", "presentation"):
        for name, table in report["tables"].items():
            if table["zone"] == zone:
                rows = "(not built)" if table["rows"] is None else f"{table['rows']:>8} rows"
                w(f"  {zone:<12} {names[name]:<{width}} {rows}")
    objects = report["objects"]
    others = [o for o in objects if o["status"] != "converted"]
    w(f"  objects: {len(objects)} landed, {len(objects) - len(others)} converted")
    for o in others:
        w(f"    {o['status']}: {o['key']} - {o['reason']}")
    w(f"  alerts: {len(report['alerts'])}")
    for alert in report["alerts"]:
        w(f"    {alert['subject']}")
    for execution in report["executions"]:
        w(f"  execution: {execution['pipeline']} batch {execution['batch']}: {execution['status']}")
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
