"""The benchmark (issues 6, 13 and 17): it runs end to end on small inputs in the sources' real formats, judges
saved figures into PASS / FAIL / n/a with the matching exit code, and prices conversions in Lambda.

Timings are never asserted here: they are a report (`make bench`), not a test. The verdict logic is tested on
fixed figures through `bench/run.py --from-json`, which judges a saved report without running anything.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))  # bench/ is a folder of scripts, not a package

from report import lambda_usd_per_tb
from run import measure

WORKSHOP_TIMESTAMP = re.compile(r"^\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}$")  # the Glue lab's d/MMM/yyyy


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / "run.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)


def _target_lines(stdout: str) -> dict[str, str]:
    """Target name -> its printed row, from the report's targets table."""
    table = stdout.split("Targets (issues 6 and 13)", 1)[1].split("\n\n", 1)[0]
    return {line[:50].strip(): line for line in table.splitlines()[3:] if line.strip()}


# ------------------------------------------------------------------------------------------ end to end


def test_quick_run_covers_every_contender_shape_and_column(tmp_path: Path) -> None:
    report_file = tmp_path / "bench.json"
    proc = _bench("--quick", "--runs", "2", "--json", str(report_file), "--workdir", str(tmp_path / "work"))
    report = json.loads(report_file.read_text())
    assert proc.returncode == report["exit_code"], proc.stderr[-2000:]
    failed = [t for t in report["targets"] if t["status"] == "FAIL"]
    assert report["exit_code"] == (1 if failed else 2 if report["broken"] else 0)

    # Every shape of each source is checked against the contract as it is now, and run (two rounds: both shapes).
    checks = {(c["dataset"], c["variant"]): c for c in report["contract_checks"]}
    assert set(checks) == {("weblogs-csv", "lf"), ("weblogs-csv", "crlf-quoted"), ("accel-jsonl", "lf")}
    rejected = {d for (d, _), c in checks.items() if c["status"] != "converted"}
    for c in checks.values():
        assert c["status"] in ("converted", "rejected")
        assert (c["status"] == "rejected") == bool(c["reason"])
    shapes = {(i["dataset"], i["size"], i["variant"]) for i in report["inputs"]}
    assert {("weblogs-csv", "main", "lf"), ("weblogs-csv", "main", "crlf-quoted")} <= shapes

    seen = {(r["dataset"], r["size"], r["contender"]): r for r in report["results"]}
    for dataset in ("weblogs-csv", "accel-jsonl"):
        for contender in ("lakehouse", "lakehouse-venv", "book", "polars", "pyarrow", "duckdb"):
            result = seen[(dataset, "main", contender)]
            assert [r["variant"] for r in result["runs"]] == (["lf", "crlf-quoted"] if dataset == "weblogs-csv" else ["lf", "lf"])
            # Only the converter may refuse an input, and only when its contract check said so.
            if result["status"] != "ok":
                assert contender.startswith("lakehouse") and dataset in rejected, result["runs"][0]["error"]
                continue
            for key in ("median_s", "median_cpu_s", "mb_per_s", "peak_rss_mb", "output_mb", "lambda_usd_per_tb"):
                assert isinstance(result[key], (int, float)) and result[key] > 0, (key, result)
            assert {v: s["runs"] for v, s in result["by_variant"].items()} == (
                {"lf": 1, "crlf-quoted": 1} if dataset == "weblogs-csv" else {"lf": 2})
        assert (dataset, "big", "lakehouse") in seen

    # A quick run measures no target that depends on the inputs: those are n/a, never FAIL.
    for t in report["targets"]:
        if not t["target"].startswith(("handler import", "bundle")):
            assert t["status"] == "n/a" and t["note"].startswith("quick run"), t
    for heading in ("Contract check", "x cpu", "$/TB", "1,769 MB", "Handler import", "Bundle", "exit code"):
        assert heading in proc.stdout
    assert "NOT MET" not in proc.stdout


def test_cpu_seconds_cover_the_process_tree(tmp_path: Path) -> None:
    """A contender's CPU-seconds include what its threads and child processes spent (user + system)."""
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}], check=True)"
    seconds, _, code, cpu = measure([sys.executable, "-c", parent], log=tmp_path / "log")
    assert code == 0
    assert cpu >= 0.4, cpu
    assert seconds >= cpu * 0.5  # one process at a time: the wall time cannot be much below the CPU time


# ------------------------------------------------------------------------------------------ the verdict


def _run(seconds: float, cpu: float, rss: float, out: float, code: int = 0, error: str = "") -> dict:
    return {"seconds": seconds, "cpu_s": cpu, "peak_rss_mb": rss, "output_mb": out, "returncode": code,
            "variant": "lf", "error": error}


def _result(dataset: str, contender: str, *runs: dict, size: str = "main", input_mb: float = 250.0) -> dict:
    return {"dataset": dataset, "size": size, "contender": contender, "input_mb": input_mb,
            "planned_runs": len(runs), "runs": list(runs)}


def _saved_report(tmp_path: Path, results: list[dict]) -> Path:
    report = {"quick": False, "sizes": {"main": 250, "big": 1000}, "results": results,
              "import": {"status": "ok", "median_s": 0.15, "layout": "test", "default":
                         {"median_s": 0.15, "interpreter_only_s": 0.01, "runs": [0.15], "heavy_modules_loaded": "[]"},
                         "tracing_active": {"median_s": 0.5, "interpreter_only_s": 0.01, "runs": [0.5],
                                            "heavy_modules_loaded": "[]"}},
              "bundle": {"status": "not built", "detail": "no build in this test"}}
    path = tmp_path / "saved.json"
    path.write_text(json.dumps(report))
    return path


def _csv_results(lake_cpu: float) -> list[dict]:
    """A CSV-only run where every CSV target is met, except CPU-seconds when lake_cpu > the book's 2.0."""
    return [
        _result("weblogs-csv", "lakehouse", _run(1.5, lake_cpu, 180, 50), _run(1.4, lake_cpu, 181, 50)),
        _result("weblogs-csv", "book", _run(1.6, 2.0, 800, 80), _run(1.7, 2.0, 790, 80)),
        _result("weblogs-csv", "pyarrow", _run(1.8, 2.2, 450, 90), _run(1.9, 2.2, 450, 90)),
    ]


def test_a_missed_target_exits_1_and_is_named(tmp_path: Path) -> None:
    proc = _bench("--from-json", str(_saved_report(tmp_path, _csv_results(lake_cpu=2.5))))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = _target_lines(proc.stdout)
    assert "FAIL" in rows["CSV CPU-seconds vs book"] and "1.250" in rows["CSV CPU-seconds vs book"]
    for met in ("CSV speed vs book (book s / lakehouse s)", "CSV peak RSS vs book", "CSV Parquet size vs input"):
        assert rows[met].rstrip().endswith("PASS"), rows[met]
    assert "MISSED (1): CSV CPU-seconds vs book" in proc.stdout


def test_targets_a_run_did_not_measure_are_na_and_do_not_fail_it(tmp_path: Path) -> None:
    """A CSV-only run without the 1 GB input, no JSONL and no build: only what it measured is judged."""
    proc = _bench("--from-json", str(_saved_report(tmp_path, _csv_results(lake_cpu=1.8))))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = _target_lines(proc.stdout)
    for unmeasured in ("CSV 1000 MB file peak RSS", "JSONL speed vs book (book s / lakehouse s)",
                       "JSONL CPU-seconds vs book", "JSONL peak RSS vs book", "JSONL 1000 MB file peak RSS",
                       "bundle: largest function + its layers (unzipped)"):
        assert " n/a " in rows[unmeasured] + " ", rows[unmeasured]
    assert "ALL 6 MEASURED TARGETS MET; 6 not measured in this run (n/a)" in proc.stdout
    assert "FAIL" not in proc.stdout and "NOT MET" not in proc.stdout


def test_a_rejected_input_fails_the_converters_targets(tmp_path: Path) -> None:
    summary = json.dumps({"status": "rejected", "reason": {"code": "invalid_rows", "message": "timestamp: '6/Jan/2018"
                                                                                            ":06:51:54' does not match"}}, indent=2)
    results = _csv_results(lake_cpu=1.8)
    results[0] = _result("weblogs-csv", "lakehouse", _run(0.9, 1.0, 150, 0, code=1, error=summary))
    proc = _bench("--from-json", str(_saved_report(tmp_path, results)))
    assert proc.returncode == 1
    row = _target_lines(proc.stdout)["CSV speed vs book (book s / lakehouse s)"]
    assert "FAIL" in row and "rejected, invalid_rows: timestamp: '6/Jan/2018:06:51:54'" in row


def test_a_failed_reference_is_reported_as_unmeasurable(tmp_path: Path) -> None:
    results = _csv_results(lake_cpu=1.8)
    results[1] = _result("weblogs-csv", "book", _run(30.0, 5.0, 9000, 0, code=-9, error="Killed"))
    proc = _bench("--from-json", str(_saved_report(tmp_path, results)))
    assert proc.returncode == 2, proc.stdout
    assert "book failed: Killed" in _target_lines(proc.stdout)["CSV CPU-seconds vs book"]
    assert "could not measure: book on weblogs-csv\n" in proc.stdout  # named once, not once per target


def test_lambda_cost_per_tb() -> None:
    # 2 CPU-seconds per 250 MB = 8,000 CPU-seconds per TB, at 1,769/1,024 GB and $0.0000166667 per GB-s.
    assert lambda_usd_per_tb(2.0, 250.0) == pytest.approx(8000 * 1769 / 1024 * 0.0000166667)
    assert lambda_usd_per_tb(2.0, 250.0) == pytest.approx(0.2303, abs=1e-4)


# ------------------------------------------------------------------------------------------ the inputs


def _generate(tmp_path: Path, kind: str, variant: str, name: str) -> bytes:
    target = tmp_path / name
    subprocess.run([sys.executable, str(BENCH / "generate.py"), kind, "0.3", str(target), "7", variant],
                   check=True, capture_output=True)
    return target.read_bytes()


def test_weblog_inputs_are_the_workshops_real_format(tmp_path: Path) -> None:
    plain = _generate(tmp_path, "weblogs", "lf", "a.csv")
    assert plain == _generate(tmp_path, "weblogs", "lf", "b.csv")  # deterministic
    lines = plain.decode().split("\n")
    assert lines[0] == "ip_address,username,timestamp,request,http,bytes" and lines[-1] == ""
    rows = [line.split(",") for line in lines[1:-1]]
    days = [int(r[2].split("/", 1)[0]) for r in rows]
    assert all(WORKSHOP_TIMESTAMP.match(r[2]) for r in rows)
    assert any(d < 10 for d in days) and not any(r[2].startswith("0") for r in rows)  # 6/Jan, never 06/Jan
    assert all(re.fullmatch(r"[a-z]{10}\d", r[1]) and re.fullmatch(r"(GET|POST|PUT|DELETE) /petstore/\w+/\w+", r[3])
               and 300 <= int(r[5]) <= 1000 for r in rows)

    quirky = _generate(tmp_path, "weblogs", "crlf-quoted", "c.csv")
    assert quirky.count(b"\r\n") == quirky.count(b"\n") and not quirky.endswith(b"\n")
    assert all(line.split(",")[3].startswith('"') for line in quirky.decode().split("\r\n")[1:])


def test_accelerometer_inputs_are_the_stedi_landing_format(tmp_path: Path) -> None:
    data = _generate(tmp_path, "accelerometer", "lf", "a.jsonl")
    assert data.endswith(b"}\n") and b"\r" not in data
    rows = [json.loads(line) for line in data.decode().splitlines()]
    assert all(list(r) == ["user", "timestamp", "x", "y", "z"] for r in rows)
    assert all(r["user"].endswith("@test.com") and r["x"] in (-1.0, 0.0, 1.0) and r["z"] in (-1.0, 0.0) for r in rows)
    assert b'"x":1.0' in data or b'"x":-1.0' in data  # floats written as the source writes them
    # Runs per user, timestamps stepping back and often repeated, as in the source.
    # (Two runs in a row may be the same user's, so "most", not "all".)
    same_user = [(a, b) for a, b in itertools.pairwise(rows) if a["user"] == b["user"]]
    assert len(same_user) > len(rows) / 2
    assert sum(b["timestamp"] <= a["timestamp"] for a, b in same_user) > 0.95 * len(same_user)
    assert sum(b["timestamp"] == a["timestamp"] for a, b in same_user) > 0.1 * len(same_user)
