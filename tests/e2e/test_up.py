"""Issue 17's local lake that lasts, end to end: `lakehouse up` in a subprocess (moto, the poller, the real Glue job in
local Spark), the commands run in this process against it, then `lakehouse down` and `lakehouse up` again."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from lakehouse_local.cli import main
from lakehouse_local.server import free_port

from tests.conftest import Up

pytestmark = [pytest.mark.slow, pytest.mark.spark]

REPO = Path(__file__).resolve().parents[2]
TABLES = ("customer_landing", "accelerometer_landing", "step_trainer_landing", "customer_trusted",
          "accelerometer_trusted", "customer_curated", "step_trainer_trusted", "machine_learning_curated")


def _json(*args: str) -> tuple[int, Any]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main([*args, "--json"])
    return code, json.loads(out.getvalue())


def _ledger(up: Up) -> dict[str, dict[str, Any]]:
    from lakehouse.ledger import Ledger

    outputs = json.loads((up.home / "up.json").read_text())["outputs"]
    return {e.key: e.__dict__ for e in Ledger(up.client("dynamodb"), outputs["ObjectLedgerTableName"]).scan()}


def test_two_consecutive_runs_of_stedi_both_succeed(up: Up) -> None:
    code, uploaded = _json("upload", str(REPO / "pipelines" / "stedi" / "samples"), "--wait")
    assert code == 0 and {o["state"] for o in uploaded["outcomes"]} == {"converted"}
    reports = []
    for _ in range(2):
        code, report = _json("run", "--pipeline", "stedi", "--wait")
        assert code == 0 and report["status"] == "SUCCEEDED", report
        reports.append(report)
    assert reports[0]["name"] != reports[1]["name"]
    for report in reports:
        assert set(report["tables"]) == set(TABLES)
        assert all(t["rows"] > 0 for t in report["tables"].values()), report["tables"]
    # the second run read no new raw file: the incremental, merged tables are unchanged
    assert reports[1]["tables"] == reports[0]["tables"]
    code, status = _json("status")
    names = [e["name"] for e in next(p for p in status["pipelines"] if p["pipeline"] == "stedi")["executions"]]
    assert names[:2] == [reports[1]["name"], reports[0]["name"]]
    RUNS.extend(reports)


RUNS: list[dict[str, Any]] = []  # the reports of the runs above


def test_down_and_up_keep_the_tables_and_the_ledger(up: Up) -> None:
    if not RUNS:
        pytest.skip("needs the runs of test_two_consecutive_runs_of_stedi_both_succeed")
    before = RUNS[-1]
    ledger = _ledger(up)
    assert main(["down"]) == 0
    assert not (up.home / "up.json").exists()
    assert up.process is not None and up.process.wait(timeout=10) == 0

    code, stopped = _json("status")  # no `up`: the saved lake, started in this process for the command
    assert code == 0 and stopped["objects"] == len(ledger) and "in this process" in stopped["where"]

    up.port = free_port()
    up.start()
    assert _ledger(up) == ledger
    # Spark reads and writes the restored Iceberg tables
    code, after = _json("run", "--pipeline", "stedi", "--from", "machine_learning_curated", "--wait")
    assert code == 0 and after["status"] == "SUCCEEDED", after
    assert list(after["steps"]) == ["machine_learning_curated"]  # --from skipped the four steps before it
    assert after["tables"] == before["tables"]
    from lakehouse_local.query import LocalQuery

    databases = {zone: f"lakehouse_local_{zone}" for zone in ("raw", "trusted", "curated", "presentation")}
    query = LocalQuery(up.client, up.endpoint, databases)
    rows = query.run("SELECT count(*) AS n FROM curated.machine_learning_curated").to_pylist()
    assert rows == [{"n": before["tables"]["machine_learning_curated"]["rows"]}]


def test_the_readme_aws_cli_example_runs_as_written_against_up(up: Up) -> None:
    """README "Run it locally": the AWS CLI (installed by make setup) uploads the stedi sample set to the running
    `lakehouse up`, starts a named execution and reads its status: SUCCEEDED. Only the port differs (4566 there)."""
    import re
    import subprocess
    import time

    from tests.test_readme import README

    (block,) = [b for b in re.findall(r"```bash\n(.*?)```", README, re.DOTALL) if "stepfunctions start-execution" in b]
    script = block.split("# sam local invoke")[0].replace("127.0.0.1:4566", f"127.0.0.1:{up.port}")
    env = {"PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(up.home)}
    done = subprocess.run(["bash", "-ec", script + '\necho "execution=$ARN"'], cwd=REPO, env=env,
                          capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-2] in ("RUNNING", "SUCCEEDED"), done.stdout  # describe-execution's answer
    arn = done.stdout.splitlines()[-1].removeprefix("execution=")
    assert ":execution:lakehouse-local-stedi:stedi-" in arn
    deadline = time.monotonic() + 300
    while (status := up.client("stepfunctions").describe_execution(executionArn=arn)["status"]) == "RUNNING":
        assert time.monotonic() < deadline, "the README's execution is still running"
        time.sleep(2)
    assert status == "SUCCEEDED"
