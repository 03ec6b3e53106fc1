"""The generated pipeline state machines on moto's Step Functions interpreter, in the local stack: each step is one
Glue job run in dependency order, and any failure sends one structured alert and ends with the original error."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Harness, entered_states

REPO = Path(__file__).resolve().parents[2]

STEDI_STEPS = ["customer_trusted", "accelerometer_trusted", "customer_curated", "step_trainer_trusted",
               "machine_learning_curated"]
WEBLOGS_STEPS = ["useractivity_flat", "userprofile_secure", "activity_by_profile", "page_views_by_state"]


def test_stedi_runs_one_job_per_step_in_dependency_order(harness: Harness) -> None:
    execution = harness.run("stedi", {"trigger": "manual"})
    assert execution["status"] == "SUCCEEDED", execution
    assert harness.job.steps() == STEDI_STEPS
    for run in harness.job.runs:
        assert run["--pipeline"] == "stedi" and run["--full-refresh"] == "false"
        assert run["--trusted-database"] == "lakehouse_local_trusted"  # the job's DefaultArguments, from the template
    output = json.loads(execution["output"])
    assert output["steps"] == STEDI_STEPS and output["options"] == {"full_refresh": False, "trigger": "manual"}
    assert harness.lake.alerts() == []


def test_independent_steps_run_as_branches_of_one_wave(harness: Harness) -> None:
    execution = harness.run("weblogs")
    assert execution["status"] == "SUCCEEDED", execution
    assert sorted(harness.job.steps()[:2]) == ["useractivity_flat", "userprofile_secure"]
    assert harness.job.steps()[2:] == ["activity_by_profile", "page_views_by_state"]
    assert "Wave1" in entered_states(harness.history(execution))


def test_a_full_refresh_is_one_input_flag_away(harness: Harness) -> None:
    assert harness.run("stedi", {"full_refresh": True})["status"] == "SUCCEEDED"
    assert {run["--full-refresh"] for run in harness.job.runs} == {"true"}


def test_repeated_executions_of_one_state_machine_all_run(harness: Harness) -> None:
    """Issue 17: moto failed every StartExecution after the first (cannot pickle '_thread.RLock')."""
    statuses = [harness.run("stedi")["status"] for _ in range(3)]
    assert statuses == ["SUCCEEDED"] * 3
    assert len(harness.job.runs) == 3 * len(STEDI_STEPS)


def _alert(harness: Harness, execution: dict, pipeline: str, failed_state: str) -> dict:
    alerts = harness.lake.alerts()
    assert len(alerts) == 1, alerts  # one alert per failure, not one per layer that noticed it
    assert alerts[0]["subject"] == f"[lakehouse-local] pipeline {pipeline} failed"
    message = json.loads(alerts[0]["message"])
    assert message["pipeline"] == pipeline
    assert message["execution"]["arn"] == execution["executionArn"]
    assert message["state_machine"] == f"lakehouse-local-{pipeline}"
    assert message["failed_state"] == failed_state
    assert message["console_link"].endswith(execution["executionArn"])
    # The execution ends with the failed state's original error and cause.
    assert execution["status"] == "FAILED"
    assert execution["error"] == message["error"] == "States.TaskFailed"
    assert execution["cause"] == message["cause"]
    return message


def test_a_failed_step_alerts_once_naming_the_step_and_stops_the_pipeline(harness: Harness) -> None:
    harness.job.failures["accelerometer_trusted"] = (
        "ExpectationFailed: expectation failed: accelerometer_trusted row_count(min=1): 0 rows")
    execution = harness.run("stedi")
    message = _alert(harness, execution, "stedi", "accelerometer_trusted")
    job_run = json.loads(message["cause"])  # Step Functions' cause for a failed .sync Glue run is the JobRun
    assert job_run["JobRunState"] == "FAILED"
    assert job_run["ErrorMessage"] == ("RuntimeError: ExpectationFailed: expectation failed: accelerometer_trusted "
                                       "row_count(min=1): 0 rows")
    assert job_run["Arguments"]["--step"] == "accelerometer_trusted"
    assert harness.job.steps() == ["customer_trusted", "accelerometer_trusted"]  # nothing after the failed step
    entered = entered_states(harness.history(execution))
    assert entered[-4:] == ["accelerometer_trusted.Caught", "DescribeFailure", "NotifyFailure", "PipelineFailed"]


def test_a_failure_inside_a_parallel_branch_names_the_branch_step(harness: Harness) -> None:
    harness.job.failures["userprofile_secure"] = "ParameterNotFound: /lakehouse/pii-salt"
    execution = harness.run("weblogs")
    message = _alert(harness, execution, "weblogs", "userprofile_secure")
    assert json.loads(message["cause"])["ErrorMessage"] == "RuntimeError: ParameterNotFound: /lakehouse/pii-salt"
    assert "activity_by_profile" not in harness.job.steps()


def test_the_shipped_execution_inputs_run_as_documented(harness: Harness) -> None:
    """events/statemachine-*.json are what the README and statemachines/README.md tell people to start with."""
    rerun = json.loads((REPO / "events" / "statemachine-stedi-rerun.json").read_text())
    execution = harness.run("stedi", rerun)
    assert execution["status"] == "SUCCEEDED", execution
    assert harness.job.steps() == ["machine_learning_curated"]
    assert {run["--full-refresh"] for run in harness.job.runs} == {"true"}
    for pipeline in ("stedi", "weblogs"):  # retail's Athena steps read tables the stand-in job does not write
        harness.job.runs.clear()
        body = json.loads((REPO / "events" / f"statemachine-{pipeline}.json").read_text())
        execution = harness.run(pipeline, body)
        assert execution["status"] == "SUCCEEDED", execution
        assert json.loads(execution["output"])["options"] == {"full_refresh": False, **body}
    scheduled = json.loads((REPO / "events" / "statemachine-scheduler-input.json").read_text())
    assert harness.run("weblogs", scheduled)["status"] == "SUCCEEDED"
