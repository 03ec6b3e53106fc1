"""Athena steps. A presentation table's rerun (``<step>.Replace``: one MERGE keyed on the step's keys) leaves the
table equal to the step's result, on the local Athena (DuckDB) through the deployed state machine, rows whose key is
NULL included: a MERGE on `=` never matches them, so every rerun inserted them again (1, 3, 7, ... rows). An Athena
step cannot declare expectations."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lakehouse_local.lake import ZONE_DATABASES, LocalLake
from lakehouse_local.query import LocalQuery

from tests.conftest import PIPELINES

from .conftest import StandInJob

RESULT = "SELECT k, x FROM (VALUES (1, 'one'), (CAST(NULL AS integer), 'no key'), (2, 'two')) AS v(k, x)"


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipelines") / "pipelines"
    shutil.copytree(PIPELINES, root)
    (root / "shown" / "steps").mkdir(parents=True)
    (root / "shown" / "pipeline.yaml").write_text("steps:\n  - {name: shown_table, zone: presentation, keys: [k]}\n")
    (root / "shown" / "steps" / "shown_table.sql").write_text(RESULT)
    return root


@pytest.fixture(scope="module")
def lake(pipelines: Path) -> Iterator[LocalLake]:
    local = LocalLake.start(executor=StandInJob(), poll=False, pipelines_dir=pipelines)
    yield local
    local.stop()


def _rows(lake: LocalLake) -> list[tuple[object, object]]:
    engine = LocalQuery(lake.aws.client, lake.aws.endpoint,
                        {z: str(lake.stack.outputs[k]) for z, k in ZONE_DATABASES.items()})
    return sorted(((r["k"], r["x"]) for r in engine.run("SELECT k, x FROM presentation.shown_table").to_pylist()),
                  key=repr)


def test_reruns_keep_the_table_equal_to_the_result_null_keys_included(lake: LocalLake) -> None:
    for _ in range(3):  # Create, then Replace twice
        assert lake.run_pipeline("shown")["status"] == "SUCCEEDED"
        assert _rows(lake) == [(1, "one"), (2, "two"), (None, "no key")]


def test_an_athena_step_with_expectations_is_refused_naming_where_they_belong() -> None:
    """Nothing checks an Athena step's output before it is visible: expectations there would be a gate that is not."""
    from lakehouse.pipeline import Step
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="expectations are the quality gate of glue steps"):
        Step.model_validate({"name": "report", "zone": "presentation", "keys": ["k"],
                             "expectations": [{"type": "row_count", "min": 1}]})
