"""Iceberg tables of the trusted and curated zones, on the local stack: MERGE, incremental runs, a rerun after a
failure, schema evolution (additive accepted, breaking rejected with its alert), time travel, and two concurrent
commits to one table."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from lakehouse.spark_step import StepRun, session_of
from lakehouse_local.cli import main as cli

from .conftest import PIPELINES, GlueLake

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CONTRACT = """dataset: orders_feed
table: orders_feed
landing_prefix: shop/orders/
format: {type: jsonl}
columns:
  - {name: order_id, type: bigint, nullable: false}
  - {name: customer, type: string}
  - {name: amount, type: double}
"""
LOG_SQL = "SELECT order_id, customer, amount FROM orders_feed"
LATEST_SQL = """SELECT order_id, customer, amount FROM (
  SELECT *, row_number() OVER (PARTITION BY order_id ORDER BY _ingested_at DESC, _source_key DESC) AS rn
  FROM orders_feed) o
WHERE rn = 1"""
PIPELINE = """steps:
  - {name: orders_log, zone: trusted, write: append, incremental: true}
  - {name: orders_latest, zone: curated, write: merge, keys: [order_id], incremental: true,
     expectations: [{type: unique, columns: [order_id]}]}
"""


def _lines(*orders: tuple) -> bytes:
    rows = [{"order_id": o[0], "customer": o[1], "amount": o[2], **({"channel": o[3]} if len(o) > 3 else {})}
            for o in orders]
    return "\n".join(json.dumps(r) for r in rows).encode() + b"\n"


@pytest.fixture(scope="module")
def shop(glue_lake: GlueLake) -> GlueLake:
    glue_lake.write("shop/contracts/orders_feed.yaml", CONTRACT)
    glue_lake.write("shop/steps/orders_log.sql", LOG_SQL)
    glue_lake.write("shop/steps/orders_latest.sql", LATEST_SQL)
    glue_lake.write("shop/pipeline.yaml", PIPELINE)
    glue_lake.land({"shop/orders/day-1.json": _lines((1, "ann", 10.0), (2, "bob", 20.0), (3, "cy", 30.0))})
    for step in ("orders_log", "orders_latest"):
        assert glue_lake.run_step("shop", step)["state"] == "SUCCEEDED"
    return glue_lake


def _ordered(lake: GlueLake, table: str) -> list[dict[str, Any]]:
    return lake.query(f"SELECT * FROM {table} ORDER BY order_id, amount")


def test_merge_updates_matching_rows_and_inserts_new_ones(shop: GlueLake) -> None:
    assert [r["amount"] for r in _ordered(shop, "curated.orders_latest")] == [10.0, 20.0, 30.0]
    shop.land({"shop/orders/day-2.json": _lines((2, "bob", 25.0), (4, "dee", 40.0))})
    result = shop.run_step("shop", "orders_latest")
    assert result["state"] == "SUCCEEDED" and result["rows_read"] == {"orders_feed": 2}
    assert _ordered(shop, "curated.orders_latest") == [
        {"order_id": 1, "customer": "ann", "amount": 10.0}, {"order_id": 2, "customer": "bob", "amount": 25.0},
        {"order_id": 3, "customer": "cy", "amount": 30.0}, {"order_id": 4, "customer": "dee", "amount": 40.0}]


def test_an_incremental_run_reads_only_the_raw_rows_landed_since_the_last_one(shop: GlueLake) -> None:
    shop.run_step("shop", "orders_log")  # catches up with what earlier tests landed
    before = len(shop.query("SELECT * FROM trusted.orders_log"))
    new = shop.land({"shop/orders/day-3.json": _lines((5, "eve", 50.0), (6, "fay", 60.0), (7, "gus", 70.0))})
    assert new["shop/orders/day-3.json"].rows_written == 3
    result = shop.run_step("shop", "orders_log")
    assert result["rows_read"] == {"orders_feed": 3}  # not the whole raw table
    assert result["rows_written"] == 3 and result["rows"] == before + 3
    again = shop.run_step("shop", "orders_log")  # nothing landed since: nothing read, nothing written
    assert again["rows_read"] == {"orders_feed": 0} and again["rows"] == before + 3
    snapshots = shop.query('SELECT summary FROM trusted."orders_log$snapshots" ORDER BY committed_at')
    watermarks = [dict(s["summary"]).get("lakehouse.watermark.orders_feed") for s in snapshots]
    assert all(watermarks) and watermarks == sorted(watermarks)  # each published run records how far it read


def test_a_rerun_after_a_failure_neither_skips_nor_duplicates_rows(shop: GlueLake,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    before = len(shop.query("SELECT * FROM trusted.orders_log"))
    shop.land({"shop/orders/day-4.json": _lines((8, "hal", 80.0), (9, "ida", 90.0))})
    crashed = []
    publish = StepRun._publish

    def crash_once(run: StepRun) -> None:
        if not crashed:
            crashed.append(run.step.name)
            raise RuntimeError("injected: the job died after writing its audit branch, before publishing")
        publish(run)

    monkeypatch.setattr(StepRun, "_publish", crash_once)
    failed = shop.run_step("shop", "orders_log")
    assert failed["state"] == "FAILED" and "injected" in failed["error"]
    assert len(shop.query("SELECT * FROM trusted.orders_log")) == before  # readers saw nothing of it
    rerun = shop.run_step("shop", "orders_log")
    assert rerun["state"] == "SUCCEEDED" and rerun["rows_read"] == {"orders_feed": 2}
    rows = shop.query("SELECT order_id FROM trusted.orders_log")
    assert len(rows) == before + 2 and sorted(r["order_id"] for r in rows)[-2:] == [8, 9]


def test_a_new_nullable_column_flows_from_the_contract_to_the_table_and_old_snapshots_keep_their_schema(
        shop: GlueLake) -> None:
    first = shop.query('SELECT snapshot_id FROM trusted."orders_log$history" ORDER BY made_current_at')[0]
    shop.write("shop/contracts/orders_feed.yaml", CONTRACT + "  - {name: channel, type: string}\n")
    shop.write("shop/steps/orders_log.sql", "SELECT order_id, customer, amount, channel FROM orders_feed")
    shop.land({"shop/orders/day-5.json": _lines((10, "jo", 100.0, "web"))})
    raw_columns = [c["Name"] for c in shop.lake.aws.client("glue").get_table(
        DatabaseName="lakehouse_local_raw", Name="orders_feed")["Table"]["StorageDescriptor"]["Columns"]]
    assert "channel" in raw_columns  # the converter evolved the raw table
    result = shop.run_step("shop", "orders_log")
    assert result["state"] == "SUCCEEDED" and result["schema_changes"] == ["added channel string"]
    rows = _ordered(shop, "trusted.orders_log")
    assert rows[-1] == {"order_id": 10, "customer": "jo", "amount": 100.0, "channel": "web"}
    assert rows[0]["channel"] is None  # rows written before the column existed
    old = shop.query(f"SELECT * FROM trusted.orders_log FOR VERSION AS OF {first['snapshot_id']}")
    assert old and "channel" not in old[0]


def test_a_breaking_change_fails_the_step_before_it_writes_and_alerts_once(glue_lake: GlueLake) -> None:
    glue_lake.land_folder(PIPELINES / "weblogs" / "samples")
    assert glue_lake.lake.run_pipeline("weblogs")["status"] == "SUCCEEDED"
    glue_lake.lake.alerts()
    snapshots = glue_lake.query('SELECT snapshot_id FROM trusted."userprofile_secure$snapshots"')
    sql = (glue_lake.pipelines / "weblogs" / "steps" / "userprofile_secure.sql").read_text()
    glue_lake.write("weblogs/steps/userprofile_secure.sql", sql.replace("       p.age\n", "       CAST(p.age AS STRING) AS age\n"))
    execution = glue_lake.lake.run_pipeline("weblogs")
    assert execution["status"] == "FAILED"
    alerts = glue_lake.lake.alerts()
    assert len(alerts) == 1
    message = json.loads(alerts[0]["message"])
    assert message["failed_state"] == "userprofile_secure"
    assert ("breaking schema change for table trusted.userprofile_secure: column 'age' changes type from int to "
            "string") in json.loads(message["cause"])["ErrorMessage"]
    assert glue_lake.query('SELECT snapshot_id FROM trusted."userprofile_secure$snapshots"') == snapshots
    glue_lake.write("weblogs/steps/userprofile_secure.sql", sql)


def test_a_full_refresh_changes_a_column_type_and_a_failing_one_changes_nothing(glue_lake: GlueLake) -> None:
    """The deliberate breaking change the message advises: a run with a full refresh. Its expectations are checked
    on the rows before the table's schema changes (the schema is not per branch), so a failing rebuild leaves the
    published table as it was; a passing one retypes the column, and older snapshots keep the old type."""
    glue_lake.write("retype/steps/retyped.sql", "SELECT * FROM VALUES (1, 10), (2, 20) AS v(id, n)")
    glue_lake.write("retype/pipeline.yaml", "steps:\n  - {name: retyped, zone: trusted}\n")
    assert glue_lake.run_step("retype", "retyped")["state"] == "SUCCEEDED"
    first = glue_lake.query('SELECT snapshot_id FROM trusted."retyped$snapshots"')[0]["snapshot_id"]
    glue_lake.write("retype/steps/retyped.sql", "SELECT * FROM VALUES (1, 'ten'), (2, 'twenty') AS v(id, n)")
    glue_lake.write("retype/pipeline.yaml", "steps:\n  - {name: retyped, zone: trusted, expectations: "
                    "[{type: row_count, min: 3}]}\n")
    failed = glue_lake.run_step("retype", "retyped", full_refresh=True)
    assert failed["state"] == "FAILED" and "row_count(min=3): 2 rows" in failed["error"]
    assert glue_lake.query("SELECT id, n FROM trusted.retyped ORDER BY id") == [{"id": 1, "n": 10}, {"id": 2, "n": 20}]
    assert {r["name"] for r in glue_lake.query('SELECT name FROM trusted."retyped$refs"')} == {"main"}
    glue_lake.write("retype/pipeline.yaml", "steps:\n  - {name: retyped, zone: trusted}\n")
    done = glue_lake.run_step("retype", "retyped", full_refresh=True)
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["schema_changes"] == ["retyped n int -> string"]
    assert glue_lake.query("SELECT id, n FROM trusted.retyped ORDER BY id") == [
        {"id": 1, "n": "ten"}, {"id": 2, "n": "twenty"}]
    assert glue_lake.query(f"SELECT n FROM trusted.retyped FOR VERSION AS OF {first} ORDER BY id") == [
        {"n": 10}, {"n": 20}]


def test_time_travel_to_the_first_snapshot_through_lakehouse_query(shop: GlueLake,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = ["--endpoint", shop.lake.aws.endpoint]
    assert cli(["query", "--json", *endpoint,
                'SELECT snapshot_id FROM curated."orders_latest$history" ORDER BY made_current_at']) == 0
    first = json.loads(capsys.readouterr().out)[0]["snapshot_id"]
    assert cli(["query", "--json", *endpoint,
                f"SELECT order_id, amount FROM curated.orders_latest FOR VERSION AS OF {first} ORDER BY 1"]) == 0
    assert json.loads(capsys.readouterr().out) == [  # as the first run left it, before day 2's update
        {"order_id": 1, "amount": 10.0}, {"order_id": 2, "amount": 20.0}, {"order_id": 3, "amount": 30.0}]
    assert cli(["query", *endpoint, "SELECT count(*) AS n FROM curated.orders_latest"]) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].strip() == "n" and "(1 row)" in printed
    assert cli(["query", *endpoint, "SELECT 'unterminated FROM curated.orders_latest"]) == 1  # not a traceback
    assert "error: not valid Athena SQL: Error tokenizing" in capsys.readouterr().err


def test_two_concurrent_commits_to_one_table_are_both_kept(glue_lake: GlueLake) -> None:
    """moto's Glue ignored UpdateTable's VersionId, so one of two racing Iceberg commits vanished; the local Glue
    now rejects a stale version as Glue does (ConcurrentModificationException) and Iceberg retries the commit."""
    spark = glue_lake.lake.runner.spark()
    table = "glue_catalog.lakehouse_local_trusted.race"
    bucket = glue_lake.lake.stack.outputs["TrustedBucketName"]
    spark.sql(f"CREATE TABLE {table} (id BIGINT, writer STRING) USING iceberg LOCATION 's3://{bucket}/race'")
    writers = 3  # racing at a barrier: without the VersionId check, commits were lost in most runs
    barrier = threading.Barrier(writers)
    errors: list[str] = []

    def commit(writer: int) -> None:
        session = session_of(spark)
        try:
            frame = session.sql(f"SELECT CAST({writer} AS BIGINT) AS id, 'writer-{writer}' AS writer")
            barrier.wait()
            frame.writeTo(table).append()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(str(exc))

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    reader = session_of(spark)  # a session's catalog caches the table it loaded: read as a new reader would
    assert sorted(r.writer for r in reader.table(table).collect()) == [f"writer-{i}" for i in range(writers)]
    assert reader.sql(f"SELECT count(*) AS n FROM {table}.snapshots").first().n == writers
