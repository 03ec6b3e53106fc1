"""ConvertFunction: landing "Object Created" events (SQS batch, or one bare EventBridge event) -> raw zone.

Thin by design: parse the event into typed objects, then hand each object to lakehouse.ingest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.s3_event import S3EventBridgeNotificationEvent
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from lakehouse.ingest import LandingObject, LandingService
from lakehouse.tracing import make_tracer

logger = Logger()
tracer = make_tracer()  # X-Ray only when the stack enables it (FunctionTracing=Active)
metrics = Metrics()  # its namespace and service name the per-data-set series (_metric)
# Report every failed record (even when all failed) instead of failing the invocation: SQS retries the same.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _metric(name: str, unit: str, value: float, dataset: str) -> None:
    """One series per data set (dimension ``dataset``, "unknown" for objects no contract claims): the dashboard
    and the freshness alarms read them. One invocation handles objects of several data sets, hence one EMF
    record per metric instead of the batch-wide dimensions of ``metrics``."""
    if is_metrics_disabled():  # single_metric prints even then (local runs and tests disable metrics)
        return
    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=metrics.namespace,
                       default_dimensions={"service": metrics.service or "lakehouse"}) as metric:
        metric.add_dimension(name="dataset", value=dataset or "unknown")


@dataclass(frozen=True)
class Runtime:
    """What one container builds once: the service, the idempotency settings, and its idempotent entry point."""

    service: LandingService
    idempotency: Any  # IdempotencyConfig (imported with the runtime, not at cold start)
    process_once: Callable[..., dict]


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Built once per container: settings, contracts (validated here), clients, idempotent processing."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from lakehouse.aws import AwsClients
    from lakehouse.contracts import ContractRegistry
    from lakehouse.settings import Settings

    settings = Settings.from_env()
    registry = ContractRegistry.from_directory(settings.pipelines_dir)
    clients = AwsClients()
    service = LandingService(registry, settings, clients, metric=_metric)
    config = IdempotencyConfig(
        event_key_jmespath="[bucket, key, etag, version_id, replay]",  # see lakehouse.ingest.REPLAY_FIELD
        raise_on_no_idempotency_key=True,
        expires_after_seconds=24 * 3600,
    )
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=clients.dynamodb)

    @idempotent_function(data_keyword_argument="landing_object", persistence_store=persistence, config=config)
    def process_once(landing_object: dict, receive_count: int) -> dict:
        return service.process(LandingObject(**landing_object), receive_count=receive_count)

    return Runtime(service, config, process_once)


@tracer.capture_method
def process_event(event: S3EventBridgeNotificationEvent, receive_count: int = 1) -> dict:
    if event.detail_type != "Object Created":
        raise ValueError(f"expected an S3 'Object Created' event, got {event.detail_type!r}")
    landing_object = LandingObject.from_event(event)
    logger.set_correlation_id(landing_object.key)
    logger.append_keys(object_key=landing_object.key, bucket=landing_object.bucket)
    outcome = runtime().process_once(landing_object=landing_object.as_dict(), receive_count=receive_count)
    logger.info("landing object done", extra={"state": outcome["state"]})
    return outcome


def record_handler(record: SQSRecord) -> dict:
    event = S3EventBridgeNotificationEvent(record.json_body)
    return process_event(event, receive_count=int(record.attributes.approximate_receive_count or 1))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict, context: LambdaContext) -> Mapping[str, Any]:
    runtime().idempotency.register_lambda_context(context)
    if "Records" in event:
        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    # One EventBridge event invoked directly (sam local invoke -e events/s3-object-created.json)
    return process_event(S3EventBridgeNotificationEvent(event))
