"""The generated state machines: small enough to read, wired completely by the template's generated section."""

from __future__ import annotations

import json
import re

from lakehouse.pipeline import Lake
from lakehouse.statemachine import build_definition
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import PIPELINES, REPO

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _template() -> dict:
    return yaml_parse((REPO / "template.yaml").read_text(encoding="utf-8"))


def _state_maps(definition: dict) -> list[dict]:
    maps = [definition["States"]]
    for state in definition["States"].values():
        for branch in state.get("Branches", []):
            maps.extend(_state_maps(branch))
    return maps


def test_stedi_is_one_task_and_one_catch_per_step() -> None:
    """Issue 14: the crawler design had 66 states for STEDI's five steps; the goal is at most 25."""
    lake = Lake.load(PIPELINES)
    definition = build_definition(lake, lake.pipeline("stedi"))
    states = [name for states in _state_maps(definition) for name in states]
    assert len(states) <= 25, states
    tasks = [n for n, s in definition["States"].items() if s["Type"] == "Task" and s["Resource"].startswith(
        "arn:aws:states:::glue")]
    assert tasks == ["customer_trusted", "accelerometer_trusted", "customer_curated", "step_trainer_trusted",
                     "machine_learning_curated"]


def test_every_state_machine_resource_substitutes_exactly_what_its_asl_uses() -> None:
    resources = {lid: r for lid, r in _template()["Resources"].items() if r["Type"] == "AWS::Serverless::StateMachine"}
    assert {r["Properties"]["DefinitionUri"] for r in resources.values()} == {
        f"statemachines/{p.name}.asl.json" for p in Lake.load(PIPELINES).pipelines.values() if p.steps}
    for lid, resource in resources.items():
        properties = resource["Properties"]
        text = (REPO / properties["DefinitionUri"]).read_text(encoding="utf-8")
        json.loads(text)  # valid JSON: substitutions only inside strings
        used, declared = set(PLACEHOLDER.findall(text)), set(properties["DefinitionSubstitutions"])
        assert used == declared, (lid, used ^ declared)


def test_every_catch_records_its_own_state_name() -> None:
    for path in (REPO / "statemachines").glob("*.asl.json"):
        for states in _state_maps(json.loads(path.read_text(encoding="utf-8"))):
            for name, state in states.items():
                for catch in state.get("Catch", []):
                    if name.endswith("NotifyFailure") or catch["ErrorEquals"] != ["States.ALL"]:
                        continue  # an alert that cannot be sent still ends in the Fail state; an expected error
                        # (a presentation table that does not exist yet) is a branch, not a failure
                    recorder = states[catch["Next"]]
                    step = name.split(".")[0]  # a step's states (<step>, <step>.Create...) report the step
                    assert recorder["Type"] == "Pass" and recorder["Parameters"]["state"] == step
