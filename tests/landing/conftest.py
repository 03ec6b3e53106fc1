"""A landing zone in moto: the buckets, tables, topic and database ConvertFunction uses."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from lakehouse.aws import AwsClients
from lakehouse.contracts import ContractRegistry
from lakehouse.ingest import LandingObject, LandingService
from lakehouse.ledger import Ledger, LedgerEntry
from lakehouse.settings import Settings
from moto import mock_aws

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
LANDING = f"lakehouse-dev-landing-{ACCOUNT}"
ENV = {
    "RAW_BUCKET": f"lakehouse-dev-raw-{ACCOUNT}",
    "QUARANTINE_BUCKET": f"lakehouse-dev-quarantine-{ACCOUNT}",
    "RAW_DATABASE": "lakehouse_dev_raw",
    "LEDGER_TABLE": "lakehouse-dev-object-ledger",
    "IDEMPOTENCY_TABLE": "lakehouse-dev-idempotency",
    # The shipped stedi and weblogs pipelines, and a frozen retail orders contract the tests were written against
    # (the shipped retail pipeline is the medallion lab, which the tests do not pin).
    "LAKEHOUSE_PIPELINES_DIR": str(Path(__file__).resolve().parent / "pipelines"),
    "MAX_RECEIVE_COUNT": "3",
}

# Ten STEDI customers as JSON lines; odd ones consent to research, even ones omit the optional key.
CUSTOMERS = b"".join(
    json.dumps(
        {
            "customerName": f"Customer {i}", "email": f"c{i}@example.com", "phone": "8015551212",
            "birthDay": "1990-01-01", "serialNumber": f"serial-{i}", "registrationDate": 1655564376361 + i,
            "lastUpdateDate": 1655564376361 + i,
            **({"shareWithResearchAsOfDate": 1655564376361} if i % 2 else {}),
        }
    ).encode() + b"\n"
    for i in range(10)
)


class ClientProxy:
    """Stands in for a boto3 client: delegates every call to ``real`` except those a test overrides (faults)."""

    def __init__(self, real: Any):
        self.real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@dataclass
class Lake:
    s3: Any
    glue: Any
    sqs: Any
    ddb: Any
    alert_queue_url: str
    settings: Settings
    metrics: list = field(default_factory=list)
    puts: int = 0

    def put(self, key: str, body: bytes) -> LandingObject:
        """Upload like a producer would; the object carries the sequencer S3 would put in its event."""
        self.s3.put_object(Bucket=LANDING, Key=key, Body=body)
        head = self.s3.head_object(Bucket=LANDING, Key=key)
        self.puts += 1
        sequencer = f"{0x617F08299329D189 + self.puts:016X}"
        return LandingObject(LANDING, key, head["ETag"].strip('"'), head.get("VersionId", ""), len(body), sequencer)

    def service(self, **client_overrides: Any) -> LandingService:
        registry = ContractRegistry.from_directory(self.settings.pipelines_dir)
        clients = AwsClients(**client_overrides)
        return LandingService(registry, self.settings, clients, metric=lambda *m: self.metrics.append(m))

    def ledger(self, key: str) -> LedgerEntry:
        entry = Ledger(self.ddb, self.settings.ledger_table).get(f"s3://{LANDING}/{key}")
        assert entry is not None, f"no ledger entry for {key}"
        return entry

    def raw_keys(self, table: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.settings.raw_bucket, Prefix=f"{table}/")
        return sorted(o["Key"] for p in pages for o in p.get("Contents", []))

    def raw_rows(self, table: str) -> list[dict]:
        import io

        import pyarrow.parquet as pq

        rows: list[dict] = []
        for key in self.raw_keys(table):
            body = self.s3.get_object(Bucket=self.settings.raw_bucket, Key=key)["Body"].read()
            rows += pq.read_table(io.BytesIO(body)).to_pylist()
        return rows

    def quarantine_reason(self, key: str) -> dict:
        body = self.s3.get_object(Bucket=self.settings.quarantine_bucket, Key=f"{key}.reason.json")["Body"].read()
        return json.loads(body)

    def alerts(self) -> list[dict]:
        messages = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.alert_queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return messages
            for message in got:
                envelope = json.loads(message["Body"])
                messages.append({"subject": envelope.get("Subject"), "message": json.loads(envelope["Message"])})
                self.sqs.delete_message(QueueUrl=self.alert_queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def lake(monkeypatch, tmp_path):
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in (LANDING, ENV["RAW_BUCKET"], ENV["QUARANTINE_BUCKET"]):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=LANDING, VersioningConfiguration={"Status": "Enabled"})
        glue = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": ENV["RAW_DATABASE"]})
        ddb = boto3.client("dynamodb")
        ddb.create_table(
            TableName=ENV["LEDGER_TABLE"],
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "object_uri", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "object_uri", "KeyType": "HASH"}],
        )
        ddb.create_table(
            TableName=ENV["IDEMPOTENCY_TABLE"],
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )
        sns = boto3.client("sns")
        topic = sns.create_topic(Name="lakehouse-dev-alerts")["TopicArn"]
        sqs = boto3.client("sqs")
        queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        env = {**ENV, "ALERT_TOPIC_ARN": topic, "LAKEHOUSE_WORK_DIR": str(tmp_path)}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Lake(s3, glue, sqs, ddb, queue_url, Settings.from_env())


@pytest.fixture
def app(lake):
    """functions/convert/app.py, freshly imported (its runtime is built per test, inside moto)."""
    spec = importlib.util.spec_from_file_location("convert_app", REPO / "functions/convert/app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["convert_app"] = module
    spec.loader.exec_module(module)
    yield module
    module.runtime.cache_clear()
    sys.modules.pop("convert_app", None)


class LambdaContext:
    function_name = "lakehouse-dev-convert"
    memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:lakehouse-dev-convert"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 600_000


@pytest.fixture
def context() -> LambdaContext:
    return LambdaContext()


def event_for(obj: LandingObject, *, raw_key: str | None = None) -> dict:
    """The official EventBridge "Object Created" event for an object, from events/s3-object-created.json."""
    from urllib.parse import quote_plus

    event = json.loads((REPO / "events/s3-object-created.json").read_text())
    event["detail"]["bucket"]["name"] = obj.bucket
    event["resources"] = [f"arn:aws:s3:::{obj.bucket}"]
    event["detail"]["object"].update(
        {
            "key": raw_key or quote_plus(obj.key, safe="/"),
            "size": obj.size,
            "etag": obj.etag,
            "version-id": obj.version_id,
            "sequencer": obj.sequencer or event["detail"]["object"]["sequencer"],
        }
    )
    return event


def sqs_batch(*events: dict, receive_count: int = 1) -> dict:
    """The SQS-wrapped form, from events/sqs-s3-object-created.json, one record per event."""
    template = json.loads((REPO / "events/sqs-s3-object-created.json").read_text())["Records"][0]
    records = []
    for index, event in enumerate(events):
        record = json.loads(json.dumps(template))
        record["messageId"] = f"message-{index}"
        record["body"] = json.dumps(event)
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}
