"""`lakehouse run --from STEP`: the generated state machine starts at STEP's wave (input ``{"from": STEP}``), on the
local stack with a stand-in for the Glue job (the ASL is the real one; tests/statemachine covers the rest of it)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from lakehouse_local.lake import LocalLake, execution_history

pytestmark = [pytest.mark.slow]


class StandInJob:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def __call__(self, job: str, argv: list[str]) -> None:
        self.steps.append(dict(zip(argv[::2], argv[1::2]))["--step"])


@pytest.fixture(scope="module")
def lake() -> Iterator[tuple[LocalLake, StandInJob]]:
    job = StandInJob()
    lake = LocalLake.start(executor=job)
    yield lake, job
    lake.stop()


def _run(lake: LocalLake, pipeline: str, execution_input: dict) -> dict:
    return lake.follow(lake.start_execution(pipeline, execution_input), timeout=60)


def test_from_a_step_skips_the_steps_before_it(lake: tuple[LocalLake, StandInJob]) -> None:
    local, job = lake
    job.steps.clear()
    execution = _run(local, "stedi", {"from": "customer_curated"})
    assert execution["status"] == "SUCCEEDED", execution
    assert job.steps == ["customer_curated", "step_trainer_trusted", "machine_learning_curated"]


def test_from_a_step_in_a_parallel_wave_runs_that_wave(lake: tuple[LocalLake, StandInJob]) -> None:
    local, job = lake
    job.steps.clear()
    assert _run(local, "weblogs", {"from": "userprofile_secure"})["status"] == "SUCCEEDED"
    assert sorted(job.steps[:2]) == ["useractivity_flat", "userprofile_secure"] and len(job.steps) == 4
    job.steps.clear()
    assert _run(local, "weblogs", {"from": "page_views_by_state"})["status"] == "SUCCEEDED"
    assert job.steps == ["page_views_by_state"]


def test_an_unknown_step_fails_the_run_with_one_alert_naming_the_steps(lake: tuple[LocalLake, StandInJob]) -> None:
    local, job = lake
    job.steps.clear()
    local.alerts()
    execution = _run(local, "stedi", {"from": "no_such_step"})
    assert execution["status"] == "FAILED"
    assert execution["error"] == "Lakehouse.UnknownStep"
    assert "no_such_step" in execution["cause"] and "customer_trusted, accelerometer_trusted" in execution["cause"]
    assert job.steps == []
    alerts = local.alerts()
    assert len(alerts) == 1 and json.loads(alerts[0]["message"])["failed_state"] == "StartFrom"
    entered = [e["stateEnteredEventDetails"]["name"] for e in
               execution_history(local.aws.client("stepfunctions"), execution["executionArn"])
               if e["type"].endswith("StateEntered")]
    assert entered[-4:] == ["UnknownStep", "DescribeFailure", "NotifyFailure", "PipelineFailed"]
