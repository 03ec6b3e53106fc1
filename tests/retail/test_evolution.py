"""The ratings stream gains ratingtimestamp, as a deployment brings it: batch 1 lands under the contract without the
column, a batch-2 file is refused by that contract, then the new contract and SQL are deployed and batch 2 lands;
curated.ratings_curated gains the column (earlier rows null) while its first snapshot keeps the old schema."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from lakehouse_local.lake import LocalLake

from tests.glue.conftest import GlueLake

from .conftest import PIPELINES, SAMPLES, stop_spark

pytestmark = [pytest.mark.spark, pytest.mark.slow]

CONTRACT = "retail/contracts/ratings.yaml"
SQL = "retail/steps/ratings_curated.sql"
BATCH_2 = "retail/ratings/ratings-2005-06-07.jsonl"


def _without_ratingtimestamp(contract: str, sql: str) -> tuple[str, str]:
    """The contract and SQL of before the site sent ratingtimestamp (derived from today's, so they cannot drift)."""
    old_contract = contract.replace("  - {name: ratingtimestamp, type: timestamp}\n", "")
    old_sql = sql.replace("productRating, ratingtimestamp,", "productRating,").replace(
        "ORDER BY ratingtimestamp DESC NULLS LAST, ", "ORDER BY ")
    code = [line for line in old_sql.splitlines() if not line.lstrip().startswith("--")]
    assert old_contract != contract and not any("ratingtimestamp" in line for line in code)
    return old_contract, old_sql


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlueLake]:
    stop_spark()
    root = tmp_path_factory.mktemp("evolution")
    pipelines = root / "pipelines"
    shutil.copytree(PIPELINES, pipelines)
    old_contract, old_sql = _without_ratingtimestamp((PIPELINES / CONTRACT).read_text(encoding="utf-8"),
                                                     (PIPELINES / SQL).read_text(encoding="utf-8"))
    (pipelines / CONTRACT).write_text(old_contract, encoding="utf-8")
    (pipelines / SQL).write_text(old_sql, encoding="utf-8")
    lake = LocalLake.start(work_dir=root / "home", pipelines_dir=pipelines)
    try:
        yield GlueLake(lake, pipelines)
    finally:
        lake.stop()
        stop_spark()


def _columns(lab: GlueLake, sql: str) -> list[str]:
    rows = lab.query(sql)
    assert rows
    return list(rows[0])


def test_batch_2_lands_only_once_the_contract_has_ratingtimestamp_and_the_table_gains_it(lab: GlueLake) -> None:
    landed = lab.land_folder(SAMPLES / "batch-1")
    assert {entry.state for entry in landed.values()} == {"converted"}
    for step in ("customers_curated", "products_curated", "ratings_curated"):
        assert lab.run_step("retail", step)["state"] == "SUCCEEDED", step
    first = lab.query('SELECT snapshot_id FROM curated."ratings_curated$history" ORDER BY made_current_at')[0]
    assert "ratingtimestamp" not in _columns(lab, "SELECT * FROM curated.ratings_curated")

    batch_2 = (SAMPLES / "batch-2" / BATCH_2).read_bytes()
    refused = lab.land({"retail/ratings/early/ratings-2005-06-07.jsonl": batch_2})
    [entry] = refused.values()
    assert entry.state == "quarantined" and entry.reason_code == "invalid_rows"  # unknown_columns: reject

    # the deployment: the contract and the step's SQL as shipped
    lab.write(CONTRACT, (PIPELINES / CONTRACT).read_text(encoding="utf-8"))
    lab.write(SQL, (PIPELINES / SQL).read_text(encoding="utf-8"))
    assert lab.land({BATCH_2: batch_2})[BATCH_2].state == "converted"
    result = lab.run_step("retail", "ratings_curated")
    assert result["state"] == "SUCCEEDED", result
    assert result["schema_changes"] == ["added ratingtimestamp timestamp_ntz"]
    assert result["rows_read"] == {"product_ratings": 190} and result["rows"] == 550

    rows = lab.query("SELECT productRating, ratingtimestamp, source_key FROM curated.ratings_curated")
    stamped = [r for r in rows if r["ratingtimestamp"] is not None]
    assert len(stamped) == 190 and {r["source_key"] for r in stamped} == {BATCH_2}
    assert all(r["source_key"] == "retail/ratings/ratings-2005-05-31.jsonl" for r in rows if r not in stamped)

    old = lab.query(f"SELECT * FROM curated.ratings_curated FOR VERSION AS OF {first['snapshot_id']}")
    assert len(old) == 420 and "ratingtimestamp" not in old[0]  # time travel: the first snapshot's schema


def test_the_raw_table_reads_old_files_with_the_new_column_as_null(lab: GlueLake) -> None:
    counts = lab.query("SELECT _source_key, count(*) AS n, count(ratingtimestamp) AS stamped "
                       "FROM raw.product_ratings GROUP BY _source_key ORDER BY 1")
    assert [(r["_source_key"], r["n"], r["stamped"]) for r in counts] == [
        ("retail/ratings/ratings-2005-05-31.jsonl", 420, 0), (BATCH_2, 190, 190)]


def test_a_sample_batch_is_a_folder_of_landing_keys() -> None:
    """The demo lands samples/batch-1 then samples/batch-2 (every child of samples/ is a batch-* folder)."""
    batches = sorted(p.name for p in SAMPLES.iterdir())
    assert batches == ["batch-1", "batch-2"]
    keys = {b: sorted(p.relative_to(SAMPLES / b).as_posix() for p in (SAMPLES / b).rglob("*") if p.is_file())
            for b in batches}
    assert all(key.startswith("retail/") for files in keys.values() for key in files)
    assert Path(BATCH_2).as_posix() in keys["batch-2"]
