"""One Step Functions state machine (JSONPath ASL) per pipeline, generated from the lake's model.

Each step is one Task named after the step (``customer_trusted``) plus a Pass that records its name when it fails
(``customer_trusted.Caught``): a Glue step is ``glue:startJobRun.sync`` of the one generic job, which writes its
Iceberg table, registers it in the Glue catalog, checks the step's expectations before it publishes and enables
the table's optimizers; an Athena step is ``athena:startQueryExecution.sync`` in the stack's workgroup. An Athena
table step is ``<step>`` (GetTable) -> ``<step>.Create`` (CTAS) or ``<step>.Replace`` (MERGE), then Glue's table
optimizers of its table (``<step>.Compaction`` -> ``<step>.Retention`` -> ``<step>.OrphanFiles``), after the first
build and after every replace, so a table whose enabling failed once gets them on the next run; optimizers that
exist are left as they are. Steps run in dependency waves; the steps of one wave run as branches of a Parallel state.

``Configure`` merges the execution input over the defaults; ``StartFrom`` (a Choice) starts at the first wave, or
with ``{"from": "<step>"}`` at that step's wave (`lakehouse run --from STEP`), skipping the waves before it.

Any failure goes ``<state>.Caught`` -> ``DescribeFailure`` (the alert: pipeline, execution, failed state, error,
cause, console link) -> ``NotifyFailure`` (SNS) -> ``PipelineFailed`` (a Fail with the original error and cause).
Branch states cannot jump out of their branch, so a branch has its own three alert states; its Fail then fails the
Parallel state and the execution with the same error (the Parallel state has no Catch: it would alert twice).

``${...}`` names are the state machine's DefinitionSubstitutions, filled by the template (see stackgen.py).
"""

from __future__ import annotations

import json
from typing import Any

from .pipeline import Lake, Pipeline, Step

FAILURE_PATH = "$.failure"
GLUE_TRANSIENT_ERRORS = ["Glue.ConcurrentRunsExceededException", "Glue.ThrottlingException",
                         "Glue.InternalServiceException"]
ATHENA_TRANSIENT_ERRORS = ["Athena.TooManyRequestsException", "Athena.InternalServerException"]
MAX_STATE_NAME = 80
DEFAULTS = {"full_refresh": False}  # execution input keys the states read; any other input is kept as is
START_FROM = "StartFrom"
UNKNOWN_STEP = "UnknownStep"


def _catch(state: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": FAILURE_PATH, "Next": f"{state}.Caught"}]


def _caught(state: str, describe: str) -> dict[str, Any]:
    """A Pass that records which state failed, next to the Error and Cause the Catch put at $.failure."""
    return {
        "Type": "Pass",
        "Comment": f"Records that {state} failed.",
        "Parameters": {"state": state, "Error.$": f"{FAILURE_PATH}.Error", "Cause.$": f"{FAILURE_PATH}.Cause"},
        "ResultPath": FAILURE_PATH,
        "Next": describe,
    }


def _retry(errors: list[str], interval: int, attempts: int) -> list[dict[str, Any]]:
    return [{"ErrorEquals": errors, "IntervalSeconds": interval, "BackoffRate": 2.0, "MaxAttempts": attempts,
             "MaxDelaySeconds": 300, "JitterStrategy": "FULL"}]


def _athena_task(query: str, comment: str, result_path: str, catch_state: str, next_state: str | None
                 ) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Comment": comment,
        "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
        "Parameters": {
            "QueryString": query,
            "WorkGroup": "${AthenaWorkGroup}",
            "QueryExecutionContext": {"Database": "${PresentationDatabase}"},
        },
        "ResultSelector": {"QueryExecutionId.$": "$.QueryExecution.QueryExecutionId",
                           "State.$": "$.QueryExecution.Status.State"},
        "ResultPath": result_path,
        "Retry": _retry(ATHENA_TRANSIENT_ERRORS, 10, 4),
        "Catch": _catch(catch_state),
        "Next": next_state,
    }


# Glue's table optimizers of a presentation table: (state suffix, optimizer type, its part of the configuration).
# The numbers are stack parameters substituted into the text of the ASL; States.StringToJson makes them JSON
# numbers (the API takes integers), and the ASL stays valid JSON with the placeholders inside strings.
OPTIMIZERS: list[tuple[str, str, dict[str, Any]]] = [
    ("Compaction", "compaction", {}),
    ("Retention", "retention", {"RetentionConfiguration": {"IcebergConfiguration": {
        "SnapshotRetentionPeriodInDays.$": "States.StringToJson('${SnapshotRetentionDays}')",
        "NumberOfSnapshotsToRetain.$": "States.StringToJson('${SnapshotsToRetain}')",
        "CleanExpiredFiles": True,
    }}}),
    ("OrphanFiles", "orphan_file_deletion", {"OrphanFileDeletionConfiguration": {"IcebergConfiguration": {
        "OrphanFileRetentionPeriodInDays.$": "States.StringToJson('${OrphanFileRetentionDays}')",
    }}}),
]


def optimizer_states(step: Step, next_state: str | None) -> dict[str, dict[str, Any]]:
    """``<step>.Compaction`` -> ``<step>.Retention`` -> ``<step>.OrphanFiles``: one ``glue:createTableOptimizer``
    each (AWS SDK integration: parameter names in PascalCase), for the presentation table the step built. An
    optimizer that exists already (Glue.AlreadyExistsException: every run after the first) is left as it is."""
    names = [f"{step.name}.{suffix}" for suffix, _, _ in OPTIMIZERS]
    states: dict[str, dict[str, Any]] = {}
    for index, (name, (_, kind, extra)) in enumerate(zip(names, OPTIMIZERS)):
        after = names[index + 1] if index + 1 < len(names) else next_state
        states[name] = {
            "Type": "Task",
            "Comment": f"Glue's {kind.replace('_', ' ')} optimizer for presentation.{step.name} (kept when it "
                       "exists).",
            "Resource": "arn:aws:states:::aws-sdk:glue:createTableOptimizer",
            "Parameters": {
                "CatalogId": "${AccountId}",
                "DatabaseName": "${PresentationDatabase}",
                "TableName": step.name,
                "Type": kind,
                "TableOptimizerConfiguration": {"RoleArn": "${TableOptimizerRoleArn}", "Enabled": True, **extra},
            },
            "ResultPath": None,
            "Retry": _retry(["Glue.ThrottlingException", "Glue.InternalServiceException"], 5, 4),
            "Catch": [{"ErrorEquals": ["Glue.AlreadyExistsException"], "ResultPath": None, "Next": after},
                      *_catch(step.name)],
            "Next": after,
        }
    return states


def step_states(lake: Lake, pipeline: Pipeline, step: Step, next_state: str | None) -> dict[str, dict[str, Any]]:
    """The states of one step, starting with the state named after the step; each failure goes to
    ``<step>.Caught`` (added by the caller)."""
    from . import athena

    reads = ", ".join(sorted(str(s.table.ref) for s in lake.sources(pipeline.name, step.name))) or "nothing"
    result = f"$.steps.{step.name}"
    if step.engine == "athena" and step.materialize == "view":
        return {step.name: _athena_task(athena.create_view(lake, pipeline, step),
                                        f"presentation.{step.name} (view) from {reads}", result, step.name,
                                        next_state)}
    if step.engine == "athena":
        create, replace = f"{step.name}.Create", f"{step.name}.Replace"
        optimizers = optimizer_states(step, next_state)
        first_optimizer = next(iter(optimizers))
        return {
            step.name: {
                "Type": "Task",
                "Comment": f"presentation.{step.name} (Iceberg table, keys {', '.join(step.keys)}) from {reads}: "
                           "created on the first run, replaced by one MERGE on later runs; then its table "
                           "optimizers.",
                "Resource": "arn:aws:states:::aws-sdk:glue:getTable",
                "Parameters": {"DatabaseName": "${PresentationDatabase}", "Name": step.name},
                "ResultPath": None,
                "Retry": _retry(["Glue.ThrottlingException", "Glue.InternalServiceException"], 5, 4),
                "Catch": [{"ErrorEquals": ["Glue.EntityNotFoundException"], "ResultPath": None, "Next": create},
                          *_catch(step.name)],
                "Next": replace,
            },
            create: _athena_task(athena.create_table(lake, pipeline, step), f"The first build of {step.name}.",
                                 result, step.name, first_optimizer),
            replace: _athena_task(athena.replace_table(lake, pipeline, step),
                                  f"{step.name} replaced in one Iceberg commit.", result, step.name, first_optimizer),
            **optimizers,
        }
    mode = f"{step.write}{' on ' + ', '.join(step.keys) if step.keys else ''}"
    return {step.name: {
        "Type": "Task",
        "Comment": f"{step.zone}.{step.name} ({mode}{', incremental' if step.incremental else ''}) "
                   f"from {reads}; {len(step.expectations)} expectations checked before it is published",
        "Resource": "arn:aws:states:::glue:startJobRun.sync",
        "Parameters": {
            "JobName": "${GlueJobName}",
            "Arguments": {
                "--pipeline": pipeline.name,
                "--step": step.name,
                "--full-refresh.$": "States.Format('{}', $.options.full_refresh)",
            },
        },
        "ResultSelector": {"Id.$": "$.Id", "JobRunState.$": "$.JobRunState"},
        "ResultPath": result,
        "Retry": _retry(GLUE_TRANSIENT_ERRORS, 30, 6),
        "Catch": _catch(step.name),
        "Next": next_state,
    }}


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
            "Retry": [{"ErrorEquals": ["SNS.ThrottledException", "SNS.InternalErrorException"], "IntervalSeconds": 2,
                       "BackoffRate": 2.0, "MaxAttempts": 3, "JitterStrategy": "FULL"}],
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


def start_from(pipeline: Pipeline, waves: list[list[Step]]) -> dict[str, dict[str, Any]]:
    """Where a run starts: the first wave, or with ``"from": "<step>"`` in the execution input (`lakehouse run
    --from STEP`) the wave of that step; the waves before it are skipped, and with them every step it reads from.
    An unknown step fails the run through the alert path, naming the steps."""
    entries = [wave[0].name if len(wave) == 1 else f"Wave{index}" for index, wave in enumerate(waves, start=1)]
    names = [step.name for wave in waves for step in wave]
    choices: list[dict[str, Any]] = [{"Not": {"Variable": "$.options.from", "IsPresent": True}, "Next": entries[0]}]
    for entry, wave in zip(entries, waves):
        choices += [{"Variable": "$.options.from", "StringEquals": step.name, "Next": entry} for step in wave]
    return {
        START_FROM: {
            "Type": "Choice",
            "Comment": "Start at the first wave, or at the wave of the step named by the input's \"from\" "
                       "(skipping the steps before it).",
            "Choices": choices,
            "Default": UNKNOWN_STEP,
        },
        UNKNOWN_STEP: {
            "Type": "Pass",
            "Comment": "The input's \"from\" names no step of this pipeline.",
            "Parameters": {
                "state": START_FROM,
                "Error": "Lakehouse.UnknownStep",
                "Cause.$": f"States.Format('\"from\": {{}} names no step of pipeline {pipeline.name}; its steps are "
                           f"{', '.join(names)}', $.options.from)",
            },
            "ResultPath": FAILURE_PATH,
            "Next": "DescribeFailure",
        },
    }


def _set_next(state: dict[str, Any], target: str) -> None:
    """Point a state at the next one, with its catchers that go on (an optimizer that exists already); StartFrom's
    first rule (no "from" given) goes to the first wave already."""
    if state["Type"] != "Choice":
        state["Next"] = target
        for catcher in state.get("Catch", []):
            if catcher["Next"] is None:
                catcher["Next"] = target


def _open_ends(states: dict[str, dict[str, Any]]) -> list[str]:
    """The states of a step that continue to whatever follows the step."""
    return [name for name, state in states.items() if state["Type"] != "Choice" and state["Next"] is None]


def build_definition(lake: Lake, pipeline: Pipeline) -> dict[str, Any]:
    if not pipeline.steps:
        raise ValueError(f"pipeline {pipeline.name!r} has no steps, so it has no state machine")
    for step in pipeline.steps:
        if len(f"{step.name}.DescribeFailure") > MAX_STATE_NAME:
            raise ValueError(f"step name {step.name!r} is too long for Step Functions state names "
                             f"(at most {MAX_STATE_NAME - len('.DescribeFailure')} characters)")
    waves = lake.stages(pipeline)
    states: dict[str, dict[str, Any]] = {
        "Configure": {
            "Type": "Pass",
            "Comment": f"The run's options: the execution input over the defaults {json.dumps(DEFAULTS)}.",
            "Parameters": {
                "options.$": f"States.JsonMerge(States.StringToJson('{json.dumps(DEFAULTS)}'), $$.Execution.Input,"
                             " false)",
            },
            "Next": START_FROM,
        },
        **start_from(pipeline, waves),
    }
    previous = [START_FROM]  # the states that continue to the next wave
    for index, wave in enumerate(waves, start=1):
        if len(wave) == 1:
            step = wave[0]
            for name in previous:
                _set_next(states[name], step.name)
            step_map = step_states(lake, pipeline, step, None)
            states.update(step_map)
            states[f"{step.name}.Caught"] = _caught(step.name, "DescribeFailure")
            previous = _open_ends(step_map)
            continue
        parallel = f"Wave{index}"
        for name in previous:
            _set_next(states[name], parallel)
        branches = []
        for step in wave:
            prefix = f"{step.name}."
            branch = {
                **step_states(lake, pipeline, step, f"{step.name}.Done"),
                f"{step.name}.Caught": _caught(step.name, f"{prefix}DescribeFailure"),
                f"{step.name}.Done": {"Type": "Succeed"},
                **alert_states(pipeline.name, prefix),
            }
            branches.append({"StartAt": step.name, "States": branch})
        states[parallel] = {
            "Type": "Parallel",
            "Comment": "Independent steps: " + ", ".join(s.name for s in wave) + ". Each branch alerts and fails on "
                       "its own, naming its failed state; the Parallel state then fails with the branch's error.",
            "Branches": branches,
            "ResultPath": None,
            "Next": None,
        }
        previous = [parallel]
    for name in previous:
        _set_next(states[name], "Summarize")
    states["Summarize"] = {
        "Type": "Pass",
        "Comment": "The execution's output: what ran, with which options.",
        "Parameters": {
            "pipeline": pipeline.name,
            "execution.$": "$$.Execution.Id",
            "steps": [step.name for wave in waves for step in wave],
            "options.$": "$.options",
        },
        "Next": "PipelineSucceeded",
    }
    states.update(alert_states(pipeline.name))  # single steps and UnknownStep alert through these
    states["PipelineSucceeded"] = {"Type": "Succeed"}
    _check_targets(states)
    return {
        "Comment": f"Pipeline {pipeline.name}: {pipeline.description or 'SQL steps'} Generated from "
                   f"pipelines/{pipeline.name}/ by `lakehouse generate`; do not edit by hand.",
        "StartAt": "Configure",
        "States": states,
    }


def _check_targets(states: dict[str, dict[str, Any]]) -> None:
    """Every Next, Catch and Choice names a state of the same state map (a branch's states stay in the branch)."""
    for name, state in states.items():
        targets = [state.get("Next")] if state["Type"] in ("Task", "Pass", "Parallel") else []
        targets += [c["Next"] for c in state.get("Catch", [])]
        if state["Type"] == "Choice":
            targets = [c["Next"] for c in state["Choices"]] + [state["Default"]]
        for target in targets:
            if target not in states:
                raise AssertionError(f"state {name!r} continues to unknown state {target!r}")
        for branch in state.get("Branches", []):
            _check_targets(branch["States"])


def render(definition: dict[str, Any]) -> str:
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def substitutions_used(definition_text: str) -> set[str]:
    import re

    return set(re.findall(r"\$\{([A-Za-z0-9_]+)\}", definition_text))
