"""The pipeline state machines on moto's Step Functions interpreter: success, and each kind of failure."""

from __future__ import annotations

import json

import pytest

from .conftest import Lake, entered_states, failed_state_names

STEDI_STEPS = ["customer_trusted", "accelerometer_trusted", "customer_curated", "step_trainer_trusted",
               "machine_learning_curated"]
WEBLOGS_STEPS = ["useractivity_flat", "userprofile_secure", "activity_by_profile", "page_views_by_state"]


def _job_runs(lake: Lake) -> list[dict]:
    return lake.glue.get_job_runs(JobName=lake.refs["PipelineStepJob"])["JobRuns"]


@pytest.mark.parametrize("pipeline,steps", [("stedi", STEDI_STEPS), ("weblogs", WEBLOGS_STEPS)])
def test_success_runs_build_crawl_and_gate_for_every_step(lake: Lake, pipeline: str, steps: list[str]) -> None:
    execution = lake.run(pipeline, {"trigger": "manual"})
    assert execution["status"] == "SUCCEEDED", execution
    history = lake.history(execution["executionArn"])
    entered = entered_states(history)
    for step in steps:
        for phase in ("Build", "StartCrawler", "GetCrawler", "CrawlSucceeded", "QualityGate"):
            assert f"{step}.{phase}" in entered
    runs = {(r["Arguments"]["--step"], r["Arguments"]["--action"]) for r in _job_runs(lake)}
    assert runs == {(s, a) for s in steps for a in ("build", "check")}
    for run in _job_runs(lake):
        assert run["Arguments"]["--pipeline"] == pipeline
    assert lake.alerts() == []


def _assert_alert(lake: Lake, execution: dict, pipeline: str, failed_state: str, error: str) -> dict:
    alerts = lake.alerts()
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert alert["Subject"] == f"[lakehouse-test] pipeline {pipeline} failed"
    message = alert["Message"]
    assert message["pipeline"] == pipeline
    assert message["execution"]["arn"] == execution["executionArn"]
    assert message["execution"]["name"] == execution["executionArn"].rsplit(":", 1)[1]
    assert message["state_machine"] == f"lake-test-{pipeline}"
    assert message["failed_state"] == failed_state
    assert message["error"] == error
    assert message["console_link"] == (
        "https://us-east-1.console.aws.amazon.com/states/home?region=us-east-1#/v2/executions/details/"
        + execution["executionArn"]
    )
    assert alert["MessageAttributes"]["failed_state"]["Value"] == failed_state
    # The execution ends in the Fail state with the original error and cause.
    assert execution["status"] == "FAILED"
    assert execution["error"] == error
    assert execution["cause"] == message["cause"]
    return message


def test_failed_job_run_alerts_with_the_build_state(lake: Lake) -> None:
    lake.faults.fail_job_run("accelerometer_trusted", "build", "AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] customer_trusted")
    execution = lake.run("stedi")
    history = lake.history(execution["executionArn"])
    assert failed_state_names(history) == ["accelerometer_trusted.Build"]
    message = _assert_alert(lake, execution, "stedi", "accelerometer_trusted.Build", "States.TaskFailed")
    job_run = json.loads(message["cause"])  # Step Functions' cause for a failed .sync Glue run is the JobRun
    assert job_run["JobRunState"] == "FAILED"
    assert job_run["ErrorMessage"] == "AnalysisException: [TABLE_OR_VIEW_NOT_FOUND] customer_trusted"
    assert job_run["Arguments"]["--step"] == "accelerometer_trusted"
    entered = entered_states(history)
    assert "accelerometer_trusted.Build.Caught" in entered and entered[-1] == "PipelineFailed"
    assert "customer_curated.Build" not in entered  # nothing after the failed step runs


def test_failed_crawl_alerts_with_the_crawl_check_state(lake: Lake) -> None:
    lake.faults.fail_crawls(lake.refs["CuratedCrawler"], "Internal Service Exception")
    execution = lake.run("stedi")
    history = lake.history(execution["executionArn"])
    assert failed_state_names(history) == []  # no Task failed: the Choice on LastCrawl.Status detected it
    entered = entered_states(history)
    assert entered.index("customer_curated.CrawlSucceeded") < entered.index("customer_curated.CrawlFailed")
    message = _assert_alert(lake, execution, "stedi", "customer_curated.CrawlSucceeded", "Lakehouse.CrawlFailed")
    assert message["cause"].startswith("Crawler lake-test-curated did not succeed after step customer_curated: ")
    assert "Internal Service Exception" in message["cause"]
    assert "customer_curated.QualityGate" not in entered


def test_failed_quality_gate_alerts_with_the_gate_state(lake: Lake) -> None:
    lake.faults.fail_job_run(
        "customer_trusted", "check", "Expectation failed on customer_trusted: row_count >= 1, got 0"
    )
    execution = lake.run("stedi")
    history = lake.history(execution["executionArn"])
    assert failed_state_names(history) == ["customer_trusted.QualityGate"]
    message = _assert_alert(lake, execution, "stedi", "customer_trusted.QualityGate", "States.TaskFailed")
    job_run = json.loads(message["cause"])
    assert job_run["Arguments"]["--action"] == "check"
    assert job_run["ErrorMessage"] == "Expectation failed on customer_trusted: row_count >= 1, got 0"
    assert "accelerometer_trusted.Build" not in entered_states(history)


def test_failure_inside_a_parallel_branch_names_the_branch_state(lake: Lake) -> None:
    lake.faults.fail_job_run("userprofile_secure", "build", "ParameterNotFound: /lakehouse/pii-salt")
    execution = lake.run("weblogs")
    history = lake.history(execution["executionArn"])
    assert "userprofile_secure.Build" in failed_state_names(history)
    message = _assert_alert(lake, execution, "weblogs", "userprofile_secure.Build", "States.TaskFailed")
    assert json.loads(message["cause"])["ErrorMessage"] == "ParameterNotFound: /lakehouse/pii-salt"
    assert "activity_by_profile.Build" not in entered_states(history)


def test_a_crawler_already_running_is_waited_for_not_a_failure(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two parallel steps crawl the same zone: the second StartCrawler gets Glue.CrawlerRunningException and retries."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    sleeps: list[float] = []  # the retry's jittered back-off, recorded instead of slept
    monkeypatch.setattr(retrier_decl, "time", type("Clock", (), {"sleep": staticmethod(sleeps.append)}))
    lake.faults.crawler_busy(lake.refs["TrustedCrawler"], times=2)
    execution = lake.run("weblogs")
    assert execution["status"] == "SUCCEEDED", execution
    history = lake.history(execution["executionArn"])
    errors = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert errors == ["Glue.CrawlerRunningException"] * 2
    assert len(sleeps) == 2 and all(0 <= s <= 120 for s in sleeps)
    assert lake.alerts() == []
