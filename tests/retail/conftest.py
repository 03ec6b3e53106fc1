"""The retail medallion lab on the local stack: fixtures shared by its test modules."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "pipelines"
SAMPLES = PIPELINES / "retail" / "samples"


def stop_spark() -> None:
    """Stop this process's Spark session, if one runs. Every session a Glue step opens (``newSession``) inherits the
    catalog endpoint of the lake that started Spark in this process: a lake started later must start Spark anew."""
    from pyspark.sql import SparkSession

    session = SparkSession._instantiatedSession
    if session is not None:
        session.stop()


@contextmanager
def lake_environment(home: Path, pipelines: Path) -> Iterator[None]:
    """The commands of this process use a private .lakehouse and a copy of pipelines/ (never the developer's)."""
    names = ("LAKEHOUSE_HOME", "LAKEHOUSE_PIPELINES_DIR")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["LAKEHOUSE_HOME"], os.environ["LAKEHOUSE_PIPELINES_DIR"] = str(home), str(pipelines)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


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
