"""Workarounds for moto 5.2.1 behaviours that differ from AWS and that the pipeline ASL depends on.

Emulation only: used by the local stack (`lakehouse demo` / `lakehouse up`) and by the state machine tests
(tests/statemachine/conftest.py). Each patch names the moto behaviour it works around and the AWS behaviour it
restores:

1. ``glue:startJobRun.sync`` crashes inside moto's callback handling (``_glue_sync_eval_integration_pattern``).
2. A Fail state or a failed Parallel branch cannot re-raise a ``States.*`` error (``FailStateErrorName``).
3. ``aws-sdk:*`` task results carry datetime objects instead of JSON (``_aws_sdk_eval_json_native``).
4. ``GetCrawler``'s ``LastCrawl.Status`` uses the crawl's state names instead of the API's (``crawler_as_dict``).
5. ``aws-sdk:*`` errors are named after the lowercase service (``glue.CrawlerRunningException``), so the ASL's
   ``Glue.*`` Retry and Catch never match (``aws_sdk_error_service_name``).

:func:`patches` lists them as ``(owner, attribute, replacement)``; :func:`apply` installs them with any setter
(``setattr`` for a process, ``monkeypatch.setattr`` in tests).
"""

from __future__ import annotations

import datetime
from typing import Any, Callable

from moto.glue import models as glue_models
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk as sfn_aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_glue as sfn_glue,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl as sfn_branches
from moto.stepfunctions.parser.asl.component.state.fail import state_fail as sfn_state_fail


# ---------------------------------------------------------------------------------------------------- 1. glue .sync
def _glue_sync_eval_integration_pattern(self, env, resource_runtime_part, normalised_parameters, state_credentials):
    """Replacement for StateTaskServiceCallback._eval_integration_pattern on the Glue service task.

    moto 5.2.1 bug: for ``arn:aws:states:::glue:startJobRun.sync`` the callback endpoint stays ``None`` (Glue supports
    no .waitForTaskToken) but the method's ``finally`` calls ``callback_endpoint.interrupt_all()`` unconditionally,
    so every .sync Glue task dies with "AttributeError: 'NoneType' object has no attribute 'interrupt_all'". Glue only
    supports .sync, so this is the same method minus the callback/heartbeat branches: poll GetJobRun until the run
    ends, push the run (SUCCEEDED) or raise States.TaskFailed (FAILED/TIMEOUT/ERROR) exactly as moto's own resolver.
    """
    task_output = env.stack.pop()
    self.timeout.eval(env=env)
    timeout_seconds = env.stack.pop()
    env.stack.append(task_output)
    sync_resolver = self._build_sync_resolver(
        env=env,
        resource_runtime_part=resource_runtime_part,
        normalised_parameters=normalised_parameters,
        state_credentials=state_credentials,
    )
    outcome = self._eval_sync(
        env=env,
        sync_resolver=sync_resolver,
        timeout_seconds=timeout_seconds,
        callback_endpoint=None,
        heartbeat_endpoint=None,
    )
    env.stack.append(outcome)


# ---------------------------------------------------------------------------------------------------- 2. States.*
class FailStateErrorName(ErrorName):
    """Error name re-raised by a Fail state or a failed Parallel branch, whatever its prefix.

    moto 5.2.1 (like LocalStack, localstack/localstack#10489) wraps the error of a Fail state (state_fail.py) and of a
    failed Parallel branch (branches_decl.py) in ``CustomErrorName``, which raises "Custom Error Names MUST NOT begin
    with the prefix 'States.'" when that error is e.g. ``States.TaskFailed``: the execution then ends with moto's own
    error instead of the re-raised one. Step Functions propagates the original error, which the ASL relies on.
    """


# ---------------------------------------------------------------------------------------------------- 3. JSON data
def _json_native(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_native(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_native(v) for v in value]
    return value


_original_aws_sdk_eval = sfn_aws_sdk.StateTaskServiceAwsSdk._eval_service_task


def _aws_sdk_eval_json_native(self, env, *args: Any, **kwargs: Any) -> None:
    """moto 5.2.1 pushes the raw boto3 response of an ``aws-sdk:*`` task into the state data, datetime objects
    included (e.g. getCrawler's CreationTime, LastCrawl.StartTime). Step Functions' state data is JSON, so
    ``States.JsonToString`` and DescribeExecution's output then fail in moto with "Object of type datetime is not
    JSON serializable". Make the response JSON-native (timestamps as ISO-8601 strings) as Step Functions does."""
    _original_aws_sdk_eval(self, env, *args, **kwargs)
    env.stack.append(_json_native(env.stack.pop()))


# ---------------------------------------------------------------------------------------------------- 4. LastCrawl
LAST_CRAWL_STATUS = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED", "FAILED": "FAILED"}
_original_crawler_as_dict = glue_models.FakeCrawler.as_dict


def crawler_as_dict(self: Any) -> dict[str, Any]:
    """moto reports the crawl's own state (COMPLETED/STOPPED) as LastCrawl.Status; the Glue API's values are
    SUCCEEDED | CANCELLED | FAILED (GetCrawler -> Crawler.LastCrawl.Status), which the ASL checks. A crawl that
    carries an ``error_message`` attribute (set by the local crawler or a test) reports it as LastCrawl.ErrorMessage."""
    data = _original_crawler_as_dict(self)
    if "LastCrawl" in data:
        status = LAST_CRAWL_STATUS.get(data["LastCrawl"]["Status"], data["LastCrawl"]["Status"])
        data["LastCrawl"]["Status"] = status
        message = getattr(self.crawls[-1], "error_message", None)
        if message and status == "FAILED":
            data["LastCrawl"]["ErrorMessage"] = message
    return data


# ---------------------------------------------------------------------------------------------------- 5. error names
def aws_sdk_error_service_name(service_name: str) -> str:
    """The service part of an ``aws-sdk:*`` task's error name, as Step Functions writes it: PascalCase.

    moto 5.2.1 knows only dynamodb (DynamoDb) and sfn (Sfn) and otherwise keeps the resource's lowercase service
    name, raising ``glue.CrawlerRunningException`` where Step Functions raises ``Glue.CrawlerRunningException``
    ("both the service name and the error name are in PascalCase", AWS SDK service integrations guide). The ASL's
    Retry on that error then never matched, and two parallel steps crawling one zone failed the run locally.
    """
    known = sfn_aws_sdk._SERVICE_ERROR_NAMES.get(service_name.lower())
    return known or service_name[:1].upper() + service_name[1:]


def patches() -> list[tuple[Any, str, Any]]:
    """The five patches as (owner, attribute, replacement)."""
    return [
        (sfn_glue.StateTaskServiceGlue, "_eval_integration_pattern", _glue_sync_eval_integration_pattern),
        (sfn_state_fail, "CustomErrorName", FailStateErrorName),
        (sfn_branches, "CustomErrorName", FailStateErrorName),
        (sfn_aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", _aws_sdk_eval_json_native),
        (glue_models.FakeCrawler, "as_dict", crawler_as_dict),
        (sfn_aws_sdk.StateTaskServiceAwsSdk, "_normalise_service_error_name", staticmethod(aws_sdk_error_service_name)),
    ]


def apply(setter: Callable[[Any, str, Any], None] = setattr) -> Callable[[], None]:
    """Install every patch with ``setter(owner, attribute, value)``; returns a function that restores the originals
    (for ``setattr``; monkeypatch restores its own)."""
    originals = [(owner, attribute, getattr(owner, attribute)) for owner, attribute, _ in patches()]
    for owner, attribute, replacement in patches():
        setter(owner, attribute, replacement)

    def restore() -> None:
        for owner, attribute, original in reversed(originals):
            setattr(owner, attribute, original)

    return restore
