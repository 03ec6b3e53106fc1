"""The local lake lasts: what a stopped lake held comes back when it starts again (state.py), in this process with a
stand-in for the Glue job (tests/e2e/test_up.py does it with `lakehouse up`, `down` and Spark)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lakehouse.ledger import now
from lakehouse_local.lake import LakeBusy, LocalLake

pytestmark = [pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "pipelines" / "stedi" / "samples"


def _objects(lake: LocalLake) -> dict[tuple[str, str], dict[str, Any]]:
    """Every object of the stack's buckets: version, ETag, modification time, size."""
    s3 = lake.aws.client("s3")
    out = {}
    for bucket in lake.stack.of_type("AWS::S3::Bucket").values():
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            for version in page.get("Versions", []):
                if version["IsLatest"]:
                    out[(bucket, version["Key"])] = {k: version[k] for k in ("VersionId", "ETag", "LastModified",
                                                                              "Size")}
    return out


def _catalog(lake: LocalLake) -> dict[str, Any]:
    glue = lake.aws.client("glue")
    out = {}
    for database in lake.stack.of_type("AWS::Glue::Database").values():
        for table in glue.get_tables(DatabaseName=database)["TableList"]:
            partitions = glue.get_partitions(DatabaseName=database, TableName=table["Name"])["Partitions"]
            out[f"{database}.{table['Name']}"] = (table.get("Parameters", {}), table["StorageDescriptor"]["Columns"],
                                                  sorted(p["Values"] for p in partitions))
    return out


def _items(lake: LocalLake) -> dict[str, list[dict[str, Any]]]:
    ddb = lake.aws.client("dynamodb")
    return {t: sorted(ddb.scan(TableName=t)["Items"], key=json.dumps)
            for t in lake.stack.of_type("AWS::DynamoDB::Table").values()}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A lake that converted the STEDI samples and a bad file, ran a pipeline, and holds messages in its queues;
    what it held when it stopped."""
    home = tmp_path_factory.mktemp("home")
    landing = tmp_path_factory.mktemp("landing")
    (landing / "stedi" / "customer").mkdir(parents=True)
    (landing / "stedi" / "customer" / "bad.json").write_text('{"customerName": "x"}\n')
    lake = LocalLake.start(work_dir=home, persistence="write", executor=lambda job, argv: None)
    try:
        since = now()
        keys = lake.upload(SAMPLES) + lake.upload(landing)
        lake.wait_for_objects(keys, since)
        execution = lake.follow(lake.start_execution("stedi", {"trigger": "test"}), timeout=60)
        assert execution["status"] == "SUCCEEDED"
        sqs = lake.aws.client("sqs")
        dlq = lake.stack.refs["LandingDeadLetterQueue"]
        sqs.send_message(QueueUrl=dlq, MessageBody=json.dumps({"parked": "event"}))
        before = {"objects": _objects(lake), "catalog": _catalog(lake), "items": _items(lake),
                  "dlq": dlq, "alerts": lake.alerts(), "execution": execution["executionArn"]}
    finally:
        lake.stop()
    yield {"home": home, **before}


@pytest.fixture(scope="module")
def restored(saved: dict[str, Any]) -> Iterator[LocalLake]:
    lake = LocalLake.start(work_dir=saved["home"], persistence="write", executor=lambda job, argv: None)
    yield lake
    lake.stop()


def test_every_object_comes_back_with_its_version_etag_and_modification_time(saved: dict[str, Any],
                                                                             restored: LocalLake) -> None:
    assert saved["objects"]  # landing files, raw Parquet, quarantine copies and reason files
    assert _objects(restored) == saved["objects"]


def test_the_catalog_comes_back_with_parameters_and_partitions(saved: dict[str, Any], restored: LocalLake) -> None:
    assert any(partitions for _, _, partitions in saved["catalog"].values())
    assert _catalog(restored) == saved["catalog"]


def test_the_ledger_and_the_idempotency_records_come_back(saved: dict[str, Any], restored: LocalLake) -> None:
    items = _items(restored)
    assert items == saved["items"]
    ledger = {e.key: e.state for e in restored.ledger()}
    assert ledger["stedi/customer/bad.json"] == "quarantined"
    assert sum(state == "converted" for state in ledger.values()) == 6


def test_restored_landing_objects_are_not_converted_again(saved: dict[str, Any], restored: LocalLake) -> None:
    restored.poller.poll_once(wait_seconds=1)  # anything the restore put on the landing queue would be here now
    assert restored.poller.invocations == 0
    ledger_items = saved["items"][restored.stack.outputs["ObjectLedgerTableName"]]
    assert {e.key: e.updated_at for e in restored.ledger()} == {i["key"]["S"]: i["updated_at"]["S"]
                                                                 for i in ledger_items}


def test_queued_messages_executions_and_alerts_come_back(saved: dict[str, Any], restored: LocalLake) -> None:
    sqs = restored.aws.client("sqs")
    parked = sqs.receive_message(QueueUrl=saved["dlq"], VisibilityTimeout=0)["Messages"]
    assert [json.loads(m["Body"]) for m in parked] == [{"parked": "event"}]
    manifest = restored.state.manifest() if restored.state else {}
    assert [e["arn"] for e in manifest["executions"]] == [saved["execution"]]
    assert manifest["executions"][0]["status"] == "SUCCEEDED"
    assert [a["subject"] for a in manifest["alerts"]] == [a["subject"] for a in saved["alerts"]]
    assert any("quarantined" in a["subject"] for a in saved["alerts"])


def test_a_second_process_cannot_run_the_kept_lake_at_the_same_time(saved: dict[str, Any],
                                                                      restored: LocalLake) -> None:
    with pytest.raises(LakeBusy, match="in use by pid"):
        LocalLake.start(work_dir=saved["home"], persistence="write")
