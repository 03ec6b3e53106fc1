"""The operator commands with ``--stack NAME``: a "deployed" stack in moto (CloudFormation creates the queues, the
ledger table and the buckets the commands use; its outputs and resources are read as on AWS), reached through
boto3's default chain and awswrangler, with no endpoint override."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from lakehouse.ingest import REPLAY_FIELD
from lakehouse.ledger import Ledger, LedgerEntry
from lakehouse_local import ops
from lakehouse_local.cli import main
from lakehouse_local.target import deployed
from moto import mock_aws

STACK = "lakehouse-dev"
TEMPLATE = {
    "Resources": {
        "LandingBucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "lakehouse-dev-landing"}},
        "LandingDeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "lakehouse-dev-landing-dlq"}},
        "LandingQueue": {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": "lakehouse-dev-landing",
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["LandingDeadLetterQueue", "Arn"]},
                              "maxReceiveCount": 5}}},
        "IdempotencyTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "TableName": "lakehouse-dev-idempotency", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}},
        "ObjectLedgerTable": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "TableName": "lakehouse-dev-ledger", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "object_uri", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "object_uri", "KeyType": "HASH"}]}},
    },
    "Outputs": {
        "LandingBucketName": {"Value": {"Ref": "LandingBucket"}},
        "ObjectLedgerTableName": {"Value": {"Ref": "ObjectLedgerTable"}},
        "LandingDeadLetterQueueArn": {"Value": {"Fn::GetAtt": ["LandingDeadLetterQueue", "Arn"]}},
    },
}


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(TEMPLATE))
        s3 = boto3.client("s3")
        landing = "lakehouse-dev-landing"
        ledger = Ledger(boto3.client("dynamodb"), "lakehouse-dev-ledger")
        for key, state in (("stedi/customer/a.json", "converted"), ("stedi/customer/b.json", "quarantined"),
                           ("stray/x.csv", "ignored")):
            version = s3.put_object(Bucket=landing, Key=key, Body=b'{"a": 1}\n').get("VersionId", "")
            entry = LedgerEntry(object_uri=f"s3://{landing}/{key}", bucket=landing, key=key, version_id=version,
                                landed_at="2026-11-27T10:00:00Z",
                                pipeline="stedi" if key.startswith("stedi") else "",
                                dataset="customer" if key.startswith("stedi") else "")
            entry.converting(1, 5)
            getattr(entry, state)(*{"converted": (1, 0, []), "quarantined": ("missing_columns", "no email", "", ""),
                                    "ignored": ("unknown_prefix", "no contract")}[state])
            ledger.record(entry)
        records = boto3.client("dynamodb")
        for record_id, status, key in (("done#b", "COMPLETED", "stedi/customer/b.json"),
                                       ("busy#b", "INPROGRESS", None), ("done#a", "COMPLETED", "stedi/customer/a.json")):
            item = {"id": {"S": record_id}, "status": {"S": status}}
            if key:  # what Powertools saves: the conversion's response, naming the object
                item["data"] = {"S": json.dumps({"object": f"s3://{landing}/{key}", "state": "quarantined"})}
            records.put_item(TableName="lakehouse-dev-idempotency", Item=item)
        yield {"landing": landing}


def _json(*args: str) -> Any:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main([*args, "--stack", STACK, "--json"])
    assert code == 0, out.getvalue()
    return json.loads(out.getvalue())


def test_the_target_is_read_from_cloudformation(stack: dict[str, Any]) -> None:
    target = deployed(STACK)
    assert not target.local and target.region == "eu-west-1" and target.account == "123456789012"
    assert target.output("LandingBucketName") == stack["landing"]
    assert target.queue_url("LandingQueue").endswith("/lakehouse-dev-landing")


def test_status_counts_the_deployed_ledger(stack: dict[str, Any]) -> None:
    report = _json("status")
    assert report["objects"] == 3
    assert report["states"] == {"converted": 1, "quarantined": 1, "ignored": 1}
    assert report["dead_letter_queue"] == {"waiting": 0, "in_flight": 0}
    assert report["where"] == f"stack {STACK} (eu-west-1)"


def test_replay_sends_the_eventbridge_event_to_the_deployed_landing_queue(stack: dict[str, Any]) -> None:
    result = _json("replay", "--dataset", "stedi.customer", "--state", "quarantined")
    assert [s["key"] for s in result["sent"]] == ["stedi/customer/b.json"]
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="lakehouse-dev-landing")["QueueUrl"]
    event = json.loads(sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"])
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["detail"]["bucket"]["name"] == stack["landing"]
    assert event["detail"]["object"]["key"] == "stedi/customer/b.json"
    assert event["detail"][REPLAY_FIELD] == result["replay_id"]
    assert event["time"] == "2026-11-27T10:00:00Z" and event["account"] == "123456789012"
    # the replay id is in the converter's idempotency key: no record is deleted, and none needs to be
    left = boto3.client("dynamodb").scan(TableName="lakehouse-dev-idempotency")["Items"]
    assert sorted(i["id"]["S"] for i in left) == ["busy#b", "done#a", "done#b"]


def test_redrive_on_aws_starts_a_message_move_task(stack: dict[str, Any]) -> None:
    target = deployed(STACK)
    sqs = target.client("sqs")
    sqs.send_message(QueueUrl=target.queue_url("LandingDeadLetterQueue"), MessageBody="{}")
    dlq_arn = target.output("LandingDeadLetterQueueArn")
    with Stubber(sqs) as stubber:  # moto 5.2.1 has no StartMessageMoveTask: assert the request instead
        stubber.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "1",
                                                                     "ApproximateNumberOfMessagesNotVisible": "0"}})
        stubber.add_response("get_queue_attributes", {"Attributes": {"QueueArn": "arn:landing"}})
        stubber.add_response("start_message_move_task", {"TaskHandle": "task-1"},
                             {"SourceArn": dlq_arn, "DestinationArn": "arn:landing"})
        result = ops.redrive(target)
    assert result["moved"] == 1 and result["task"] == "task-1"


def test_an_unknown_stack_is_a_usage_error(stack: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--stack", "nope"]) == 2
    assert "cannot read stack 'nope'" in capsys.readouterr().err
