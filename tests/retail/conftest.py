"""The retail medallion lab on the local stack: fixtures shared by its test modules."""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import lake_environment

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "pipelines"
SAMPLES = PIPELINES / "retail" / "samples"


def stop_spark() -> None:
    """Stop this process's Spark session, if one runs, so that each retail module starts from a fresh JVM state
    (its caches and the catalog settings of earlier lakes)."""
    from pyspark.sql import SparkSession

    session = SparkSession._instantiatedSession
    if session is not None:
        session.stop()


@dataclass(frozen=True)
class RetailDemo:
    """`lakehouse demo --pipeline retail`, run once for the session on a private lake and a copy of pipelines/."""

    code: int
    report: dict[str, Any]
    printed: str
    root: Path
    home: Path  # the saved lake (LAKEHOUSE_HOME): modules start it again read-only, so it stays as the demo left it
    pipelines: Path


@pytest.fixture(scope="session")
def retail_demo(tmp_path_factory: pytest.TempPathFactory) -> RetailDemo:
    from lakehouse_local.cli import main

    stop_spark()
    root = tmp_path_factory.mktemp("retail")
    home, pipelines = root / "home", root / "pipelines"
    shutil.copytree(PIPELINES, pipelines)
    printed = io.StringIO()
    with lake_environment(home, pipelines), redirect_stdout(printed):
        code = main(["demo", "--pipeline", "retail", "--json", str(root / "report.json")])
    stop_spark()
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    return RetailDemo(code, report, printed.getvalue(), root, home, pipelines)
