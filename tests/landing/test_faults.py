"""Injected faults (issue 5): transient errors fail only their record, are retried, then parked; nothing is lost,
nothing is duplicated, no half-written file is ever visible.

Faults are injected into the real boto3 clients of the handler's runtime (moto behind them) with botocore event
hooks: ``provide-client-params.<service>.<Operation>`` raises the service's error before the request is sent,
``before-send`` answers with an HTTP 503 so that the SDK's own retries are exercised. The Glue job, crawler and
quality-gate failures of the state machine are covered in tests/statemachine/test_pipeline_asl.py.
"""

from __future__ import annotations

import importlib.util
import io
import json
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError

from .conftest import CUSTOMERS, REPO, ClientProxy, LambdaContext, event_for, sqs_batch

BAD_CUSTOMERS = CUSTOMERS.replace(b'"registrationDate": 1655564376363', b'"registrationDate": "yesterday"')
# Three order months -> three Parquet files (order_month partitions) for one landing object.
ORDERS = b"order_id,customer_id,order_date,status,product_id,quantity,unit_price\n" + b"".join(
    f"{i},{i % 7},2026-{9 + i % 3:02d}-{1 + i % 28:02d},PLACED,p{i},1,9.5\n".encode() for i in range(1, 31)
)


class Fault:
    """Makes ``client.<operation>`` raise ``error`` ``times`` times (None: always) for calls matching ``when``."""

    def __init__(
        self,
        client: Any,
        operation: str,
        code: str = "InternalError",
        *,
        status: int = 500,
        times: int | None = 1,
        when: Callable[[dict], bool] = lambda params: True,
        error: BaseException | None = None,
    ):
        self.client, self.operation, self.times, self.when = client, operation, times, when
        self.error = error or ClientError(
            {"Error": {"Code": code, "Message": "injected fault"}, "ResponseMetadata": {"HTTPStatusCode": status}},
            operation,
        )
        self.calls = self.raised = 0
        self.event = f"provide-client-params.{client.meta.service_model.service_id.hyphenize()}.{operation}"
        client.meta.events.register(self.event, self, unique_id=f"fault-{id(self)}")

    def __call__(self, params: dict, **_: Any) -> None:
        if not self.when(params):
            return
        self.calls += 1
        if self.times is None or self.raised < self.times:
            self.raised += 1
            raise self.error

    def heal(self) -> None:
        self.client.meta.events.unregister(self.event, unique_id=f"fault-{id(self)}")


def runtime_clients(app) -> Any:
    service = app.runtime().service
    return service.clients


def raw_files_are_complete(lake, table: str) -> list[str]:
    """Every object under the table is a whole Parquet file (footer and all)."""
    keys = lake.raw_keys(table)
    for key in keys:
        body = lake.s3.get_object(Bucket=lake.settings.raw_bucket, Key=key)["Body"].read()
        pq.read_table(io.BytesIO(body))
    return keys


def partitions(lake, table: str) -> list[list[str]]:
    try:
        found = lake.glue.get_partitions(DatabaseName=lake.settings.raw_database, TableName=table)["Partitions"]
    except lake.glue.exceptions.EntityNotFoundException:
        return []
    return sorted(p["Values"] for p in found)


def quarantine_keys(lake) -> list[str]:
    return sorted(o["Key"] for o in lake.s3.list_objects_v2(Bucket=lake.settings.quarantine_bucket).get("Contents", []))


def failed_ids(response: dict) -> list[str]:
    return [f["itemIdentifier"] for f in response["batchItemFailures"]]


# ------------------------------------------------------------------------------------------------ S3 reads


def test_s3_read_throttling_is_absorbed_by_the_sdk_retries(lake, app, context):
    """Two 503 SlowDown answers, then S3 recovers: the SDK's standard retries convert it on the first delivery."""
    obj = lake.put("stedi/customer/throttled.json", CUSTOMERS)
    s3 = runtime_clients(app).s3
    answered = []

    def slow_down(request, **_):
        if request.method == "GET" and "throttled.json" in request.url and len(answered) < 2:
            answered.append(request.url)
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None

    s3.meta.events.register_first("before-send.s3.GetObject", slow_down)
    assert app.handler(sqs_batch(event_for(obj)), context) == {"batchItemFailures": []}
    assert len(answered) == 2
    assert lake.ledger(obj.key).state == "converted" and len(lake.raw_rows("customer_landing")) == 10


class _Raw:
    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


@pytest.mark.parametrize("code, status", [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503)])
def test_s3_read_errors_beyond_the_sdk_retries_fail_only_their_record(lake, app, context, code, status):
    good = lake.put("stedi/customer/good.json", CUSTOMERS)
    flaky = lake.put("stedi/customer/flaky.json", CUSTOMERS)
    fault = Fault(runtime_clients(app).s3, "GetObject", code, status=status, times=None,
                  when=lambda p: p["Key"] == flaky.key)
    response = app.handler(sqs_batch(event_for(good), event_for(flaky)), context)
    assert failed_ids(response) == ["message-1"]
    assert lake.ledger(good.key).state == "converted"
    assert (lake.ledger(flaky.key).state, lake.ledger(flaky.key).reason_code) == ("failed", code)
    assert {r["_source_key"] for r in lake.raw_rows("customer_landing")} == {good.key}
    fault.heal()
    assert app.handler(sqs_batch(event_for(flaky), receive_count=2), context) == {"batchItemFailures": []}
    assert lake.ledger(flaky.key).state == "converted"
    assert len(lake.raw_rows("customer_landing")) == 20


class _DyingBody:
    """A GetObject body whose connection drops after the first chunk."""

    def __init__(self, body):
        self.body, self.reads = body, 0

    def read(self, size=-1):
        self.reads += 1
        if self.reads > 1:
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")
        return self.body.read(min(size, 200) if size and size > 0 else 200)

    def readinto(self, buffer):  # what the converter uses when the body has it, as botocore's StreamingBody does
        self.reads += 1
        if self.reads > 1:
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")
        return self.body.readinto(memoryview(buffer)[:200])

    def close(self):
        self.body.close()


class _S3DroppingReads(ClientProxy):
    def get_object(self, **kwargs):
        response = self.real.get_object(**kwargs)
        return {**response, "Body": _DyingBody(response["Body"])}


def test_s3_read_failing_mid_stream_is_transient_and_writes_nothing(lake, app, context):
    obj = lake.put("stedi/customer/dropped.json", CUSTOMERS)
    clients = runtime_clients(app)
    real = clients.s3
    clients.__dict__["s3"] = _S3DroppingReads(real)
    response = app.handler(sqs_batch(event_for(obj)), context)
    assert failed_ids(response) == ["message-0"]
    entry = lake.ledger(obj.key)
    assert entry.state == "failed" and entry.reason_code == "ReadTimeoutError"
    assert lake.raw_keys("customer_landing") == [] and quarantine_keys(lake) == []
    clients.__dict__["s3"] = real
    assert app.handler(sqs_batch(event_for(obj), receive_count=2), context) == {"batchItemFailures": []}
    assert lake.ledger(obj.key).state == "converted" and len(lake.raw_rows("customer_landing")) == 10


# ------------------------------------------------------------------------------------------------ S3 writes


@pytest.mark.parametrize("code", ["SlowDown", "InternalError"])
def test_raw_upload_failure_fails_the_record_and_the_retry_converges(lake, app, context, code):
    obj = lake.put("retail/orders/orders-1.csv", ORDERS)
    s3 = runtime_clients(app).s3
    fault = Fault(s3, "PutObject", code, status=503, times=None, when=lambda p: p["Bucket"] == lake.settings.raw_bucket)
    response = app.handler(sqs_batch(event_for(obj)), context)
    assert failed_ids(response) == ["message-0"]
    assert lake.ledger(obj.key).state == "failed"
    assert lake.raw_keys("orders") == [] and partitions(lake, "orders") == []
    fault.heal()
    assert app.handler(sqs_batch(event_for(obj), receive_count=2), context) == {"batchItemFailures": []}
    rows = lake.raw_rows("orders")
    assert len(rows) == 30 and len({(r["order_id"], r["product_id"]) for r in rows}) == 30
    assert len(partitions(lake, "orders")) == 3


def test_quarantine_write_failure_is_retried_to_exactly_one_copy_and_one_alert(lake, app, context):
    obj = lake.put("stedi/customer/bad.json", BAD_CUSTOMERS)
    s3 = runtime_clients(app).s3
    fault = Fault(s3, "PutObject", "InternalError", times=None,
                  when=lambda p: p["Bucket"] == lake.settings.quarantine_bucket and p["Key"].endswith(".reason.json"))
    assert failed_ids(app.handler(sqs_batch(event_for(obj)), context)) == ["message-0"]
    assert lake.ledger(obj.key).state == "failed"
    fault.heal()
    assert app.handler(sqs_batch(event_for(obj), receive_count=2), context) == {"batchItemFailures": []}
    entry = lake.ledger(obj.key)
    assert (entry.state, entry.reason_code) == ("quarantined", "invalid_rows")
    assert quarantine_keys(lake) == [obj.key, f"{obj.key}.reason.json"]
    assert len(lake.alerts()) == 1


# ------------------------------------------------------------------------------------------------ Glue catalog


@pytest.mark.parametrize("operation", ["CreateTable", "BatchCreatePartition", "GetTable"])
def test_glue_catalog_errors_fail_the_record_and_the_retry_registers_once(lake, app, context, operation):
    obj = lake.put("retail/orders/orders-1.csv", ORDERS)
    glue = runtime_clients(app).glue
    fault = Fault(glue, operation, "InternalServiceException", times=None)
    response = app.handler(sqs_batch(event_for(obj)), context)
    assert failed_ids(response) == ["message-0"]
    entry = lake.ledger(obj.key)
    assert (entry.state, entry.reason_code) == ("failed", "InternalServiceException")
    written_before = raw_files_are_complete(lake, "orders")  # uploaded before the catalog call, not yet registered
    fault.heal()
    assert app.handler(sqs_batch(event_for(obj), receive_count=2), context) == {"batchItemFailures": []}
    keys = raw_files_are_complete(lake, "orders")
    assert set(written_before) <= set(keys) and len(keys) == 3  # same deterministic keys, overwritten in place
    rows = lake.raw_rows("orders")
    assert len(rows) == 30 and len({(r["order_id"], r["product_id"]) for r in rows}) == 30
    assert len(partitions(lake, "orders")) == 3
    assert lake.ledger(obj.key).state == "converted"


# ------------------------------------------------------------------------------------------------ DynamoDB race


def _second_worker():
    """Another Lambda container: its own module, processor, runtime and clients. Same module name as the first
    (as in Lambda, where both import `app`): Powertools' idempotency key is prefixed with the function's module."""
    spec = importlib.util.spec_from_file_location("convert_app", REPO / "functions/convert/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not registered in sys.modules: the first worker keeps that slot
    return module


def test_two_workers_on_one_object_convert_it_once(lake, app, context):
    """Worker B receives the same object while worker A is converting it (S3 and EventBridge deliver at least
    once): Powertools' conditional put on the idempotency table fails for B (IdempotencyAlreadyInProgressError),
    B's record fails and is redelivered later, when A's saved result is returned. No duplicate rows."""
    obj = lake.put("stedi/customer/raced.json", CUSTOMERS)
    event = event_for(obj)
    worker_b = _second_worker()
    try:
        seen: dict[str, Any] = {}

        def b_arrives_while_a_converts(params, **_):
            if "b" not in seen:
                seen["b"] = worker_b.handler(sqs_batch(event), context)
                seen["b_error"] = [e[0].__name__ for e in worker_b.processor.exceptions]

        a_glue = runtime_clients(app).glue
        a_glue.meta.events.register("provide-client-params.glue.GetTable", b_arrives_while_a_converts)
        assert app.handler(sqs_batch(event), context) == {"batchItemFailures": []}
        assert failed_ids(seen["b"]) == ["message-0"]
        assert seen["b_error"] == ["IdempotencyAlreadyInProgressError"]
        assert lake.ledger(obj.key).state == "converted"
        # B's redelivery: the idempotency record is COMPLETED now, so A's result is returned without converting again
        uploads = Fault(runtime_clients(worker_b).s3, "PutObject", times=0)
        assert worker_b.handler(sqs_batch(event, receive_count=2), context) == {"batchItemFailures": []}
        assert uploads.calls == 0
        assert len(lake.raw_rows("customer_landing")) == 10 and len(lake.raw_keys("customer_landing")) == 1
    finally:
        worker_b.runtime.cache_clear()


# ------------------------------------------------------------------------------------------------ SNS


def test_alert_publish_failure_is_retried_and_ends_quarantined_with_one_copy(lake, app, context):
    obj = lake.put("stedi/customer/bad.json", BAD_CUSTOMERS)
    sns = runtime_clients(app).sns
    fault = Fault(sns, "Publish", "Throttling", status=400, times=None)
    assert failed_ids(app.handler(sqs_batch(event_for(obj)), context)) == ["message-0"]
    assert lake.ledger(obj.key).state == "failed"
    assert lake.alerts() == []
    fault.heal()
    assert app.handler(sqs_batch(event_for(obj), receive_count=2), context) == {"batchItemFailures": []}
    entry = lake.ledger(obj.key)
    assert (entry.state, entry.reason_code) == ("quarantined", "invalid_rows")
    assert quarantine_keys(lake) == [obj.key, f"{obj.key}.reason.json"]
    assert lake.s3.get_object(Bucket=lake.settings.quarantine_bucket, Key=obj.key)["Body"].read() == BAD_CUSTOMERS
    alerts = lake.alerts()
    assert len(alerts) == 1 and alerts[0]["message"]["reason_code"] == "invalid_rows"


# ------------------------------------------------------------------------------------------------ Lambda timeout


class LambdaTimedOut(BaseException):
    """The process is killed: nothing in the handler can catch it, nothing is recorded."""


class DyingContext(LambdaContext):
    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 50  # Powertools marks the in-progress record as expiring when the invocation would time out


class _S3DyingOnUpload(ClientProxy):
    """The process is killed just before its n-th Parquet upload (uploads run one after the other)."""

    def __init__(self, real, bucket: str, die_at: int):
        super().__init__(real)
        self.bucket, self.die_at, self.uploads = bucket, die_at, 0

    def upload_file(self, filename, bucket, key, *args, **kwargs):
        if bucket == self.bucket:
            self.uploads += 1
            if self.uploads == self.die_at:
                raise LambdaTimedOut()
        return self.real.upload_file(filename, bucket, key, *args, **kwargs)


def test_a_lambda_timeout_mid_write_leaves_only_whole_files_and_the_retry_converges(lake, app, context):
    obj = lake.put("retail/orders/orders-1.csv", ORDERS)
    clients = runtime_clients(app)
    real = clients.s3
    clients.__dict__["s3"] = _S3DyingOnUpload(real, lake.settings.raw_bucket, die_at=2)
    with pytest.raises(LambdaTimedOut):
        app.handler(sqs_batch(event_for(obj)), DyingContext())
    clients.__dict__["s3"] = real

    first = raw_files_are_complete(lake, "orders")  # a PUT is atomic: whole files or none
    assert len(first) == 1
    assert partitions(lake, "orders") == []  # registration comes after every upload
    died = lake.ledger(obj.key)  # recorded before the work, so the object has a state even when the process dies
    assert died.state == "converting" and died.attempts == 1
    now = datetime.fromisoformat(died.updated_at)
    assert died.effective_state(now, timedelta(minutes=15)) == "converting"  # may still be running
    assert died.effective_state(now + timedelta(minutes=16), timedelta(minutes=15)) == "failed"  # past the timeout
    assert len(died.outputs) == 3  # the files it was about to write are listed, so nothing can be orphaned

    time.sleep(0.1)  # past the in-progress expiry: the redelivery may convert again
    assert app.handler(sqs_batch(event_for(obj), receive_count=2), context) == {"batchItemFailures": []}
    keys = raw_files_are_complete(lake, "orders")
    assert first[0] in keys and len(keys) == 3
    rows = lake.raw_rows("orders")
    assert len(rows) == 30 and len({(r["order_id"], r["product_id"]) for r in rows}) == 30
    entry = lake.ledger(obj.key)
    assert entry.state == "converted" and sorted(entry.outputs) == [f"s3://{lake.settings.raw_bucket}/{k}" for k in keys]


# ------------------------------------------------------------------------------------------------ SQS: DLQ and redrive


def _lambda_records(messages: list[dict], queue_arn: str) -> dict:
    template = json.loads((REPO / "events/sqs-s3-object-created.json").read_text())["Records"][0]
    records = []
    for message in messages:
        record = json.loads(json.dumps(template))
        record.update(messageId=message["MessageId"], receiptHandle=message["ReceiptHandle"], body=message["Body"],
                      eventSourceARN=queue_arn, md5OfBody=message["MD5OfBody"])
        record["attributes"]["ApproximateReceiveCount"] = message["Attributes"]["ApproximateReceiveCount"]
        records.append(record)
    return {"Records": records}


def _poll_once(sqs, url: str, arn: str, app, context) -> int:
    """What Lambda's event source mapping does once: receive, invoke, delete the records that succeeded."""
    messages = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0, AttributeNames=["All"]
    ).get("Messages", [])
    if not messages:
        return 0
    response = app.handler(_lambda_records(messages, arn), context)
    failed = set(failed_ids(response))
    for message in messages:
        if message["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


def _depth(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_transient_errors_reach_the_dlq_after_max_receive_count_and_redrive_converts(
    lake, app, context, monkeypatch, capsys
):
    monkeypatch.setenv("MAX_RECEIVE_COUNT", "2")  # read when the runtime is built, as the template sets it
    sqs = boto3.client("sqs")
    dlq_url = sqs.create_queue(QueueName="lakehouse-dev-landing-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="lakehouse-dev-landing",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    good = lake.put("stedi/customer/good.json", CUSTOMERS)
    poison = lake.put("stedi/customer/poison.json", CUSTOMERS)
    for obj in (good, poison):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event_for(obj)))
    fault = Fault(runtime_clients(app).s3, "GetObject", "InternalError", times=None,
                  when=lambda p: p["Key"] == poison.key)

    deliveries = []
    for _ in range(10):  # moto moves the message to the DLQ on the receive after the maxReceiveCount-th
        received = _poll_once(sqs, url, arn, app, context)
        deliveries.append(received)
        if not received and _depth(sqs, url) == 0:
            break
    assert _depth(sqs, url) == 0 and _depth(sqs, dlq_url) == 1
    assert fault.raised == 2, "delivered maxReceiveCount times, then parked"
    assert lake.ledger(good.key).state == "converted"
    parked = lake.ledger(poison.key)
    assert parked.state == "dead_lettered" and parked.attempts == 2 and parked.reason_code == "InternalError"

    # S3 recovered; the operator redrives the DLQ to its source queue
    fault.heal()
    try:
        task = sqs.start_message_move_task(SourceArn=dlq_arn)
        redrive = f"start_message_move_task ({task['TaskHandle'][:12]}...)"
    except (NotImplementedError, ClientError, AttributeError) as exc:
        # moto 5.2.1 does not implement StartMessageMoveTask: move the messages the way it does
        redrive = f"manual move (moto: {type(exc).__name__})"
        while True:
            got = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            for message in got:
                sqs.send_message(QueueUrl=url, MessageBody=message["Body"])
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    with capsys.disabled():
        print(f"\nDLQ redrive on moto: {redrive}; deliveries per poll before parking: {deliveries}")
    while _poll_once(sqs, url, arn, app, context):
        pass
    assert _depth(sqs, url) == 0 and _depth(sqs, dlq_url) == 0
    assert lake.ledger(poison.key).state == "converted"
    rows = lake.raw_rows("customer_landing")
    assert len(rows) == 20 and {r["_source_key"] for r in rows} == {good.key, poison.key}
