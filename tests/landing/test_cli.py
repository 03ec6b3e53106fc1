"""`lakehouse convert`: the same converter on local files, a JSON summary, and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def lakehouse(*args: str) -> tuple[int, dict]:
    result = subprocess.run([LAKEHOUSE, *args], cwd=REPO, capture_output=True, text=True, check=False)
    stream = result.stdout if result.stdout.strip() else result.stderr
    return result.returncode, json.loads(stream)


def test_stedi_customer_file_converts_one_row_per_line_with_typed_columns(tmp_path):
    sample = REPO / "pipelines/stedi/samples/stedi/customer/customers-1.json"
    lines = [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]
    assert any("shareWithResearchAsOfDate" not in line for line in lines), "the sample must omit optional keys"
    code, summary = lakehouse(
        "convert", "--pipeline", "stedi", "--dataset", "customer", "--input", str(sample), "--output", str(tmp_path)
    )
    assert code == 0 and summary["status"] == "converted"
    assert summary["rows_written"] == len(lines) and summary["rows_rejected"] == 0
    table = pq.read_table(summary["output_files"][0])
    assert table.num_rows == len(lines)
    assert str(table.schema.field("registrationDate").type) == "int64"
    assert str(table.schema.field("shareWithResearchAsOfDate").type) == "int64"
    assert str(table.schema.field("birthDay").type) == "date32[day]"
    assert summary["schema"]["lastUpdateDate"] == "bigint"


def test_rejected_file_exits_1_with_reasons(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ip_address,username,timestamp,request,http,bytes\n1.1.1.1,a,17/Jan/2018:10:43:54,GET /,oops,1\n")
    code, summary = lakehouse(
        "convert", "--pipeline", "weblogs", "--dataset", "useractivity", "--input", str(bad), "--output", str(tmp_path / "o")
    )
    assert code == 1 and summary["status"] == "rejected"
    assert summary["reason"]["errors"] == [{"row": 1, "column": "http", "message": "not a valid int: 'oops'"}]


def test_unknown_dataset_is_a_usage_error(tmp_path):
    code, summary = lakehouse(
        "convert", "--pipeline", "stedi", "--dataset", "nope", "--input", "x", "--output", str(tmp_path)
    )
    assert code == 2 and "no contract stedi.nope" in summary["error"]


def test_the_console_script_removes_its_work_folder_before_it_exits(tmp_path):
    """The script skips the garbage collector's passes at exit (cli.run); the work folder must still go."""
    sample = REPO / "pipelines/stedi/samples/stedi/customer/customers-1.json"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = subprocess.run(
        [LAKEHOUSE, "convert", "--pipeline", "stedi", "--dataset", "customer", "--input", str(sample),
         "--output", str(tmp_path / "out")],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)}, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "converted"
    assert list(scratch.iterdir()) == []
