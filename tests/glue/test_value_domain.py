"""Every value a contract admits survives the whole pipeline (issue 13, Build): converter, raw zone, a Glue step on
local Spark with the deployed job's Spark configuration, Iceberg, read back.

The files come from tests/properties/strategies.py (every type over its whole domain, every format, encoding,
compression and line ending a contract can declare). Each accepted file is converted by the converter, its Parquet
lands in the local raw zone and its table is registered by the converter's own catalog code; then the generic Glue
job (lakehouse.glue_job.main, the job's entry) runs a step that selects every column into an Iceberg table, and the
table read back must hold every value exactly. A file the converter accepts must never fail a later stage.
"""

from __future__ import annotations

import io
import itertools
import math
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from lakehouse.catalog import Catalog
from lakehouse.convert import convert
from lakehouse.glue_job import main as run_job
from lakehouse.outcomes import FileRejected, Lineage
from lakehouse.spark_step import session_of

from tests.properties.strategies import LandingCase, landing_cases

from .conftest import GlueLake

pytestmark = [pytest.mark.spark, pytest.mark.slow]
_numbers = itertools.count(1)


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float):
        if math.isnan(expected):
            return isinstance(got, float) and math.isnan(got)
        return got == expected and math.copysign(1, got) == math.copysign(1, expected)
    if expected is None:
        return got is None
    return type(got) is type(expected) and got == expected


def _through_the_lake(glue_lake: GlueLake, case: LandingCase, number: int) -> list[dict[str, Any]] | None:
    """Converts, lands and runs the case; returns the rows of its Iceberg table (None when it was rejected)."""
    table = f"values_{number}"
    contract = case.contract.model_copy(update={"table": table, "dataset": table, "pipeline": "values",
                                                "landing_prefix": f"values/{table}/"})
    lake = glue_lake.lake
    raw_bucket = str(lake.stack.outputs["RawBucketName"])
    with tempfile.TemporaryDirectory() as tmp:
        out, work = Path(tmp, "out"), Path(tmp, "work")
        work.mkdir()
        try:
            result = convert(lambda: io.BytesIO(case.body), contract, key=case.key, out_dir=out, work_dir=work,
                             lineage=Lineage(case.key, "v1", datetime(2026, 11, 22, tzinfo=UTC)))
        except FileRejected as rejected:
            assert case.rejection == rejected.code, rejected.reason()
            return None
        s3 = lake.aws.client("s3")
        for output in result.outputs:
            s3.upload_file(str(out / output.path), raw_bucket, f"{table}/{output.path}")
    catalog = Catalog(lake.aws.client("glue"), str(lake.stack.outputs["RawDatabaseName"]), raw_bucket)
    catalog.ensure_table(contract)
    catalog.add_partitions(contract, result.outputs)
    columns = ", ".join(f"`{c.name}`" for c in contract.columns)
    glue_lake.write(f"values/contracts/{table}.yaml", contract.model_dump_json(exclude={"pipeline"}))
    glue_lake.write(f"values/steps/{table}_copy.sql", f"SELECT {columns} FROM {table}")
    steps = "\n".join(f"  - {{name: {p.stem}, zone: trusted}}" for p in sorted(
        (glue_lake.pipelines / "values" / "steps").glob("*.sql")))
    glue_lake.write("values/pipeline.yaml", f"steps:\n{steps}\n")
    job = lake.aws.client("glue").get_job(JobName=glue_lake.job)["Job"]["DefaultArguments"]
    argv = [item for name, value in {**job, "--pipeline": "values", "--step": f"{table}_copy",
                                     "--optimizer-role-arn": "", "--JOB_RUN_ID": f"values{number}"}.items()
            for item in (name, value)]
    run_job(argv, spark=lake.runner.spark(), pipelines_dir=str(glue_lake.pipelines))
    spark = session_of(lake.runner.spark())
    frame = spark.table(f"glue_catalog.{job['--trusted-database']}.{table}_copy")
    return [row.asDict() for row in frame.collect()]


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=landing_cases())
def test_every_value_the_converter_accepts_comes_back_exactly_from_iceberg(glue_lake: GlueLake,
                                                                           case: LandingCase) -> None:
    note(f"shape {case.shape}; columns {[(c.name, c.type, c.format) for c in case.contract.columns]}")
    rows = _through_the_lake(glue_lake, case, next(_numbers))
    if case.rejection is not None:
        assert rows is None
        return
    assert rows is not None and len(rows) == len(case.rows)
    # a step's output has no order: compare as multisets keyed on every column's text
    def key(row: dict[str, Any]) -> str:
        return repr(sorted((k, repr(v)) for k, v in row.items()))

    expected = sorted(case.rows, key=key)
    got = sorted(({name: row[name] for name in case.rows[0]} for row in rows), key=key)
    for want, have in zip(expected, got):
        for name, value in want.items():
            assert _same(value, have[name]), (name, value, have[name])


def test_customers_born_in_1399_pass_every_stedi_step(glue_lake: GlueLake) -> None:
    """Issue 13, finding 1: placeholder birthdays before 1582 (real STEDI exports carry 1399-01-01) made every Glue
    step fail with READ_ANCIENT_DATETIME; the job now reads and writes dates as they are."""
    lines = [
        ('{"customerName":"Santosh Clayton","email":"Santosh.Clayton@test.com","phone":"8015551212",'
         '"birthDay":"1399-01-01","serialNumber":"50f7b4f3-7af5-4b07-a421-7b902c8d2b7c",'
         '"registrationDate":1655564376361,"lastUpdateDate":1655564376361,"shareWithResearchAsOfDate":1655564376361,'
         '"shareWithPublicAsOfDate":null,"shareWithFriendsAsOfDate":null}'),
        ('{"customerName":"Jo Old","email":"Jo.Old@test.com","phone":"8015551213","birthDay":"0001-01-01",'
         '"serialNumber":"8597e9d6-9bd3-4d3d-8d3b-1a2a0e9c1c11","registrationDate":1655564376362,'
         '"lastUpdateDate":1655564376362,"shareWithResearchAsOfDate":1655564376362}'),
    ]
    glue_lake.land({"stedi/customer/customer-1399.json": ("\n".join(lines) + "\n").encode()})
    result = glue_lake.run_step("stedi", "customer_trusted")
    assert result["state"] == "SUCCEEDED", result["error"]
    born = {r["email"]: r["birthDay"] for r in glue_lake.query(
        "SELECT email, birthDay FROM trusted.customer_trusted WHERE email LIKE '%@test.com'")}
    assert born == {"Santosh.Clayton@test.com": date(1399, 1, 1), "Jo.Old@test.com": date(1, 1, 1)}
