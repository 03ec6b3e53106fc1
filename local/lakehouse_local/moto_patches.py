"""Workarounds for moto 5.2.1 behaviours that differ from AWS and that the pipeline ASL depends on.

Emulation only: used by the local stack (`lakehouse demo` / `lakehouse up`) and by the state machine tests
(tests/statemachine/conftest.py). Each patch names the moto behaviour it works around and the AWS behaviour it
restores:

1. ``glue:startJobRun.sync`` crashes inside moto's callback handling (``_glue_sync_eval_integration_pattern``).
2. A Fail state or a failed Parallel branch cannot re-raise a ``States.*`` error (``FailStateErrorName``).
3. ``aws-sdk:*`` task results carry datetime objects instead of JSON (``_aws_sdk_eval_json_native``).
4. ``aws-sdk:*`` errors are named after the lowercase service (``glue.ConcurrentModificationException``), so an
   ASL's ``Glue.*`` Retry and Catch never match (``aws_sdk_error_service_name``).
5. Glue's ``UpdateTable`` ignores ``VersionId``, so of two concurrent Iceberg commits one is silently lost
   (``update_table_honouring_version``): AWS rejects a stale version with ConcurrentModificationException, which
   Iceberg's GlueCatalog turns into a retried commit.
6. A second ``StartExecution`` of one state machine fails (``cannot pickle '_thread.RLock'``): moto deep-copies the
   state machine with its list of earlier executions, whose threads cannot be copied (``state_machine_deepcopy``).
7. ``athena:startQueryExecution.sync`` is an "unsupported" integration in moto, which only forwards the call and
   cannot wait (``StateTaskServiceAthena``): Step Functions starts the query, polls GetQueryExecution until it ends,
   returns ``{"QueryExecution": ...}``, and fails with States.TaskFailed (cause: that JSON) unless SUCCEEDED.
8. ``aws-sdk:*`` task parameters reach boto3 as written (``aws_sdk_normalise_parameters``): Step Functions takes
   them in PascalCase and maps them onto the API's member names (``TableOptimizerConfiguration.RoleArn`` is Glue's
   ``roleArn``), so without the mapping boto3 refuses every camelCase member as an unknown parameter.
9. Glue has no table optimizers (``CreateTableOptimizer``, ``GetTableOptimizer``, ``BatchGetTableOptimizer`` are not
   implemented). The calls are recorded per (catalog, database, table, type) as Glue records them
   (``create_table_optimizer`` ...): EntityNotFoundException for a table that does not exist, AlreadyExistsException
   for a second one of a type. Nothing runs them: nothing is compacted, expired or deleted locally.

:func:`patches` lists them as ``(owner, attribute, replacement)``; :func:`apply` installs them with any setter
(``setattr`` for a process, ``monkeypatch.setattr`` in tests).
"""

from __future__ import annotations

import copy
import datetime
import functools
import threading
from collections.abc import Callable
from typing import Any, ClassVar, cast

import botocore.session
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.glue import responses as glue_responses
from moto.glue.exceptions import AlreadyExistsException, EntityNotFoundException, InvalidInputException
from moto.stepfunctions import models as sfn_models
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl as sfn_branches
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_factory
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk as sfn_aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_glue as sfn_glue,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.fail import state_fail as sfn_state_fail
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str


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


# ---------------------------------------------------------------------------------------------------- 4. error names
def aws_sdk_error_service_name(service_name: str) -> str:
    """The service part of an ``aws-sdk:*`` task's error name, as Step Functions writes it: PascalCase.

    moto 5.2.1 knows only dynamodb (DynamoDb) and sfn (Sfn) and otherwise keeps the resource's lowercase service
    name, raising ``glue.EntityNotFoundException`` where Step Functions raises ``Glue.EntityNotFoundException``
    ("both the service name and the error name are in PascalCase", AWS SDK service integrations guide), so a Retry or
    Catch on such an error would never match locally.
    """
    known = sfn_aws_sdk._SERVICE_ERROR_NAMES.get(service_name.lower())
    return known or service_name[:1].upper() + service_name[1:]


# ---------------------------------------------------------------------------------------------------- 5. VersionId
_TABLE_COMMITS = threading.Lock()  # the moto server answers requests on several threads
_original_update_table = glue_responses.GlueResponse.update_table


class ConcurrentModificationException(JsonRESTError):
    def __init__(self, message: str) -> None:
        super().__init__("ConcurrentModificationException", message)


def update_table_honouring_version(self: Any) -> Any:
    """``UpdateTable`` with optimistic concurrency, as Glue does: a ``VersionId`` other than the table's current one is
    a ConcurrentModificationException, and the check and the update happen under one lock."""
    with _TABLE_COMMITS:
        expected = self.parameters.get("VersionId")
        if expected:
            name = self.parameters["TableInput"]["Name"]
            table = self.glue_backend.get_table(self.parameters.get("DatabaseName"), name)
            current = str(table._current_version)
            if str(expected) != current:
                raise ConcurrentModificationException(
                    f"Update table failed due to concurrent modifications: version {expected} is not the current "
                    f"version {current} of {name}"
                )
        return _original_update_table(self)


# ---------------------------------------------------------------------------------------------------- 6. deepcopy
def state_machine_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    """A copy of the state machine for a new execution, without the earlier executions.

    moto copies the definition so that a later UpdateStateMachine cannot change a running execution; the copy never
    reads the list of executions, and those hold running threads and locks."""
    clone = self.__class__.__new__(self.__class__)
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, [] if name == "executions" else copy.deepcopy(value, memo))
    return clone


# ---------------------------------------------------------------------------------------------------- 7. Athena .sync
class StateTaskServiceAthena(StateTaskServiceCallback):
    """``arn:aws:states:::athena:startQueryExecution.sync`` as Step Functions runs it (AWS's "Run Athena queries"
    service integration): StartQueryExecution, then GetQueryExecution until the query ends."""

    _PARAMETERS: ClassVar[dict[str, set[str]]] = {"startqueryexecution": {
        "QueryString", "ClientRequestToken", "QueryExecutionContext", "ResultConfiguration", "WorkGroup",
        "ExecutionParameters", "ResultReuseConfiguration"}}

    def __init__(self) -> None:
        super().__init__(supported_integration_patterns={ResourceCondition(ResourceCondition.Sync)})

    def _get_supported_parameters(self) -> set[str] | None:
        return self._PARAMETERS.get(self.resource.api_action.lower())

    # the .sync wait without moto's callback endpoint, which a .sync task does not have (see patch 1)
    _eval_integration_pattern = _glue_sync_eval_integration_pattern

    def _client(self, resource_runtime_part: Any, state_credentials: Any) -> Any:
        return boto_client_for(service="athena", region=resource_runtime_part.region,
                               state_credentials=state_credentials)

    def _eval_service_task(self, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                           state_credentials: Any) -> None:
        response = self._client(resource_runtime_part, state_credentials).start_query_execution(
            **normalised_parameters)
        response.pop("ResponseMetadata", None)
        env.stack.append(response)

    def _build_sync_resolver(self, env: Any, resource_runtime_part: Any, normalised_parameters: dict,
                             state_credentials: Any) -> Callable[[], Any]:
        query_id = env.stack.pop()["QueryExecutionId"]
        athena = self._client(resource_runtime_part, state_credentials)

        def resolve() -> Any:
            execution = athena.get_query_execution(QueryExecutionId=query_id)
            execution.pop("ResponseMetadata", None)
            state = execution["QueryExecution"]["Status"]["State"]
            if state in ("QUEUED", "RUNNING"):
                return None
            execution = _json_native(execution)
            if state == "SUCCEEDED":
                return execution
            raise FailureEventException(FailureEvent(
                env=env,
                error_name=StatesErrorName(typ=StatesErrorNameType.StatesTaskFailed),
                event_type=HistoryEventType.TaskFailed,
                event_details=cast(EventDetails, {"taskFailedEventDetails": TaskFailedEventDetails(
                    resource=self._get_sfn_resource(), resourceType=self._get_sfn_resource_type(),
                    error=StatesErrorNameType.StatesTaskFailed.to_name(), cause=to_json_str(execution),
                )}),
            ))

        return resolve


_original_state_task_service_for = state_task_factory.state_task_service_for


def state_task_service_for(service_name: str) -> Any:
    if service_name == "athena":
        return StateTaskServiceAthena()
    return _original_state_task_service_for(service_name=service_name)


# ---------------------------------------------------------------------------------------------------- 8. aws-sdk names
@functools.cache
def _input_shape(service: str, action: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    operation = next((name for name in model.operation_names if name.lower() == action.lower()), None)
    return model.operation_model(operation).input_shape if operation else None


def aws_sdk_normalise_parameters(self: Any, parameters: dict, boto_service_name: str | None = None,
                                 service_action_name: str | None = None) -> None:
    """The task's parameters under the API's own member names, at every level, as Step Functions sends them.

    "Parameters in Step Functions are expressed in PascalCase, even if the native service API is in camelCase"
    (AWS SDK service integrations guide); Glue's TableOptimizerConfiguration members are camelCase (``roleArn``,
    ``retentionConfiguration``...). moto 5.2.1's aws-sdk task has the mapping (StateTaskService.
    _to_boto_request, by the operation's input shape) but never calls it, so boto3 rejects ``RoleArn`` as an unknown
    parameter. Names match by their snake_case form, so parameters already in the member's casing stay as they are.
    """
    shape = _input_shape(self._get_boto_service_name(boto_service_name), self.resource.api_action)
    if shape is not None:
        self._to_boto_request(parameters, shape)


# ---------------------------------------------------------------------------------------------------- 9. optimizers
OPTIMIZER_TYPES = ("compaction", "retention", "orphan_file_deletion")  # Glue's TableOptimizerType
_OPTIMIZERS_LOCK = threading.Lock()
OptimizerKey = tuple[str, str, str, str]  # catalog, database, table, type


def _optimizers(backend: Any) -> dict[OptimizerKey, dict[str, Any]]:
    """The backend's table optimizers by (catalog, database, table, type); a reset backend starts without any."""
    store: dict[OptimizerKey, dict[str, Any]] = backend.__dict__.setdefault("lakehouse_table_optimizers", {})
    return store


def _optimizer_key(response: Any, catalog: str, database: str, table: str, kind: str) -> OptimizerKey:
    """The optimizer's key, once its catalog, table and type are known to Glue."""
    if kind not in OPTIMIZER_TYPES:
        raise InvalidInputException("TableOptimizer", f"Invalid table optimizer type {kind!r}: one of "
                                    f"{', '.join(OPTIMIZER_TYPES)}")
    backend = response.glue_backend
    if catalog != backend.account_id:
        raise EntityNotFoundException(f"Catalog {catalog} not found: the account's catalog is {backend.account_id}")
    backend.get_table(database, table)  # Database/Table ... not found (EntityNotFoundException)
    return (catalog, database, table, kind)


def create_table_optimizer(self: Any) -> ActionResult:
    """Glue's CreateTableOptimizer: records the optimizer of one type for an existing table, once."""
    p = self.parameters
    key = _optimizer_key(self, p.get("CatalogId"), p.get("DatabaseName"), p.get("TableName"), p.get("Type"))
    with _OPTIMIZERS_LOCK:
        store = _optimizers(self.glue_backend)
        if key in store:
            raise AlreadyExistsException(f"Table optimizer of type {key[3]} for {key[1]}.{key[2]}")
        store[key] = {"type": key[3], "configuration": copy.deepcopy(p.get("TableOptimizerConfiguration") or {})}
    return EmptyResult()


def get_table_optimizer(self: Any) -> ActionResult:
    p = self.parameters
    key = _optimizer_key(self, p.get("CatalogId"), p.get("DatabaseName"), p.get("TableName"), p.get("Type"))
    optimizer = _optimizers(self.glue_backend).get(key)
    if optimizer is None:
        raise EntityNotFoundException(f"Table optimizer of type {key[3]} for {key[1]}.{key[2]} not found.")
    return ActionResult({"CatalogId": key[0], "DatabaseName": key[1], "TableName": key[2],
                         "TableOptimizer": copy.deepcopy(optimizer)})


def batch_get_table_optimizer(self: Any) -> ActionResult:
    """Glue's BatchGetTableOptimizer: the optimizers found, and one failure (with its error) per entry not found."""
    found, failures = [], []
    for entry in self.parameters.get("Entries", []):
        names = {k: entry.get(k) for k in ("catalogId", "databaseName", "tableName")}
        try:
            key = _optimizer_key(self, names["catalogId"], names["databaseName"], names["tableName"],
                                 entry.get("type"))
            optimizer = _optimizers(self.glue_backend).get(key)
            if optimizer is None:
                raise EntityNotFoundException(f"Table optimizer of type {key[3]} for {key[1]}.{key[2]} not found.")
        except JsonRESTError as error:
            failures.append({**names, "type": entry.get("type"),
                             "error": {"ErrorCode": error.error_type, "ErrorMessage": error.message}})
            continue
        found.append({**names, "tableOptimizer": copy.deepcopy(optimizer)})
    return ActionResult({"TableOptimizers": found, "Failures": failures})


def patches() -> list[tuple[Any, str, Any]]:
    """The patches as (owner, attribute, replacement)."""
    return [
        (sfn_glue.StateTaskServiceGlue, "_eval_integration_pattern", _glue_sync_eval_integration_pattern),
        (sfn_state_fail, "CustomErrorName", FailStateErrorName),
        (sfn_branches, "CustomErrorName", FailStateErrorName),
        (sfn_aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", _aws_sdk_eval_json_native),
        (sfn_aws_sdk.StateTaskServiceAwsSdk, "_normalise_service_error_name", staticmethod(aws_sdk_error_service_name)),
        (glue_responses.GlueResponse, "update_table", update_table_honouring_version),
        (sfn_models.StateMachine, "__deepcopy__", state_machine_deepcopy),
        (state_task_factory, "state_task_service_for", state_task_service_for),
        (sfn_aws_sdk.StateTaskServiceAwsSdk, "_normalise_parameters", aws_sdk_normalise_parameters),
        (glue_responses.GlueResponse, "create_table_optimizer", create_table_optimizer),
        (glue_responses.GlueResponse, "get_table_optimizer", get_table_optimizer),
        (glue_responses.GlueResponse, "batch_get_table_optimizer", batch_get_table_optimizer),
    ]


def apply(setter: Callable[[Any, str, Any], None] = setattr) -> Callable[[], None]:
    """Install every patch with ``setter(owner, attribute, value)``; returns a function that restores the originals
    (for ``setattr``; monkeypatch restores its own)."""
    missing = object()
    originals = [(owner, attribute, vars(owner).get(attribute, missing) if isinstance(owner, type)
                  else getattr(owner, attribute)) for owner, attribute, _ in patches()]
    for owner, attribute, replacement in patches():
        setter(owner, attribute, replacement)

    def restore() -> None:
        for owner, attribute, original in reversed(originals):
            if original is missing:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)

    return restore
