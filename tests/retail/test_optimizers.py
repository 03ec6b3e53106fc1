"""Glue's table optimizers on every Iceberg table of the retail lab (issue 15), after `lakehouse demo --pipeline
retail`: batch 1 builds each presentation table (``<step>.Create``) and enables its optimizers, batch 2 replaces it
(``<step>.Replace``) and finds them there; the Glue job enables those of the curated tables. Checked on the lake the
demo saved (the local Glue records the optimizers and the saved lake keeps them), then one more run of the last wave
on it finds every optimizer in place and goes on."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lakehouse.pipeline import Lake
from lakehouse_local.lake import ZONE_DATABASES, LocalLake
from lakehouse_local.server import ACCOUNT_ID
from samtranslator.yaml_helper import yaml_parse

from .conftest import REPO, RetailDemo, stop_spark

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TYPES = ["compaction", "retention", "orphan_file_deletion"]
SUFFIXES = ["Compaction", "Retention", "OrphanFiles"]
PARAMETERS = yaml_parse((REPO / "template.yaml").read_text(encoding="utf-8"))["Parameters"]


@dataclass
class Demo:
    code: int
    report: dict[str, Any]
    printed: str
    pipelines: Path
    lake: LocalLake  # the lake the demo saved, started again (read-only)

    def optimizers(self, zone: str, table: str) -> dict[str, Any]:
        """The table's optimizers by type, as the local Glue has them."""
        database = str(self.lake.stack.outputs[ZONE_DATABASES[zone]])
        found = self.lake.aws.client("glue").batch_get_table_optimizer(Entries=[
            {"catalogId": ACCOUNT_ID, "databaseName": database, "tableName": table, "type": kind} for kind in TYPES])
        assert [f["error"]["ErrorCode"] for f in found["Failures"]] == [], (zone, table, found["Failures"])
        return {o["tableOptimizer"]["type"]: o["tableOptimizer"]["configuration"] for o in found["TableOptimizers"]}


@pytest.fixture(scope="module")
def demo(retail_demo: RetailDemo) -> Iterator[Demo]:
    lake = LocalLake.start(work_dir=retail_demo.home, pipelines_dir=retail_demo.pipelines, persistence="read",
                           poll=False)
    try:
        yield Demo(retail_demo.code, retail_demo.report, retail_demo.printed, retail_demo.pipelines, lake)
    finally:
        lake.stop()
        stop_spark()


def _expected(role: str) -> dict[str, Any]:
    """The three optimizers with the template's retention parameters (their defaults: the local stack's values)."""
    def number(name: str) -> int:
        return int(PARAMETERS[name]["Default"])

    return {
        "compaction": {"roleArn": role, "enabled": True},
        "retention": {"roleArn": role, "enabled": True, "retentionConfiguration": {"icebergConfiguration": {
            "snapshotRetentionPeriodInDays": number("SnapshotRetentionDays"),
            "numberOfSnapshotsToRetain": number("SnapshotsToRetain"), "cleanExpiredFiles": True}}},
        "orphan_file_deletion": {"roleArn": role, "enabled": True, "orphanFileDeletionConfiguration": {
            "icebergConfiguration": {"orphanFileRetentionPeriodInDays": number("OrphanFileRetentionDays")}}},
    }


def test_both_batches_succeed_the_second_replacing_tables_whose_optimizers_exist(demo: Demo) -> None:
    assert demo.code == 0, demo.printed
    executions = [(e["batch"], e["status"]) for e in demo.report["executions"]]
    assert executions == [(1, "SUCCEEDED"), (2, "SUCCEEDED")]
    assert demo.report["alerts"] == []


def test_every_iceberg_table_has_the_three_optimizers_with_the_stacks_role_and_retention(demo: Demo) -> None:
    definition = Lake.load(demo.pipelines)
    steps = definition.pipeline("retail").steps
    presentation = [s.name for s in steps if s.engine == "athena" and s.materialize == "table"]
    curated = [s.name for s in steps if s.engine == "glue"]
    assert presentation and curated
    role = demo.lake.stack.attrs["TableOptimizerRole"]["Arn"]
    assert role.startswith(f"arn:aws:iam::{ACCOUNT_ID}:role/")
    expected = _expected(role)
    for name in presentation:
        assert demo.optimizers("presentation", name) == expected, name
    for name in curated:  # enabled by the Glue job
        assert demo.optimizers("curated", name) == expected, name


def test_another_run_finds_every_optimizer_in_place_and_goes_on(demo: Demo) -> None:
    """The last wave's presentation tables (Replace), once more on the saved lake: each CreateTableOptimizer answers
    Glue.AlreadyExistsException, which the state machine takes as done."""
    lake = demo.lake
    lake.alerts()
    definition = Lake.load(demo.pipelines)
    waves = definition.stages(definition.pipeline("retail"))
    last = [s.name for s in waves[-1] if s.engine == "athena" and s.materialize == "table"]
    assert last
    execution = lake.run_pipeline("retail", {"from": last[0]})
    assert execution["status"] == "SUCCEEDED", execution
    history = execution["history"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
    failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failures == ["Glue.AlreadyExistsException"] * 3 * len(last)
    for name in last:
        assert f"{name}.Create" not in entered
        chain = [state for state in entered if state.startswith(f"{name}.")]
        assert chain == [f"{name}.Replace", *(f"{name}.{suffix}" for suffix in SUFFIXES), f"{name}.Done"]
        assert demo.optimizers("presentation", name) == _expected(lake.stack.attrs["TableOptimizerRole"]["Arn"])
    assert lake.alerts() == []
