"""Generate one Step Functions state machine (JSONPath ASL) per pipeline from ``pipelines/<name>/pipeline.yaml``.

    python -m lakehouse_local.asl            # rewrite statemachines/<pipeline>.asl.json
    python -m lakehouse_local.asl --check    # exit 1 when a checked-in file differs from the generator output

Why one generated machine per pipeline rather than one parameterised machine
---------------------------------------------------------------------------
* The failing state must be recoverable by name. In a generated machine every step has its own states
  (``customer_trusted.Build``, ``customer_trusted.CrawlSucceeded``, ``customer_trusted.QualityGate``...), so the
  console graph, the execution history and the SNS alert all name the step *and* the phase that failed. A
  parameterised machine would run a generic ``RunStep`` inside a Map and every failure would point at the same state.
* The dependency order is static and reviewable: it is computed here from ``depends_on`` (topological waves) and
  checked in, instead of being re-derived at run time by a Lambda or passed in by every caller.
* Independent steps of a wave run as branches of a Parallel state, visibly, with their own Catch paths.
* Adding a pipeline stays "data only": write the YAML and SQL, run this generator (``make asl``), and add the
  ``AWS::Serverless::StateMachine`` resource that tests/statemachine/test_template.py asks for.

The shape of each step (``<step>`` is the step name = target table):

    <step>.Build           glue:startJobRun.sync  --action build      Retry on Glue throttling/concurrency/internal
    <step>.StartCrawler    aws-sdk:glue:startCrawler (zone crawler)   Retry on Glue.CrawlerRunningException
    <step>.WaitForCrawler  Wait SecondsPath $.config.crawler_poll_seconds
    <step>.GetCrawler      aws-sdk:glue:getCrawler
    <step>.CrawlerReady    Choice State == READY ? -> CrawlSucceeded : -> WaitForCrawler
    <step>.CrawlSucceeded  Choice LastCrawl.Status == SUCCEEDED ? -> QualityGate : -> <step>.CrawlFailed (Pass)
    <step>.QualityGate     glue:startJobRun.sync  --action check

Every Task has ``Catch States.ALL`` (ResultPath ``$.failure``) to its own ``<state>.Caught`` Pass, which records the
state's name next to Error/Cause, then ``DescribeFailure`` (Pass building the alert) -> ``NotifyFailure`` (SNS
publish) -> ``PipelineFailed`` (Fail with ErrorPath/CausePath = the original error and cause). Inside a Parallel
branch the three alert states are branch-local (prefixed with the step name) because branch states cannot jump out
of their branch; the branch's Fail then fails the Parallel state, and with it the execution, with the same error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

ZONES = ("trusted", "curated")
CRAWLER_SUBSTITUTION = {"trusted": "${TrustedCrawlerName}", "curated": "${CuratedCrawlerName}"}

GLUE_TRANSIENT_ERRORS = [
    "Glue.ConcurrentRunsExceededException",
    "Glue.ThrottlingException",
    "Glue.InternalServiceException",
]
FAILURE_PATH = "$.failure"
MAX_STATE_NAME = 80

REPO_ROOT = Path(__file__).resolve().parents[2]


class PipelineError(ValueError):
    """The pipeline definition cannot be turned into a state machine."""


# ---------------------------------------------------------------------------------------------------- loading
def load_pipeline(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        pipeline = yaml.safe_load(handle)
    validate(pipeline, source=str(path))
    return pipeline


def validate(pipeline: dict[str, Any], source: str = "pipeline") -> None:
    name = pipeline.get("name")
    if not name or not str(name).replace("_", "").replace("-", "").isalnum():
        raise PipelineError(f"{source}: 'name' must be a non-empty identifier, got {name!r}")
    steps = pipeline.get("steps") or []
    if not steps:
        raise PipelineError(f"{source}: no steps")
    seen: set[str] = set()
    for step in steps:
        step_name = step.get("name")
        if not step_name:
            raise PipelineError(f"{source}: a step has no name")
        if step_name in seen:
            raise PipelineError(f"{source}: step {step_name!r} is declared twice")
        seen.add(step_name)
        if step.get("zone") not in ZONES:
            raise PipelineError(f"{source}: step {step_name!r} has zone {step.get('zone')!r}, expected one of {ZONES}")
        longest = f"{step_name}.WaitForCrawler.Caught"
        if len(longest) > MAX_STATE_NAME:
            raise PipelineError(f"{source}: step name {step_name!r} is too long for Step Functions state names")
    for step in steps:
        for dependency in step.get("depends_on") or []:
            if dependency not in seen:
                raise PipelineError(f"{source}: step {step['name']!r} depends on unknown step {dependency!r}")
    waves(steps)  # raises on cycles


def waves(steps: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Topological levels: a step runs in the wave after the last wave of its dependencies (declaration order kept)."""
    level: dict[str, int] = {}
    remaining = list(steps)
    while remaining:
        progressed = False
        for step in list(remaining):
            dependencies = step.get("depends_on") or []
            if all(d in level for d in dependencies):
                level[step["name"]] = 1 + max((level[d] for d in dependencies), default=-1)
                remaining.remove(step)
                progressed = True
        if not progressed:
            raise PipelineError(f"dependency cycle among steps {[s['name'] for s in remaining]}")
    result: list[list[dict[str, Any]]] = [[] for _ in range(max(level.values()) + 1)]
    for step in steps:
        result[level[step["name"]]].append(step)
    return result


# ---------------------------------------------------------------------------------------------------- states
def _catch(state_name: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": FAILURE_PATH, "Next": f"{state_name}.Caught"}]


def _caught(state_name: str, describe: str) -> dict[str, Any]:
    """Pass that records which state failed, next to the Error/Cause the Catch put at $.failure."""
    return {
        "Type": "Pass",
        "Comment": f"Records that {state_name} failed.",
        "Parameters": {
            "state": state_name,
            "Error.$": f"{FAILURE_PATH}.Error",
            "Cause.$": f"{FAILURE_PATH}.Cause",
        },
        "ResultPath": FAILURE_PATH,
        "Next": describe,
    }


def _glue_run(pipeline: str, step: str, action: str, state_name: str, next_state: str | None) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": f"Glue job run: --pipeline {pipeline} --step {step} --action {action}",
        "Resource": "arn:aws:states:::glue:startJobRun.sync",
        "Parameters": {
            "JobName": "${GlueJobName}",
            "Arguments": {"--pipeline": pipeline, "--step": step, "--action": action},
        },
        "ResultSelector": {"Id.$": "$.Id", "JobRunState.$": "$.JobRunState"},
        "ResultPath": f"$.job_runs.{step}.{action}",
        "Retry": [
            {
                "ErrorEquals": GLUE_TRANSIENT_ERRORS,
                "IntervalSeconds": 30,
                "BackoffRate": 2.0,
                "MaxAttempts": 6,
                "MaxDelaySeconds": 300,
                "JitterStrategy": "FULL",
            }
        ],
        "Catch": _catch(state_name),
        "Next": next_state,
    }


def step_states(pipeline: str, step: dict[str, Any], next_state: str | None, describe: str) -> dict[str, dict[str, Any]]:
    """The states of one step, ending in ``next_state``; failures go to ``describe`` via ``<state>.Caught``."""
    s = step["name"]
    crawler = CRAWLER_SUBSTITUTION[step["zone"]]
    build, start, wait, get = f"{s}.Build", f"{s}.StartCrawler", f"{s}.WaitForCrawler", f"{s}.GetCrawler"
    ready, succeeded, crawl_failed, gate = f"{s}.CrawlerReady", f"{s}.CrawlSucceeded", f"{s}.CrawlFailed", f"{s}.QualityGate"
    states: dict[str, dict[str, Any]] = {
        build: _glue_run(pipeline, s, "build", build, start),
        start: {
            "Type": "Task",
            "Comment": f"Crawl the {step['zone']} zone so the catalog has {s}.",
            "Resource": "arn:aws:states:::aws-sdk:glue:startCrawler",
            "Parameters": {"Name": crawler},
            "ResultPath": None,
            "Retry": [
                {
                    "ErrorEquals": ["Glue.CrawlerRunningException"],
                    "IntervalSeconds": 30,
                    "BackoffRate": 1.5,
                    "MaxAttempts": 20,
                    "MaxDelaySeconds": 120,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": _catch(start),
            "Next": wait,
        },
        wait: {"Type": "Wait", "SecondsPath": "$.config.crawler_poll_seconds", "Next": get},
        get: {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:glue:getCrawler",
            "Parameters": {"Name": crawler},
            "ResultSelector": {"Crawler.$": "$.Crawler"},
            "ResultPath": "$.crawler",
            "Retry": [
                {
                    "ErrorEquals": ["Glue.ThrottlingException", "Glue.InternalServiceException"],
                    "IntervalSeconds": 5,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 5,
                    "MaxDelaySeconds": 60,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": _catch(get),
            "Next": ready,
        },
        ready: {
            "Type": "Choice",
            "Choices": [{"Variable": "$.crawler.Crawler.State", "StringEquals": "READY", "Next": succeeded}],
            "Default": wait,
        },
        succeeded: {
            "Type": "Choice",
            "Choices": [
                {
                    "And": [
                        {"Variable": "$.crawler.Crawler.LastCrawl.Status", "IsPresent": True},
                        {"Variable": "$.crawler.Crawler.LastCrawl.Status", "StringEquals": "SUCCEEDED"},
                    ],
                    "Next": gate,
                }
            ],
            "Default": crawl_failed,
        },
        crawl_failed: {
            "Type": "Pass",
            "Comment": f"The crawl after {s} did not succeed: fail with the crawler's own report.",
            "Parameters": {
                "state": succeeded,
                "Error": "Lakehouse.CrawlFailed",
                "Cause.$": "States.Format('Crawler {} did not succeed after step "
                + s
                + ": {}', $.crawler.Crawler.Name, States.JsonToString($.crawler.Crawler))",
            },
            "ResultPath": FAILURE_PATH,
            "Next": describe,
        },
        gate: _glue_run(pipeline, s, "check", gate, next_state),
    }
    for name in (build, start, get, gate):
        states[f"{name}.Caught"] = _caught(name, describe)
    return states


def alert_states(pipeline: str, prefix: str = "") -> dict[str, dict[str, Any]]:
    describe, notify, fail = f"{prefix}DescribeFailure", f"{prefix}NotifyFailure", f"{prefix}PipelineFailed"
    return {
        describe: {
            "Type": "Pass",
            "Comment": "The alert: which pipeline, which execution, which state, the original error and cause.",
            "Parameters": {
                "pipeline": pipeline,
                "execution": {"arn.$": "$$.Execution.Id", "name.$": "$$.Execution.Name"},
                "state_machine.$": "$$.StateMachine.Name",
                "failed_state.$": f"{FAILURE_PATH}.state",
                "error.$": f"{FAILURE_PATH}.Error",
                "cause.$": f"{FAILURE_PATH}.Cause",
                "console_link.$": "States.Format('https://${Region}.console.aws.amazon.com/states/home"
                "?region=${Region}#/v2/executions/details/{}', $$.Execution.Id)",
            },
            "ResultPath": "$.alert",
            "Next": notify,
        },
        notify: {
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "${AlertTopicArn}",
                "Subject": f"[${{LakeName}}-${{Stage}}] pipeline {pipeline} failed",
                "Message.$": "States.JsonToString($.alert)",
                "MessageAttributes": {
                    "pipeline": {"DataType": "String", "StringValue": pipeline},
                    "failed_state": {"DataType": "String", "StringValue.$": f"{FAILURE_PATH}.state"},
                },
            },
            "ResultPath": None,
            "Retry": [
                {
                    "ErrorEquals": ["SNS.ThrottledException", "SNS.InternalErrorException"],
                    "IntervalSeconds": 2,
                    "BackoffRate": 2.0,
                    "MaxAttempts": 3,
                    "JitterStrategy": "FULL",
                }
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.notify_error", "Next": fail}],
            "Next": fail,
        },
        fail: {
            "Type": "Fail",
            "Comment": "Ends the execution with the original error and cause of the failed state.",
            "ErrorPath": f"{FAILURE_PATH}.Error",
            "CausePath": f"{FAILURE_PATH}.Cause",
        },
    }


def build_definition(pipeline: dict[str, Any]) -> dict[str, Any]:
    validate(pipeline)
    name = pipeline["name"]
    describe = "DescribeFailure"
    states: dict[str, dict[str, Any]] = {
        "Configure": {
            "Type": "Pass",
            "Comment": "Deployment settings the states read from the input (Wait needs a number, substitutions are text).",
            "Parameters": {"crawler_poll_seconds.$": "States.StringToJson('${CrawlerPollSeconds}')"},
            "ResultPath": "$.config",
            "Next": None,
        }
    }
    previous = "Configure"
    plan = waves(pipeline["steps"])
    for index, wave in enumerate(plan, start=1):
        if len(wave) == 1:
            states[previous]["Next"] = f"{wave[0]['name']}.Build"
            states.update(step_states(name, wave[0], None, describe))  # QualityGate's Next is set below
            previous = f"{wave[0]['name']}.QualityGate"
        else:
            parallel = f"Wave{index}"
            states[previous]["Next"] = parallel
            branches = []
            for step in wave:
                prefix = f"{step['name']}."
                branch_states = step_states(name, step, f"{step['name']}.Done", f"{prefix}DescribeFailure")
                branch_states[f"{step['name']}.Done"] = {"Type": "Succeed"}
                branch_states.update(alert_states(name, prefix))
                branches.append({"StartAt": f"{step['name']}.Build", "States": branch_states})
            states[parallel] = {
                "Type": "Parallel",
                "Comment": "Independent steps: " + ", ".join(s["name"] for s in wave)
                + ". Each branch alerts and fails on its own, naming its failed state; the Parallel state then fails"
                " with the branch's original error.",
                "Branches": branches,
                "ResultPath": None,
                "Next": None,
            }
            previous = parallel
    states[previous]["Next"] = "Summarize"
    states["Summarize"] = {
        "Type": "Pass",
        "Comment": "The execution's output: what ran (the working data, e.g. crawler descriptions, is dropped).",
        "Parameters": {
            "pipeline": name,
            "execution.$": "$$.Execution.Id",
            "steps": [step["name"] for wave in plan for step in wave],
            "input.$": "$$.Execution.Input",
        },
        "Next": "PipelineSucceeded",
    }
    if any(len(wave) == 1 for wave in plan):  # unreachable states are a validation error
        states.update(alert_states(name))
    states["PipelineSucceeded"] = {"Type": "Succeed"}
    _check_transitions(states)
    return {
        "Comment": f"Pipeline {name}: Glue step runs in dependency order, zone crawlers and quality gates; "
        f"generated from pipelines/{name}/pipeline.yaml by `python -m lakehouse_local.asl` - do not edit by hand.",
        "StartAt": "Configure",
        "States": states,
    }


def _check_transitions(states: dict[str, dict[str, Any]]) -> None:
    """Every Task/Pass/Wait/Parallel continues somewhere that exists."""
    for name, state in states.items():
        if state["Type"] in ("Task", "Pass", "Wait", "Parallel") and state.get("Next") not in states:
            raise AssertionError(f"state {name!r} continues to unknown state {state.get('Next')!r}")


# ---------------------------------------------------------------------------------------------------- files
def pipeline_files(root: Path = REPO_ROOT) -> list[Path]:
    return sorted((root / "pipelines").glob("*/pipeline.yaml"))


def render(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def generate(root: Path = REPO_ROOT) -> dict[Path, str]:
    outputs: dict[Path, str] = {}
    for path in pipeline_files(root):
        pipeline = load_pipeline(path)
        outputs[root / "statemachines" / f"{pipeline['name']}.asl.json"] = render(build_definition(pipeline))
    return outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse_local.asl", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root (default: this checkout)")
    parser.add_argument("--check", action="store_true", help="only report files that differ; exit 1 if any")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generate(args.root).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(args.root)}")
    if args.check and stale:
        print("out of date (run `python -m lakehouse_local.asl`): " + ", ".join(str(p) for p in stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
