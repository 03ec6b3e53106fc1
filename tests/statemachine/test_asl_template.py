"""The checked-in ASL matches its generator and the template wires every state machine completely."""

from __future__ import annotations

import json
import re

from lakehouse_local import asl

from .conftest import REPO, load_template, state_machine_resources

PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def test_checked_in_state_machines_equal_the_generator_output() -> None:
    generated = asl.generate(REPO)
    assert generated, "no pipelines/*/pipeline.yaml found"
    for path, text in generated.items():
        assert path.exists(), f"{path} missing: run `python -m lakehouse_local.asl`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `python -m lakehouse_local.asl`"
    checked_in = set((REPO / "statemachines").glob("*.asl.json"))
    assert checked_in == set(generated), "statemachines/ holds files no pipeline generates"


def test_every_pipeline_has_a_state_machine_resource() -> None:
    template = load_template()
    uris = {r["Properties"]["DefinitionUri"] for r in state_machine_resources(template).values()}
    for path in asl.generate(REPO):
        assert str(path.relative_to(REPO)) in uris


def test_definition_substitutions_cover_every_placeholder_and_nothing_more() -> None:
    template = load_template()
    for name, resource in state_machine_resources(template).items():
        properties = resource["Properties"]
        text = (REPO / properties["DefinitionUri"]).read_text(encoding="utf-8")
        json.loads(text)  # the file itself is valid JSON (substitutions only inside strings)
        used = set(PLACEHOLDER.findall(text))
        declared = set(properties["DefinitionSubstitutions"])
        assert used - declared == set(), f"{name}: ${{...}} without a substitution"
        assert declared - used == set(), f"{name}: substitutions the ASL never uses"


def test_glue_tasks_pass_exactly_the_job_arguments_the_script_expects() -> None:
    for path in asl.generate(REPO):
        definition = json.loads(path.read_text(encoding="utf-8"))
        for state in _all_states(definition):
            if state.get("Resource") == "arn:aws:states:::glue:startJobRun.sync":
                assert state["Parameters"]["JobName"] == "${GlueJobName}"
                assert set(state["Parameters"]["Arguments"]) == {"--pipeline", "--step", "--action"}
                retry = state["Retry"][0]
                assert "States.Timeout" not in retry["ErrorEquals"] and retry["JitterStrategy"] == "FULL"
                assert state["Catch"][0]["ErrorEquals"] == ["States.ALL"]


def test_every_catch_records_its_own_state_name() -> None:
    for path in asl.generate(REPO):
        definition = json.loads(path.read_text(encoding="utf-8"))
        for states in _state_maps(definition):
            for name, state in states.items():
                for catch in state.get("Catch", []):
                    if name.endswith("NotifyFailure"):
                        continue  # an alert that cannot be sent still ends in the Fail state
                    recorder = states[catch["Next"]]
                    assert recorder["Type"] == "Pass" and recorder["Parameters"]["state"] == name


def _state_maps(definition: dict) -> list[dict]:
    maps = [definition["States"]]
    for state in definition["States"].values():
        for branch in state.get("Branches", []):
            maps.extend(_state_maps(branch))
    return maps


def _all_states(definition: dict) -> list[dict]:
    return [state for states in _state_maps(definition) for state in states.values()]
