"""`lakehouse demo` end to end: local AWS (moto server), the stack from template.yaml, the real ConvertFunction handler
behind the SQS poller, the real ASL on moto's interpreter, the real Glue job in local Spark on Iceberg, the report,
a quiet console, and the lake kept for the next command.

One subprocess runs every shipped example with data (stedi, weblogs) and a pipeline scaffolded by `lakehouse new
pipeline` plus one SQL file, in a copy of pipelines/, exactly as a user's terminal sees it (the JVM's output too).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from lakehouse_local.cli import main

from tests.conftest import lake_environment

from .conftest import landing_folder

pytestmark = [pytest.mark.slow, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[2]
STEDI_TABLES = {
    "customer_landing": "raw", "accelerometer_landing": "raw", "step_trainer_landing": "raw",
    "customer_trusted": "trusted", "accelerometer_trusted": "trusted", "step_trainer_trusted": "trusted",
    "customer_curated": "curated", "machine_learning_curated": "curated",
}
WEBLOGS_TABLES = {
    "useractivity": "raw", "userprofile": "raw", "zipcodes": "raw", "useractivity_flat": "trusted",
    "userprofile_secure": "trusted", "activity_by_profile": "curated", "page_views_by_state": "curated",
}
SALES_SQL = """-- the one SQL file written by hand: totals per day
SELECT created_on, count(*) AS records, sum(amount) AS amount
FROM raw.records
GROUP BY created_on
"""
# What the terminal may show on a good run: the log file's path, progress lines and the report. Anything else (a
# JSON log line, a Spark/Ivy/SLF4J banner, a warning, a traceback) belongs in the log file.
PROGRESS = re.compile(
    r"^(logs: |lakehouse demo: |local AWS at |batch \d+: |  object |execution |  state  |  glue   |  athena |regenerated |"
    r"the lake is saved in |== report|  (raw|trusted|curated|presentation) |  objects: |  alerts: |"
    r"  execution: |$)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("demo")
    home, pipelines = root / "home", root / "pipelines"
    shutil.copytree(REPO / "pipelines", pipelines)
    env = {**os.environ, "LAKEHOUSE_HOME": str(home), "LAKEHOUSE_PIPELINES_DIR": str(pipelines)}
    lakehouse = [sys.executable, "-m", "lakehouse_local.cli"]
    scaffold = subprocess.run([*lakehouse, "new", "pipeline", "sales"], env=env, cwd=root, capture_output=True,
                              text=True, check=False)
    assert scaffold.returncode == 0, scaffold.stdout + scaffold.stderr
    (pipelines / "sales" / "steps" / "records_trusted.sql").write_text(SALES_SQL)
    report_file = root / "report.json"
    result = subprocess.run(
        [*lakehouse, "demo", "--pipeline", "stedi", "--pipeline", "weblogs", "--pipeline", "sales", "--fresh",
         "--json", str(report_file)],
        env=env, cwd=root, capture_output=True, text=True, check=False, timeout=900)
    with lake_environment(home, pipelines):
        yield {"result": result, "report": json.loads(report_file.read_text()) if report_file.is_file() else None,
               "home": home}


def test_every_pipeline_succeeds_with_rows_in_every_table(demo: dict[str, Any]) -> None:
    result, report = demo["result"], demo["report"]
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert [(e["pipeline"], e["status"]) for e in report["executions"]] == [
        ("stedi", "SUCCEEDED"), ("weblogs", "SUCCEEDED"), ("sales", "SUCCEEDED")]
    for table, zone in {**STEDI_TABLES, **WEBLOGS_TABLES, "records": "raw", "records_trusted": "trusted"}.items():
        assert report["tables"][table]["zone"] == zone
        assert report["tables"][table]["rows"] > 0, (table, report["tables"][table])
    assert report["tables"]["records_trusted"]["rows"] == 3  # three days in the scaffold's example file
    raw = sum(t["rows"] for t in report["tables"].values() if t["zone"] == "raw")
    assert raw == sum(o["rows"] for o in report["objects"])
    assert all(o["status"] == "converted" for o in report["objects"])
    assert report["alerts"] == []


def test_a_good_run_shows_progress_and_the_report_only(demo: dict[str, Any]) -> None:
    """Issue 17: no function log lines, Spark banners or warnings on the terminal; they are in the log file."""
    result = demo["result"]
    lines = (result.stdout + result.stderr).splitlines()
    assert not [line for line in lines if not PROGRESS.match(line)]
    # issue 13, finding 4: a good run prints no failure, not even a delivery that is still converting
    assert [line for line in lines if line.startswith("  object ") and not line.startswith("  object converted")] == []
    assert "  state  customer_trusted" in lines and "  execution: sales batch 1: SUCCEEDED" in lines
    log = demo["home"] / lines[0].removeprefix("logs: ")
    assert lines[0].startswith("logs: ") and log.is_file() and log.stat().st_size > 0


def test_the_lake_is_kept_for_the_next_command(demo: dict[str, Any]) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["status", "--json"]) == 0
    status = json.loads(out.getvalue())
    assert status["objects"] == len(demo["report"]["objects"])
    ran = {p["pipeline"]: [e["status"] for e in p["executions"]] for p in status["pipelines"]}
    assert ran["stedi"] == ran["weblogs"] == ran["sales"] == ["SUCCEEDED"]
    out = io.StringIO()
    with redirect_stdout(out):  # issue 15: `lakehouse query` on the lake the last demo left, with no `up` running
        assert main(["query", "--json", "SELECT count(*) AS n FROM curated.machine_learning_curated"]) == 0
    assert json.loads(out.getvalue()) == [{"n": demo["report"]["tables"]["machine_learning_curated"]["rows"]}]


def test_accelerometer_only_fails_at_the_first_step_with_one_alert(tmp_path: Path, demo: dict[str, Any],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    landing = landing_folder(tmp_path / "landing", "stedi", ["accelerometer"])
    out = tmp_path / "out.json"
    code = main(["demo", "--pipeline", "stedi", "--fresh", "--landing", str(landing), "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    execution = json.loads(out.read_text())["execution"]
    assert execution["status"] == "FAILED"
    assert execution["failed_state"] == "customer_trusted"
    assert execution["error"] == "States.TaskFailed"
    assert "customer_trusted row_count(min=1)" in execution["cause"]
    alerts = json.loads(out.read_text())["alerts"]
    assert len(alerts) == 1 and json.loads(alerts[0]["message"])["failed_state"] == "customer_trusted"
    assert "failed state: customer_trusted" in printed
