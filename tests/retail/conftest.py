"""The retail medallion lab on the local stack: fixtures shared by its test modules."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
