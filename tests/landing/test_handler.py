"""ConvertFunction's handler on moto: official event shapes, catalog, ledger, quarantine, retries."""

from __future__ import annotations

import gzip
import json

import pytest
from botocore.exceptions import ClientError

from .conftest import CUSTOMERS, LANDING, ClientProxy, event_for, sqs_batch

ACTIVITY = b"ip_address,username,timestamp,request,http,bytes\n" + b"10.0.0.1,alice,17/Jan/2018:10:43:54,GET /petstore/Cats/Treats,200,512\n" * 5


def test_bare_eventbridge_event_converts_and_registers(lake, app, context):
    obj = lake.put("stedi/customer/customers-1.json", CUSTOMERS)
    outcome = app.handler(event_for(obj), context)
    assert outcome["state"] == "converted" and outcome["rows_written"] == 10
    rows = lake.raw_rows("customer_landing")
    assert len(rows) == 10 and isinstance(rows[0]["registrationDate"], int)
    table = lake.glue.get_table(DatabaseName="lakehouse_dev_raw", Name="customer_landing")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{lake.settings.raw_bucket}/customer_landing/"
    assert [k["Name"] for k in table["PartitionKeys"]] == ["ingest_date"]
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert columns["registrationdate"] == "bigint" and columns["_ingested_at"] == "timestamp"
    partitions = lake.glue.get_partitions(DatabaseName="lakehouse_dev_raw", TableName="customer_landing")["Partitions"]
    assert len(partitions) == 1 and partitions[0]["StorageDescriptor"]["Location"].endswith(
        f"/customer_landing/ingest_date={partitions[0]['Values'][0]}/"
    )
    entry = lake.ledger("stedi/customer/customers-1.json")
    assert entry.state == "converted" and entry.rows_written == 10 and entry.etag == obj.etag
    assert entry.outputs == [f"s3://{lake.settings.raw_bucket}/{k}" for k in lake.raw_keys("customer_landing")]


def test_sqs_wrapped_batch_reports_no_failures(lake, app, context):
    a = lake.put("stedi/customer/a.json", CUSTOMERS)
    b = lake.put("weblogs/useractivity/day 1+2.csv.gz", gzip.compress(ACTIVITY))
    response = app.handler(sqs_batch(event_for(a), event_for(b)), context)
    assert response == {"batchItemFailures": []}
    assert lake.ledger("weblogs/useractivity/day 1+2.csv.gz").rows_written == 5
    assert len(lake.raw_rows("useractivity")) == 5


def test_the_shipped_event_fixtures_parse(lake, app, context):
    """events/*.json are the official shapes: the encoded key decodes, the folder marker is ignored."""
    import pathlib

    events = pathlib.Path(__file__).resolve().parents[2] / "events"
    batch = json.loads((events / "sqs-s3-object-created-batch.json").read_text())
    for record in batch["Records"]:  # point them at the moto landing bucket, keep everything else
        body = json.loads(record["body"])
        body["detail"]["bucket"]["name"] = LANDING
        record["body"] = json.dumps(body)
    response = app.handler(batch, context)
    assert response == {"batchItemFailures": []}
    # the fixtures' objects do not exist in moto: recorded as ignored ("deleted"), under their decoded keys
    assert lake.ledger("stedi/customer/customers-1.json").reason_code == "deleted"
    assert lake.ledger("retail/orders/2026 11/orders été + returns.csv").reason_code == "deleted"
    assert lake.ledger("stedi/customer/").reason_code == "folder_marker"


def test_duplicate_delivery_does_not_duplicate_rows(lake, app, context):
    obj = lake.put("stedi/customer/a.json", CUSTOMERS)
    event = event_for(obj)
    app.handler(sqs_batch(event), context)
    app.handler(sqs_batch(event, event), context)
    assert len(lake.raw_rows("customer_landing")) == 10
    assert len(lake.raw_keys("customer_landing")) == 1


def test_reupload_replaces_the_objects_rows(lake, app, context):
    first = lake.put("stedi/customer/a.json", CUSTOMERS)
    app.handler(event_for(first), context)
    second = lake.put("stedi/customer/a.json", CUSTOMERS.split(b"\n", 3)[3])
    assert second.etag != first.etag
    app.handler(event_for(second), context)
    rows = lake.raw_rows("customer_landing")
    assert len(rows) == 7
    assert {r["_source_version"] for r in rows} == {second.version_id}


def test_events_are_read_at_their_own_version(lake, app, context):
    first = lake.put("stedi/customer/a.json", CUSTOMERS)
    lake.put("stedi/customer/a.json", CUSTOMERS.split(b"\n", 3)[3])
    outcome = app.handler(event_for(first), context)
    assert outcome["rows_written"] == 10


def test_a_late_event_for_an_older_version_changes_nothing(lake, app, context):
    first = lake.put("stedi/customer/a.json", CUSTOMERS)
    second = lake.put("stedi/customer/a.json", CUSTOMERS.split(b"\n", 3)[3])
    app.handler(event_for(second), context)
    outcome = app.handler(event_for(first), context)
    assert (outcome["state"], outcome["reason_code"]) == ("ignored", "superseded")
    assert len(lake.raw_rows("customer_landing")) == 7
    entry = lake.ledger("stedi/customer/a.json")
    assert (entry.state, entry.version_id) == ("converted", second.version_id)


def test_rejected_file_is_quarantined_with_reason_and_one_alert(lake, app, context):
    bad = CUSTOMERS.replace(b'"registrationDate": 1655564376363', b'"registrationDate": "yesterday"')
    obj = lake.put("stedi/customer/bad.json", bad)
    app.handler(sqs_batch(event_for(obj)), context)
    entry = lake.ledger("stedi/customer/bad.json")
    assert entry.state == "quarantined" and entry.reason_code == "invalid_rows"
    quarantined = lake.s3.get_object(Bucket=lake.settings.quarantine_bucket, Key="stedi/customer/bad.json")
    assert quarantined["Body"].read() == bad
    reason = lake.quarantine_reason("stedi/customer/bad.json")
    assert reason["code"] == "invalid_rows" and reason["errors"] == [
        {"row": 3, "column": "registrationDate", "message": "not a valid bigint: 'yesterday'"}
    ]
    assert lake.s3.head_object(Bucket=LANDING, Key="stedi/customer/bad.json")  # the original stays
    assert lake.raw_keys("customer_landing") == []
    alerts = lake.alerts()
    assert len(alerts) == 1
    assert alerts[0]["message"]["reason_code"] == "invalid_rows"
    assert alerts[0]["subject"].startswith("[lakehouse] stedi.customer quarantined")


def test_rows_quarantined_under_quarantine_rows_policy(lake, app, context):
    body = (
        b"order_id,customer_id,order_date,status,product_id,quantity,unit_price\n"
        b"1,7,2026-11-01,PLACED,p1,1,9.5\n2,7,2026-11-01,LOST,p2,2,3\n"
    )
    obj = lake.put("retail/orders/o.csv", body)
    app.handler(event_for(obj), context)
    entry = lake.ledger("retail/orders/o.csv")
    assert (entry.state, entry.rows_written, entry.rows_rejected) == ("converted", 1, 1)
    rows = lake.s3.get_object(Bucket=lake.settings.quarantine_bucket, Key="retail/orders/o.csv.rejected-rows.jsonl")
    assert json.loads(rows["Body"].read().splitlines()[0])["record"]["status"] == "LOST"
    assert lake.quarantine_reason("retail/orders/o.csv")["rejected_rows"].endswith(".rejected-rows.jsonl")
    assert len(lake.alerts()) == 1


@pytest.mark.parametrize(
    "key, body, code",
    [
        ("stedi/customer/", b"", "folder_marker"),
        ("stedi/customer/empty.json", b"", "zero_bytes"),
        ("weblogs/useractivity/header-only.csv", ACTIVITY.split(b"\n")[0] + b"\n", "no_rows"),
    ],
)
def test_ignored_objects_are_recorded_without_alerts(lake, app, context, key, body, code):
    obj = lake.put(key, body)
    app.handler(event_for(obj), context)
    entry = lake.ledger(key)
    assert (entry.state, entry.reason_code) == ("ignored", code)
    assert lake.alerts() == []


def test_files_under_an_unknown_folder_are_ignored_with_one_alert_per_folder(lake, app, context):
    """Issue 13, finding 3: a misspelled data-set folder (stedi/customers/) used to vanish without a state or an
    alert. Every file is recorded ignored/unknown_prefix; a bulk mistake is one alert per folder and period."""
    misspelled = [lake.put(f"stedi/customers/part-{i}.json", CUSTOMERS) for i in range(5)]
    other = lake.put("new_source/2026/x.csv", b"a\n1\n")
    for obj in [*misspelled, other]:
        assert app.handler(event_for(obj), context)["state"] == "ignored"
    for obj in [*misspelled, other]:
        entry = lake.ledger(obj.key)
        assert (entry.state, entry.reason_code) == ("ignored", "unknown_prefix")
        assert "stedi/customer/" in entry.reason  # the message names the prefixes that would route it
    alerts = lake.alerts()
    assert sorted(a["message"]["folder"] for a in alerts) == ["new_source/2026/", "stedi/customers/"]
    first = next(a for a in alerts if a["message"]["folder"] == "stedi/customers/")
    assert first["subject"] == "[lakehouse] files under an unknown folder: stedi/customers/"
    assert first["message"]["example"].endswith("stedi/customers/part-0.json")
    assert "lakehouse new dataset" in first["message"]["fix"]


class FailingSNS(ClientProxy):
    """Delegates to the moto SNS client, but fails every Publish (an injected fault)."""

    def publish(self, **kwargs):
        raise ClientError({"Error": {"Code": "InternalError", "Message": "injected"},
                           "ResponseMetadata": {"HTTPStatusCode": 500}}, "Publish")


def test_an_unknown_folder_alert_that_failed_to_publish_is_sent_by_the_redelivery(lake, app, context):
    """The once-per-folder marker is taken back when the alert cannot be published: the delivery fails, and its
    redelivery alerts (with the marker kept, nobody would ever be told about the folder)."""
    obj = lake.put("stedi/customers/part-0.json", CUSTOMERS)
    alerts = app.runtime().service.alerts
    alerts.sns = FailingSNS(alerts.sns)
    assert app.handler(sqs_batch(event_for(obj)), context) == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert lake.alerts() == []
    alerts.sns = alerts.sns.real
    assert app.handler(sqs_batch(event_for(obj), receive_count=2), context) == {"batchItemFailures": []}
    assert (lake.ledger(obj.key).state, lake.ledger(obj.key).reason_code) == ("ignored", "unknown_prefix")
    assert [a["message"]["folder"] for a in lake.alerts()] == ["stedi/customers/"]


class FlakyS3(ClientProxy):
    """Delegates to the moto S3 client, but throttles GetObject for one key (an injected fault)."""

    def __init__(self, real, key: str, code: str = "SlowDown"):
        super().__init__(real)
        self.key, self.code = key, code

    def get_object(self, **kwargs):
        if kwargs["Key"] == self.key:
            raise ClientError({"Error": {"Code": self.code, "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
        return self.real.get_object(**kwargs)


def test_a_transient_s3_error_fails_only_its_record(lake, app, context):
    good = lake.put("stedi/customer/good.json", CUSTOMERS)
    flaky = lake.put("stedi/customer/flaky.json", CUSTOMERS)
    service = app.runtime().service
    service.clients.__dict__["s3"] = FlakyS3(lake.s3, flaky.key)
    response = app.handler(sqs_batch(event_for(good), event_for(flaky)), context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert lake.ledger(good.key).state == "converted"
    failed = lake.ledger(flaky.key)
    assert failed.state == "failed" and failed.reason_code == "SlowDown"
    # the redelivery (S3 has recovered) converts it; the last allowed delivery is recorded as dead-lettered
    service.clients.__dict__["s3"] = lake.s3
    assert app.handler(sqs_batch(event_for(flaky), receive_count=2), context) == {"batchItemFailures": []}
    assert lake.ledger(flaky.key).state == "converted"


def test_the_last_failed_delivery_is_recorded_as_dead_lettered(lake, app, context):
    obj = lake.put("stedi/customer/flaky.json", CUSTOMERS)
    service = app.runtime().service
    service.clients.__dict__["s3"] = FlakyS3(lake.s3, obj.key, code="InternalError")
    response = app.handler(sqs_batch(event_for(obj), receive_count=3), context)
    assert len(response["batchItemFailures"]) == 1
    assert lake.ledger(obj.key).state == "dead_lettered"


def test_ingest_date_is_when_the_object_landed_so_retries_on_another_day_overwrite(lake, app, context):
    obj = lake.put("stedi/customer/a.json", CUSTOMERS)
    event = event_for(obj)
    event["time"] = "2025-01-31T23:59:59Z"
    app.handler(sqs_batch(event), context)
    keys = lake.raw_keys("customer_landing")
    assert len(keys) == 1 and "/ingest_date=2025-01-31/" in keys[0]
    rows = lake.raw_rows("customer_landing")
    assert {r["_ingested_at"].isoformat() for r in rows} == {"2025-01-31T23:59:59+00:00"}


class FailingGlue(ClientProxy):
    """Delegates to moto's Glue, but BatchCreatePartition fails (an injected fault)."""

    def batch_create_partition(self, **kwargs):
        raise ClientError({"Error": {"Code": "InternalServiceException", "Message": "injected"}}, "BatchCreatePartition")


def test_a_failed_reupload_on_another_day_still_replaces_the_old_rows_when_retried(lake, app, context):
    first = lake.put("stedi/customer/a.json", CUSTOMERS)
    day1 = event_for(first)
    day1["time"] = "2026-11-20T10:00:00Z"
    app.handler(sqs_batch(day1), context)
    second = lake.put("stedi/customer/a.json", CUSTOMERS.split(b"\n", 3)[3])
    day2 = event_for(second)
    day2["time"] = "2026-11-21T10:00:00Z"
    service = app.runtime().service
    service.catalog.glue = FailingGlue(lake.glue)
    assert app.handler(sqs_batch(day2), context)["batchItemFailures"]
    assert lake.ledger(first.key).state == "failed"
    service.catalog.glue = lake.glue
    assert app.handler(sqs_batch(day2, receive_count=2), context) == {"batchItemFailures": []}
    keys = lake.raw_keys("customer_landing")
    assert len(keys) == 1 and "/ingest_date=2026-11-21/" in keys[0]
    assert len(lake.raw_rows("customer_landing")) == 7


def test_a_reason_file_for_a_key_near_s3s_limit_stays_within_it(lake, app, context):
    """Issue 13, finding 14: a 1,019-byte key got a 1,031-byte `<key>.reason.json` key, over S3's 1,024-byte
    limit, so the quarantine could never be written. Such side files go under long-keys/<sha256 of the key>."""
    key = "stedi/customer/" + "k" * (1019 - len("stedi/customer/") - len(".json")) + ".json"
    assert len(key.encode()) == 1019
    obj = lake.put(key, b'{"customerName": 1}\n')
    assert app.handler(event_for(obj), context)["state"] == "quarantined"
    entry = lake.ledger(key)
    assert entry.quarantine_uri == f"s3://{lake.settings.quarantine_bucket}/{key}"
    reason_key = entry.reason_uri.removeprefix(f"s3://{lake.settings.quarantine_bucket}/")
    assert reason_key.startswith("long-keys/") and reason_key.endswith(".reason.json")
    reason = json.loads(lake.s3.get_object(Bucket=lake.settings.quarantine_bucket, Key=reason_key)["Body"].read())
    assert reason["object"] == obj.uri  # the reason file names the object it explains
    assert lake.alerts()[0]["message"]["reason_file"] == entry.reason_uri


def test_a_transient_failure_never_records_the_files_values(lake, app, context, monkeypatch, capsys):
    """An unexpected error's text may quote the file (a parser, a codec); the ledger and the log keep its words
    without what it quotes (issue 13, finding 7)."""
    import lakehouse.convert

    def failing(*args, **kwargs):
        raise ValueError("cannot convert value '078-05-1120' in column ssn")

    monkeypatch.setattr(lakehouse.convert, "convert", failing)
    obj = lake.put("stedi/customer/c.json", CUSTOMERS)
    assert app.handler(sqs_batch(event_for(obj)), context)["batchItemFailures"]
    entry = lake.ledger(obj.key)
    assert (entry.state, entry.reason_code) == ("failed", "ValueError")
    assert "078-05-1120" not in entry.reason and entry.reason.startswith("cannot convert value")
    assert "078-05-1120" not in capsys.readouterr().out


def test_each_data_set_has_its_own_metric_series(lake, app, context, capsys):
    """The dashboard and the freshness alarms read one series per data set (EMF dimension `dataset`)."""
    capsys.readouterr()
    app.handler(event_for(lake.put("stedi/customer/m.json", CUSTOMERS)), context)
    app.handler(event_for(lake.put("nobody/knows/m.csv", b"a\n1\n")), context)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    series = {(next(iter(set(r) & {"ObjectsLanded", "FilesConverted", "RowsWritten", "FilesIgnored"})), r["dataset"])
              for r in records if set(r) & {"ObjectsLanded", "FilesConverted", "RowsWritten", "FilesIgnored"}}
    assert {("ObjectsLanded", "stedi.customer"), ("FilesConverted", "stedi.customer"),
            ("RowsWritten", "stedi.customer"), ("ObjectsLanded", "unknown"), ("FilesIgnored", "unknown")} <= series
    converted = next(r for r in records if "RowsWritten" in r and r["dataset"] == "stedi.customer")
    assert converted["RowsWritten"] == [10.0]
    assert converted["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "dataset"]]
