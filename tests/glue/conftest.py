"""Fixtures for the Glue script on local Spark: one SparkSession per test session, and raw zones built from the
pipelines' sample files (what the converter would have written: contract columns + lineage, ingest_date=...)."""
from __future__ import annotations

import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"
sys.path.insert(0, str(ROOT / "glue"))

import pipeline_step  # noqa: E402

INGEST_DATE = "2026-11-22"
ARROW = {"string": pa.string(), "int": pa.int32(), "bigint": pa.int64(), "double": pa.float64(),
         "boolean": pa.bool_(), "date": pa.date32(), "timestamp": pa.timestamp("us", tz="UTC")}


def write_raw(pipeline: str, root: Path, *, skip: tuple[str, ...] = ()) -> None:
    """Write ``root/raw/<table>/ingest_date=.../<file>.parquet`` for every sample file of ``pipeline``."""
    for contract_path in sorted((PIPELINES / pipeline / "contracts").glob("*.yaml")):
        contract = yaml.safe_load(contract_path.read_text())
        if contract["table"] in skip:
            continue
        cols = [(c["name"], c.get("type", "string")) for c in contract["columns"]]
        sample_dir = PIPELINES / pipeline / "samples" / contract["landing_prefix"]
        for sample in sorted(sample_dir.glob("*")):
            if contract["format"]["type"] == "csv":
                strings = {n: pa.string() for n, _ in cols}
                table = pacsv.read_csv(sample, convert_options=pacsv.ConvertOptions(column_types=strings))
            else:
                schema = pa.schema([(n, pa.string() if t in ("date", "timestamp") else ARROW[t]) for n, t in cols])
                table = pajson.read_json(sample, parse_options=pajson.ParseOptions(explicit_schema=schema))
            arrays = {n: pc.cast(table.column(n), ARROW[t]) if n in table.column_names
                      else pa.nulls(table.num_rows, ARROW[t]) for n, t in cols}
            arrays["_source_key"] = pa.array([f"{contract['landing_prefix']}{sample.name}"] * table.num_rows)
            arrays["_source_version"] = pa.array(["v1"] * table.num_rows)
            arrays["_ingested_at"] = pa.array([datetime(2026, 11, 22, 6, tzinfo=timezone.utc)] * table.num_rows,
                                              pa.timestamp("us", tz="UTC"))
            out = root / "raw" / contract["table"] / f"ingest_date={INGEST_DATE}" / f"{sample.stem}.parquet"
            out.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(arrays), out)


@pytest.fixture(scope="session")
def raw_writer():
    """``write_raw`` as a fixture, so test modules need not import this conftest by name."""
    return write_raw


@pytest.fixture(scope="session")
def spark():
    session = pipeline_step.spark_session("tests-glue")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def lake(tmp_path_factory) -> Path:
    """A lake root with both example pipelines' raw zones (shared; steps write their zones under it)."""
    root = tmp_path_factory.mktemp("lake")
    write_raw("stedi", root)
    write_raw("weblogs", root)
    return root


@pytest.fixture()
def fresh_lake(tmp_path, lake) -> Path:
    """A private copy of the raw zone, for tests that break or rerun things."""
    shutil.copytree(lake / "raw", tmp_path / "raw")
    return tmp_path
