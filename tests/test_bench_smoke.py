"""Smoke test of the benchmark (issue 6): it runs end to end on small inputs and reports every target.

Timings are never asserted here: they are a report (`make bench`), not a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_quick_report_structure(tmp_path: Path) -> None:
    report_file = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--runs", "1", "--json", str(report_file),
         "--workdir", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Targets (issue 6)" in proc.stdout
    report = json.loads(report_file.read_text())

    results = report["results"]
    seen = {(r["dataset"], r["size"], r["contender"]) for r in results}
    for dataset in ("weblogs-csv", "accel-jsonl"):
        for contender in ("lakehouse", "book", "pyarrow", "duckdb"):
            assert (dataset, "main", contender) in seen
        assert (dataset, "big", "lakehouse") in seen
    for r in results:
        assert r["status"] == "ok", r
        assert len(r["runs"]) == 1
        for key in ("median_s", "mb_per_s", "peak_rss_mb", "output_mb"):
            assert isinstance(r[key], (int, float)) and r[key] > 0, (key, r)

    names = [t["target"] for t in report["targets"]]
    assert len(names) == 9
    for t in report["targets"]:
        assert t["status"] in ("PASS", "FAIL", "N/A")
        assert t["threshold"]
    assert report["import"]["status"] in ("ok", "missing", "error")
    assert report["bundle"]["status"] in ("ok", "not built")
    for line in ("Contenders", "Handler import", "Bundle"):
        assert line in proc.stdout

    inputs = {(i["dataset"], i["size"]): i for i in report["inputs"]}
    assert inputs[("weblogs-csv", "main")]["rows"] > 1000


def test_generated_inputs_are_deterministic(tmp_path: Path) -> None:
    digests = []
    for attempt in range(2):
        target = tmp_path / f"{attempt}" / "useractivity.csv"
        subprocess.run([sys.executable, str(ROOT / "bench" / "generate.py"), "weblogs", "0.5", str(target)],
                       check=True, capture_output=True)
        digests.append(target.read_bytes())
    assert digests[0] == digests[1]
    assert digests[0].startswith(b"ip_address,username,timestamp,request,http,bytes\n")
