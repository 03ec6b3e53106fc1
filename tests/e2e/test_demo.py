"""`lakehouse demo` end to end, in this process: local AWS (moto server), the stack from template.yaml, the real
ConvertFunction handler behind the SQS poller, the real ASL on moto's interpreter, the real Glue script in local
Spark, crawler tables, and the report (stdout and --json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse_local.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.spark]

STEDI_TABLES = {
    "customer_landing": "raw", "accelerometer_landing": "raw", "step_trainer_landing": "raw",
    "customer_trusted": "trusted", "accelerometer_trusted": "trusted", "step_trainer_trusted": "trusted",
    "customer_curated": "curated", "machine_learning_curated": "curated",
}
WEBLOGS_TABLES = {
    "useractivity": "raw", "userprofile": "raw", "zipcodes": "raw",
    "useractivity_flat": "trusted", "userprofile_secure": "trusted",
}


def _demo(capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    out = tmp_path / "out.json"
    code = main(["demo", *args, "--json", str(out)])
    return code, json.loads(out.read_text()), capsys.readouterr().out


def test_stedi_landing_folder_reports_every_table_with_rows(
    stedi_landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, printed = _demo(capsys, tmp_path, "--pipeline", "stedi", "--landing", str(stedi_landing))
    assert code == 0, printed
    assert report["pipeline"] == "stedi"
    assert report["execution"]["status"] == "SUCCEEDED"
    assert report["execution"]["failed_state"] is None
    for table, zone in STEDI_TABLES.items():
        assert report["tables"][table]["zone"] == zone
        assert report["tables"][table]["database"] == f"lakehouse_local_{zone}"
        assert report["tables"][table]["rows"] > 0, (table, report["tables"][table])
    keys = sorted(p.relative_to(stedi_landing).as_posix() for p in stedi_landing.rglob("*") if p.is_file())
    assert sorted(o["key"] for o in report["objects"]) == keys
    assert all(o["status"] == "converted" and o["rows"] > 0 and o["reason"] is None for o in report["objects"])
    raw_rows = sum(report["tables"][t]["rows"] for t, z in STEDI_TABLES.items() if z == "raw")
    assert raw_rows == sum(o["rows"] for o in report["objects"])
    assert report["alerts"] == []
    # progress as it goes: objects, states, Glue steps with rows, then the report
    assert "object converted" in printed
    assert "state  customer_trusted.QualityGate" in printed
    assert "glue   machine_learning_curated (build): SUCCEEDED" in printed
    assert "execution: SUCCEEDED" in printed


def test_accelerometer_only_fails_at_the_gate_with_an_alert(
    accelerometer_only_landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report, printed = _demo(capsys, tmp_path, "--pipeline", "stedi", "--landing",
                                  str(accelerometer_only_landing))
    assert code == 1
    execution = report["execution"]
    assert execution["status"] == "FAILED"
    assert execution["failed_state"] == "customer_trusted.QualityGate"
    assert execution["error"] == "States.TaskFailed"
    assert "customer_trusted row_count" in execution["cause"]
    assert len(report["alerts"]) == 1
    alert = report["alerts"][0]
    assert alert["subject"] == "[lakehouse-local] pipeline stedi failed"
    message = json.loads(alert["message"])
    assert message["failed_state"] == "customer_trusted.QualityGate"
    assert message["pipeline"] == "stedi"
    assert report["tables"]["accelerometer_landing"]["rows"] > 0
    assert report["tables"]["customer_landing"]["rows"] == 0
    assert "failed state: customer_trusted.QualityGate" in printed


def test_weblogs_samples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, printed = _demo(capsys, tmp_path, "--pipeline", "weblogs")
    assert code == 0, printed
    assert report["execution"]["status"] == "SUCCEEDED"
    for table, zone in WEBLOGS_TABLES.items():
        assert report["tables"][table]["zone"] == zone
        assert report["tables"][table]["rows"] > 0, (table, report["tables"][table])
    assert {t["zone"] for t in report["tables"].values()} == {"raw", "trusted", "curated"}
    assert all(t["rows"] > 0 for t in report["tables"].values()), report["tables"]
