"""Glue's table optimizers of the presentation tables (issue 15), as the generated ASL enables them: after
``<step>.Create`` and after ``<step>.Replace``, three ``aws-sdk:glue:createTableOptimizer`` tasks with the stack's
role and retention parameters; an optimizer that exists already is left as it is, any other error alerts naming the
step. The states run here are the ones the local stack deployed (the retail machine's, substitutions applied), on
moto's interpreter against the local Glue (moto_patches 8 and 9)."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lakehouse.pipeline import Lake
from lakehouse.stackgen import generate
from lakehouse.statemachine import build_definition
from lakehouse_local.lake import LocalLake
from lakehouse_local.server import ACCOUNT_ID
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import PIPELINES, REPO

from .conftest import StandInJob, entered_states

TYPES = ["compaction", "retention", "orphan_file_deletion"]
SUFFIXES = ["Compaction", "Retention", "OrphanFiles"]


def _presentation_tables() -> tuple[list[str], list[str]]:
    lake = Lake.load(PIPELINES)
    steps = [s for s in lake.pipeline("retail").steps if s.engine == "athena"]
    return [s.name for s in steps if s.materialize == "table"], [s.name for s in steps if s.materialize == "view"]


TABLES, VIEWS = _presentation_tables()


def _states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a definition, branches included."""
    out = dict(definition["States"])
    for state in definition["States"].values():
        for branch in state.get("Branches", []):
            out.update(_states(branch))
    return out


def test_every_presentation_table_and_no_view_enables_three_optimizers_after_create_and_replace() -> None:
    assert TABLES, "retail has Athena table steps"
    for path in sorted((PIPELINES.parent / "statemachines").glob("*.asl.json")):
        pipeline = path.name.removesuffix(".asl.json")
        states = _states(json.loads(path.read_text(encoding="utf-8")))
        for step in TABLES if pipeline == "retail" else []:
            chain = [f"{step}.{suffix}" for suffix in SUFFIXES]
            assert states[f"{step}.Create"]["Next"] == states[f"{step}.Replace"]["Next"] == chain[0]
            for name, kind, after in zip(chain, TYPES, [*chain[1:], None]):
                assert len(name) <= 80
                state = states[name]
                assert state["Resource"] == "arn:aws:states:::aws-sdk:glue:createTableOptimizer"
                parameters = state["Parameters"]
                assert parameters["DatabaseName"] == "${PresentationDatabase}" and parameters["TableName"] == step
                assert parameters["Type"] == kind and parameters["CatalogId"] == "${AccountId}"
                assert parameters["TableOptimizerConfiguration"]["RoleArn"] == "${TableOptimizerRoleArn}"
                (exists, other) = state["Catch"]
                assert exists["ErrorEquals"] == ["Glue.AlreadyExistsException"] and exists["Next"] == state["Next"]
                assert other == {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": f"{step}.Caught"}
                if after is not None:
                    assert state["Next"] == after
        optimized = {s["Parameters"]["TableName"] for s in states.values()
                     if s.get("Resource", "").endswith("createTableOptimizer")}
        assert optimized == (set(TABLES) if pipeline == "retail" else set()), path.name
        assert not optimized & set(VIEWS)


def test_views_get_no_optimizers_and_their_machine_no_permission_to_enable_any(tmp_path: Path) -> None:
    """A view is no Iceberg table: retail with every presentation step a view has no optimizer states, no optimizer
    substitutions and no CreateTableOptimizer or PassRole in its role."""
    pipelines = tmp_path / "pipelines"
    shutil.copytree(PIPELINES, pipelines)
    path = pipelines / "retail" / "pipeline.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(
        "    zone: presentation\n", "    zone: presentation\n    materialize: view\n"), encoding="utf-8")
    lake = Lake.load(pipelines)
    assert {s.materialize for s in lake.pipeline("retail").steps if s.engine == "athena"} == {"view"}
    asl = json.dumps(build_definition(lake, lake.pipeline("retail")))
    assert "createTableOptimizer" not in asl and "${TableOptimizerRoleArn}" not in asl
    template = yaml_parse(generate(lake, REPO).files[REPO / "template.yaml"])
    machine = template["Resources"]["RetailStateMachine"]["Properties"]
    assert not {"AccountId", "TableOptimizerRoleArn", "SnapshotRetentionDays"} & set(machine["DefinitionSubstitutions"])
    actions = json.dumps(machine["Policies"])
    assert "glue:CreateTableOptimizer" not in actions and "iam:PassRole" not in actions


@pytest.fixture(scope="module")
def lake() -> Iterator[LocalLake]:
    local = LocalLake.start(executor=StandInJob(), poll=False)
    yield local
    local.stop()


@pytest.fixture
def optimizers(lake: LocalLake) -> Iterator[Any]:
    """Runs the deployed retail machine's optimizer states of one presentation table on their own, as a machine of
    the same role: ``<step>.Compaction`` -> ``<step>.Retention`` -> ``<step>.OrphanFiles`` -> Done, failures through
    ``<step>.Caught`` -> Failed."""
    sfn, glue = lake.aws.client("stepfunctions"), lake.aws.client("glue")
    deployed = json.loads(sfn.describe_state_machine(stateMachineArn=lake.state_machine_arn("retail"))["definition"])
    states = _states(deployed)
    database = str(lake.stack.outputs["PresentationDatabaseName"])
    made: list[str] = []

    def run(step: str, *, create_table: bool = True) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        if create_table and step not in made:
            glue.create_table(DatabaseName=database, TableInput={"Name": step, "TableType": "EXTERNAL_TABLE",
                                                                 "Parameters": {"table_type": "ICEBERG"}})
            made.append(step)
        chain = {f"{step}.{suffix}": dict(states[f"{step}.{suffix}"]) for suffix in SUFFIXES}
        for state in chain.values():  # the branch's own end (<step>.Done) becomes this machine's
            state["Next"] = "Done" if state["Next"] == f"{step}.Done" else state["Next"]
            state["Catch"] = [{**c, "Next": "Done" if c["Next"] == f"{step}.Done" else c["Next"]}
                              for c in state["Catch"]]
        definition = {"StartAt": f"{step}.Compaction", "States": {
            **chain,
            f"{step}.Caught": {**states[f"{step}.Caught"], "Next": "Failed"},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "ErrorPath": "$.failure.Error", "CausePath": "$.failure.Cause"},
        }}
        arn = sfn.create_state_machine(name=f"optimizers-{next(_numbers)}", definition=json.dumps(definition),
                                       roleArn=lake.stack.attrs["RetailStateMachineRole"]["Arn"])["stateMachineArn"]
        execution = lake.follow(sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"], timeout=60)
        return execution, execution["history"]

    yield run
    for step in made:
        glue.delete_table(DatabaseName=database, Name=step)


_numbers = itertools.count()


def _failures(history: list[dict[str, Any]]) -> list[str]:
    return [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]


def test_the_first_run_enables_the_three_optimizers_with_the_stacks_role_and_retention(
        lake: LocalLake, optimizers: Any) -> None:
    step = TABLES[0]
    execution, history = optimizers(step)
    assert execution["status"] == "SUCCEEDED", execution
    assert _failures(history) == []
    parameters = lake.stack.parameters
    found = lake.aws.client("glue").batch_get_table_optimizer(Entries=[
        {"catalogId": ACCOUNT_ID, "databaseName": str(lake.stack.outputs["PresentationDatabaseName"]),
         "tableName": step, "type": kind} for kind in TYPES])
    assert found["Failures"] == []
    configurations = {o["tableOptimizer"]["type"]: o["tableOptimizer"]["configuration"]
                      for o in found["TableOptimizers"]}
    role = lake.stack.attrs["TableOptimizerRole"]["Arn"]
    assert configurations == {  # JSON numbers in the request: the API's integers
        "compaction": {"roleArn": role, "enabled": True},
        "retention": {"roleArn": role, "enabled": True, "retentionConfiguration": {"icebergConfiguration": {
            "snapshotRetentionPeriodInDays": int(parameters["SnapshotRetentionDays"]),
            "numberOfSnapshotsToRetain": int(parameters["SnapshotsToRetain"]), "cleanExpiredFiles": True}}},
        "orphan_file_deletion": {"roleArn": role, "enabled": True, "orphanFileDeletionConfiguration": {
            "icebergConfiguration": {"orphanFileRetentionPeriodInDays": int(parameters["OrphanFileRetentionDays"])}}},
    }


def test_a_later_run_finds_them_and_goes_on(optimizers: Any) -> None:
    step = TABLES[-1]
    assert optimizers(step)[0]["status"] == "SUCCEEDED"
    execution, history = optimizers(step)
    assert execution["status"] == "SUCCEEDED", execution
    assert _failures(history) == ["Glue.AlreadyExistsException"] * 3
    assert entered_states(history) == [f"{step}.{suffix}" for suffix in SUFFIXES] + ["Done"]


def test_any_other_error_fails_the_step(optimizers: Any) -> None:
    """No table (EntityNotFound) is not an optimizer that exists: the step fails through its alert path, with Glue's
    error, at the first optimizer."""
    step = TABLES[0]
    execution, history = optimizers(step, create_table=False)
    assert execution["status"] == "FAILED" and execution["error"] == "Glue.EntityNotFoundException", execution
    assert f"Table {step} not found" in execution["cause"]
    assert entered_states(history) == [f"{step}.Compaction", f"{step}.Caught", "Failed"]
