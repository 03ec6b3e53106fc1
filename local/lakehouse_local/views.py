"""The operator commands' output for people: aligned tables. ``--json`` prints the data itself instead."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .ops import STATES

_STATE_LABELS = {"converting": "converting", "converted": "converted", "quarantined": "quarantined",
                 "ignored": "ignored", "failed": "failed", "dead_lettered": "dead-lettered"}


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    """An aligned text table (numbers right-aligned)."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) if rows else False
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return indent + "  ".join(v.rjust(w) if n else v.ljust(w)
                                  for v, w, n in zip(values, widths, numeric)).rstrip()

    return [line(list(headers)), line(["-" * w for w in widths]), *[line(r) for r in cells]]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return str(value)


def _when(value: str | None) -> str:
    return value.replace("T", " ").replace("+00:00", "Z")[:20] if value else "-"


def status_text(report: dict[str, Any]) -> str:
    lines = [(f"{report['where']}: {report['objects']} objects in the ledger "
             f"({', '.join(f'{n} {_STATE_LABELS[s]}' for s, n in sorted(report['states'].items())) or 'none'})"), ""]
    states = [s for s in STATES if any(r["states"].get(s) for r in report["datasets"])] or ["converted"]
    rows = [[r["dataset"], r["objects"], *[r["states"].get(s, 0) for s in states], _when(r["last_landed"])]
            for r in report["datasets"]]
    lines += table(["data set", "objects", *[_STATE_LABELS[s] for s in states], "last landed"], rows)
    quarantined_rows = [r for r in report["datasets"] if r["rows_quarantined"]]
    for r in quarantined_rows:
        lines.append(f"  {r['dataset']}: {r['rows_quarantined']} rows set aside in converted files")
    landing, dlq = report["landing_queue"], report["dead_letter_queue"]
    lines += ["", f"landing queue: {landing['waiting']} waiting, {landing['in_flight']} in flight; "
                  f"dead-letter queue: {dlq['waiting']} waiting"
                  + ("  (`lakehouse redrive` sends them back once the cause is fixed)" if dlq["waiting"] else "")]
    for pipeline in report["pipelines"]:
        lines += ["", f"pipeline {pipeline['pipeline']}: last {len(pipeline['executions'])} execution(s)"]
        if pipeline["executions"]:
            lines += table(["execution", "status", "started", "stopped", "failed state"], [
                [e["name"], e["status"], _when(e["start"]), _when(e["stop"]), e.get("failed_state")]
                for e in pipeline["executions"]])
    return "\n".join(lines)


def quarantine_text(items: list[dict[str, Any]]) -> str:
    if not items:
        return "nothing in quarantine"
    lines: list[str] = []
    for item in items:
        what = "quarantined" if item["state"] == "quarantined" else \
            f"converted, {item['rows_rejected']} rows set aside"
        lines += [f"{item['key']}  [{item['dataset']}, {what}, landed {_when(item['landed_at'])}]",
                  f"  reason: {item['reason_code']}: {item['reason']}"]
        if item["errors"]:
            shown = len(item["errors"])
            total = item.get("errors_total") or shown
            lines += table(["row", "column", "error"], [[e["row"], e["column"], e["message"]]
                                                        for e in item["errors"]], indent="    ")
            if total > shown:
                lines.append(f"    ... {total - shown} more error(s) (reason.json keeps the first {shown})")
        lines += [f"  original: {item['quarantine_uri'] or '-'}", f"  reason file: {item['reason_uri'] or '-'}", ""]
    lines.append(f"{len(items)} object(s). After fixing the contract: lakehouse replay --dataset <data set> "
                 "--state quarantined")
    return "\n".join(lines)


def replay_text(result: dict[str, Any]) -> str:
    lines = [f"replay {result['replay_id']}: {len(result['sent'])} object event(s) sent to the landing queue"]
    lines += [f"  {s['key']} (was {s['previous_state']})" for s in result["sent"]]
    lines += [f"  skipped {s['key']}: {s['why']}" for s in result["skipped"]]
    if "outcomes" in result:
        counts: dict[str, int] = {}
        for outcome in result["outcomes"]:
            counts[outcome["state"]] = counts.get(outcome["state"], 0) + 1
        lines.append("outcomes: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"))
    return "\n".join(lines)


def redrive_text(result: dict[str, Any]) -> str:
    lines = [f"redrive: {result['moved']} message(s) moved from the dead-letter queue to the landing queue"]
    if result.get("note"):
        lines.append(result["note"])
    for outcome in result.get("outcomes", []):
        lines.append(f"  {outcome['state']:<13} {outcome['key']}")
    return "\n".join(lines)


def upload_text(result: dict[str, Any]) -> str:
    """The keys uploaded; after a wait, the outcomes counted by state, and the objects that were not converted
    (each object's line was printed as its outcome came)."""
    header = f"uploaded {len(result['uploaded'])} file(s) to s3://{result['bucket']}/"
    if "outcomes" not in result:
        return "\n".join([header, *(f"  {item['key']}" for item in result["uploaded"])])
    outcomes = {o["key"]: o for o in result["outcomes"]}
    states = Counter(outcomes[i["key"]]["state"] if i["key"] in outcomes else "no outcome" for i in result["uploaded"])
    lines = [f"{header}: " + ", ".join(f"{n} {state}" for state, n in sorted(states.items()))]
    for item in result["uploaded"]:
        outcome = outcomes.get(item["key"])
        if outcome is None or outcome["state"] != "converted":
            detail = f"{outcome['state']} ({outcome['reason_code']})" if outcome else "no outcome yet"
            lines.append(f"  {item['key']}  -> {detail}")
    return "\n".join(lines)


def run_text(report: dict[str, Any]) -> str:
    lines = ["", f"== {report['pipeline']}: {report['name']}: {report['status']}"]
    if report["status"] != "SUCCEEDED":
        lines += [f"  failed state: {report['failed_state']}", f"  error: {report['error']}",
                  f"  cause: {report['cause']}"]
    if report["steps"]:
        # the Glue job's own summary (rows written, rows read per source) is known when the lake runs in this
        # process; otherwise the tables below say what the steps left
        detailed = any(step.get("summary") for step in report["steps"].values())
        rows = []
        for name, step in report["steps"].items():
            summary = step.get("summary") or {}
            row = [name, step.get("state"), step.get("seconds")]
            if detailed:
                row += [summary.get("rows_written"),
                        ", ".join(f"{t} {n}" for t, n in (summary.get("rows_read") or {}).items()) or None]
            rows.append(row)
        headers = ["step", "state", "seconds", *(["rows written", "rows read"] if detailed else [])]
        lines += ["  steps:", *table(headers, rows, indent="    ")]
    if report["tables"]:
        rows = [[zone, f"{t['database']}.{name}", "(not built)" if t["rows"] is None else t["rows"]]
                for zone in ("raw", "trusted", "curated", "presentation")
                for name, t in report["tables"].items() if t["zone"] == zone]
        lines += ["  tables:", *table(["zone", "table", "rows"], rows, indent="    ")]
    return "\n".join(lines)


def as_json(data: Any) -> str:
    return json.dumps(data, indent=2, default=str, ensure_ascii=False)
