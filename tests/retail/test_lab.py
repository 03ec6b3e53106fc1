"""The retail medallion lab end to end: `lakehouse demo --pipeline retail` lands both sample batches and runs
landing -> raw -> curated -> presentation; then, on the lake the demo saved, each presentation table is checked
against the same SQL run by Spark, `lakehouse query` prints the sales report, and a presentation step that fails at
run time alerts once, naming the step."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lakehouse.pipeline import Lake
from lakehouse.spark_step import session_of
from lakehouse.sql import rename_tables
from lakehouse_local.cli import main
from lakehouse_local.lake import ZONE_DATABASES, LocalLake
from lakehouse_local.query import LocalQuery

from .conftest import RetailDemo, stop_spark

pytestmark = [pytest.mark.spark, pytest.mark.slow]

SALES_REPORT = "SELECT sales_year, sales_month, sales_total FROM presentation.sales_report ORDER BY 1, 2"
# classicmodels' order lines add up to this (sum of quantityOrdered * priceEach over all 2,996 lines).
ALL_SALES = Decimal("9604190.61")


@dataclass
class Lab:
    code: int
    report: dict[str, Any]
    printed: str
    pipelines: Path  # the pipelines the demo ran (a copy of pipelines/)
    lake: LocalLake  # the lake the demo saved, started again on a copy of them where sales_report fails at run time
    progress: list[str]  # that lake's progress lines

    def query(self, sql: str) -> list[dict[str, Any]]:
        engine = LocalQuery(self.lake.aws.client, self.lake.aws.endpoint,
                            {z: str(self.lake.stack.outputs[k]) for z, k in ZONE_DATABASES.items()})
        return list(engine.run(sql).to_pylist())


def _lower(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with lower-case column names: SQL names are case-insensitive, and the engines spell a column as the
    query or the table does (DuckDB keeps 'customerNumber' where Athena writes 'customernumber')."""
    return [{name.lower(): value for name, value in row.items()} for row in rows]


@pytest.fixture(scope="module")
def lab(retail_demo: RetailDemo) -> Iterator[Lab]:
    code, report, root, home, pipelines = (retail_demo.code, retail_demo.report, retail_demo.root, retail_demo.home,
                                           retail_demo.pipelines)
    # A deployment whose sales_report casts order statuses ('Shipped') to integers: valid SQL that fails on the data.
    broken = root / "broken"
    shutil.copytree(pipelines, broken)
    sql = broken / "retail" / "steps" / "sales_report.sql"
    text = sql.read_text(encoding="utf-8")
    failing = text.replace("GROUP BY", "WHERE CAST(ord.status AS integer) >= 0\nGROUP BY")
    assert failing != text
    sql.write_text(failing, encoding="utf-8")
    progress: list[str] = []
    lake = LocalLake.start(work_dir=home, pipelines_dir=broken, persistence="read", poll=False, say=progress.append)
    try:
        yield Lab(code, report, retail_demo.printed, pipelines, lake, progress)
    finally:
        lake.stop()
        stop_spark()


# ------------------------------------------------------------------------------------------------ the demo
def test_the_demo_runs_both_batches_from_landing_to_presentation(lab: Lab) -> None:
    assert lab.code == 0, lab.printed
    executions = [(e["pipeline"], e["batch"], e["status"]) for e in lab.report["executions"]]
    assert executions == [("retail", 1, "SUCCEEDED"), ("retail", 2, "SUCCEEDED")]
    assert lab.report["alerts"] == []
    assert len(lab.report["objects"]) == 13
    assert all(o["status"] == "converted" and o["rows"] > 0 for o in lab.report["objects"]), lab.report["objects"]
    assert "execution: retail batch 1: SUCCEEDED" in lab.printed
    assert "execution: retail batch 2: SUCCEEDED" in lab.printed
    # each presentation statement has its progress line: created in batch 1, merged in batch 2
    athena = [line for line in lab.printed.splitlines() if line.startswith("  athena ")]
    assert len(athena) == 8, athena
    for table, first, second in [("ratings", 420, 550), ("ratings_for_ml", 420, 550), ("sales_report", 24, 29),
                                 ("ratings_per_product", 110, 110)]:
        assert f"  athena {table}: SUCCEEDED (create table, {first} rows in the table)" in athena
        assert f"  athena {table}: SUCCEEDED (merge, {second} rows in the table)" in athena


def test_every_table_of_every_zone_has_its_rows(lab: Lab) -> None:
    definition = Lake.load(lab.pipelines)
    expected = {t.name: t.zone for t in definition.tables.values() if t.pipeline == "retail"}
    tables = lab.report["tables"]
    assert {name: table["zone"] for name, table in tables.items()} == expected
    assert {z for z in expected.values()} == {"raw", "curated", "presentation"}
    rows = {name: table["rows"] for name, table in tables.items()}
    assert all(rows[name] > 0 for name in expected), rows
    # the whole sample database, and 420 + 130 ratings (60 of batch 2's 190 rate a product again: merged)
    assert rows["orderdetails"] == rows["orderdetails_curated"] == 2996
    assert rows["orders"] == rows["orders_curated"] == 326
    assert rows["customers_curated"] == 122 and rows["products_curated"] == 110
    assert rows["product_ratings"] == 610
    assert rows["ratings_curated"] == rows["ratings_for_ml_curated"] == rows["ratings"] == rows["ratings_for_ml"] == 550
    assert rows["ratings_per_product"] == 110
    assert rows["sales_report"] == 29  # January 2003 to May 2005


def test_the_second_batch_is_merged_from_the_new_raw_files_only(lab: Lab) -> None:
    steps = next(e for e in lab.report["executions"] if e["batch"] == 2)["steps"]
    assert steps["orders_curated"]["rows_read"] == {"orders": 64}
    assert steps["orderdetails_curated"]["rows_read"] == {"orderdetails": 523}
    assert steps["ratings_curated"]["rows_read"] == {"product_ratings": 190}
    assert steps["customers_curated"]["rows_read"] == {"customers": 122}  # rebuilt from every export


def test_curated_rows_are_typed_trimmed_and_say_where_they_came_from(lab: Lab) -> None:
    [customer] = lab.query("SELECT * FROM curated.customers_curated WHERE customerNumber = 496")
    assert customer["customerName"] == "Kelly's Gift Shop" and customer["addressLine1"] == "Arenales 1938 3'A'"
    assert customer["city"] == "Auckland" and customer["state"] is None and customer["postalCode"] is None
    assert customer["creditLimit"] == Decimal("110000.00") and customer["salesRepEmployeeNumber"] == 1612
    assert customer["source_key"] == "retail/customers/customers.csv" and customer["ingest_ts"] is not None
    [product] = lab.query("SELECT productDescription FROM curated.products_curated WHERE productCode = 'S18_3136'")
    assert "many different parts.\r\n\r\nThis collectible" in product["productDescription"]
    [order] = lab.query("SELECT * FROM curated.orders_curated WHERE orderNumber = 10167")
    assert order["status"] == "Cancelled" and order["shippedDate"] is None and str(order["orderDate"]) == "2003-10-23"
    assert "didn't ship" in order["comments"]


# ------------------------------------------------------------------------------------------------ two engines
def _spark_rows(lab: Lab, step: str) -> list[dict[str, Any]]:
    """The presentation step's SQL text, transpiled from Athena's dialect to Spark's, run over the curated Iceberg
    tables."""
    import sqlglot
    from lakehouse.glue_job import local_conf
    from lakehouse.spark_step import CATALOG

    database = str(lab.lake.stack.outputs[ZONE_DATABASES["curated"]])
    text = (lab.pipelines / "retail" / "steps" / f"{step}.sql").read_text(encoding="utf-8")
    definition = Lake.load(lab.pipelines)
    renames = {source.written: (CATALOG, database, source.table.name)
               for source in definition.sources("retail", step)}
    spark_sql = sqlglot.transpile(rename_tables(text, "athena", renames), read="athena", write="spark")[0]
    session = session_of(lab.lake.runner.spark())  # a session of its own, pointed at this lake
    for key, value in {**local_conf(lab.lake.aws.endpoint, lab.lake.aws.region),
                       "spark.sql.session.timeZone": "UTC"}.items():
        if not key.startswith("spark.hadoop."):
            session.conf.set(key, value)
    return [row.asDict() for row in session.sql(spark_sql).collect()]


def _same(left: Any, right: Any) -> bool:
    """Equal, up to the engines' arithmetic on doubles (sums and averages add in different orders)."""
    if isinstance(left, float) or isinstance(right, float):
        return left is not None and right is not None and math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-6)
    return bool(left == right)


def _instant(text: str) -> datetime:
    """A timestamp cast to text: DuckDB writes '2026-11-27 12:59:58.123456+00', Spark '2026-11-27 12:59:58.123456'
    (session time zone UTC), Athena '... UTC'."""
    moment = datetime.fromisoformat(text.removesuffix(" UTC"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.parametrize("step", ["ratings", "ratings_for_ml", "sales_report", "ratings_per_product"])
def test_each_presentation_query_gives_the_same_rows_on_duckdb_and_on_spark(lab: Lab, step: str) -> None:
    keys = Lake.load(lab.pipelines).pipeline("retail").step(step).keys
    written = {tuple(row[k] for k in keys): row for row in _lower(lab.query(f"SELECT * FROM presentation.{step}"))}
    spark = {tuple(row[k] for k in keys): row for row in _lower(_spark_rows(lab, step))}
    assert written and set(written) == set(spark)
    for key, row in written.items():
        other = spark[key]
        assert set(row) == set(other), (step, sorted(row), sorted(other))
        for column, value in row.items():
            if column == "process_ts":
                assert _instant(value) == _instant(other[column]), (step, key)
            else:
                assert _same(value, other[column]), (step, key, column, value, other[column])


def test_ratings_per_product_counts_the_ratings_of_each_product(lab: Lab) -> None:
    written = {r["productcode"]: r for r in _lower(lab.query("SELECT * FROM presentation.ratings_per_product"))}
    ratings = _lower(lab.query("SELECT productcode, count(*) AS n, avg(productrating) AS mean "
                               "FROM presentation.ratings GROUP BY productcode"))
    for row in ratings:
        assert written[row["productcode"]]["review_count"] == row["n"]
        assert _same(written[row["productcode"]]["avg_rating"], row["mean"])
    # count(*) over products LEFT JOIN ratings, as the lab defines the report: an unrated product counts 1
    unrated = set(written) - {row["productcode"] for row in ratings}
    assert unrated and all(written[p]["avg_rating"] is None and written[p]["review_count"] == 1 for p in unrated)


# ------------------------------------------------------------------------------------------------ lakehouse query
def test_lakehouse_query_prints_the_sales_report(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["query", "--json", "--endpoint", lab.lake.aws.endpoint, SALES_REPORT]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(r["sales_year"], r["sales_month"]) for r in report][:2] == [(2003, 1), (2003, 2)]
    assert (report[-1]["sales_year"], report[-1]["sales_month"]) == (2005, 5) and len(report) == 29
    # money is decimal(10,2) from the curated zone on: the report adds up to the cent (JSON carries decimals as text)
    assert sum(Decimal(r["sales_total"]) for r in report) == ALL_SALES
    assert report[0]["sales_total"] == "116692.77"  # the 39 lines of January 2003's 5 orders
    assert main(["query", "--endpoint", lab.lake.aws.endpoint, SALES_REPORT]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["sales_year", "sales_month", "sales_total"] and table[-1] == "(29 rows)"


# ------------------------------------------------------------------------------------------------ a failed step
def test_a_presentation_step_that_fails_at_run_time_alerts_once_naming_it(lab: Lab) -> None:
    before = lab.query(SALES_REPORT)
    lab.lake.alerts()
    execution = lab.lake.run_pipeline("retail", {"from": "sales_report"})
    assert execution["status"] == "FAILED"
    alerts = lab.lake.alerts()
    assert len(alerts) == 1, alerts
    assert alerts[0]["subject"] == "[lakehouse-local] pipeline retail failed"
    message = json.loads(alerts[0]["message"])
    assert message["pipeline"] == "retail" and message["failed_state"] == "sales_report"
    original = "Could not convert string 'Shipped' to INT32"
    assert original in message["cause"], message
    assert execution["error"] == message["error"] and original in execution["cause"]
    failed = [line for line in lab.progress if line.startswith("  athena sales_report: FAILED - ")]
    assert len(failed) == 1 and original in failed[0], lab.progress
    assert lab.query(SALES_REPORT) == before  # the failed MERGE committed nothing
