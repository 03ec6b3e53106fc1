"""Glue's table optimizers of the trusted and curated tables (issue 15): the job enables compaction, snapshot
retention and orphan-file deletion on the Iceberg table a step creates, with the job's arguments (the template's
TableOptimizerRole and retention parameters), and a rerun finds them there and succeeds. The local Glue records the
calls (moto_patches, patch 9); nothing runs them locally."""

from __future__ import annotations

import json
from typing import Any

import pytest
from lakehouse_local.server import ACCOUNT_ID

from .conftest import GlueLake

pytestmark = [pytest.mark.spark, pytest.mark.slow]

TYPES = ["compaction", "retention", "orphan_file_deletion"]
CONTRACT = """dataset: parcels
table: parcels
landing_prefix: depot/parcels/
format: {type: jsonl}
columns:
  - {name: parcel_id, type: bigint, nullable: false}
  - {name: weight, type: double}
"""
PIPELINE = """steps:
  - {name: parcels_trusted, zone: trusted}
  - {name: parcels_by_weight, zone: curated, write: merge, keys: [parcel_id]}
"""


def _optimizers(lake: GlueLake, zone: str, table: str) -> dict[str, Any]:
    database = str(lake.lake.stack.outputs[f"{zone.capitalize()}DatabaseName"])
    found = lake.lake.aws.client("glue").batch_get_table_optimizer(Entries=[
        {"catalogId": ACCOUNT_ID, "databaseName": database, "tableName": table, "type": kind} for kind in TYPES])
    assert [f["type"] for f in found["Failures"]] == [], found["Failures"]
    return {o["tableOptimizer"]["type"]: o["tableOptimizer"]["configuration"] for o in found["TableOptimizers"]}


def test_a_step_enables_its_tables_optimizers_once_and_a_rerun_keeps_them(glue_lake: GlueLake) -> None:
    glue_lake.write("depot/contracts/parcels.yaml", CONTRACT)
    glue_lake.write("depot/steps/parcels_trusted.sql", "SELECT parcel_id, weight FROM parcels")
    glue_lake.write("depot/steps/parcels_by_weight.sql", "SELECT parcel_id, weight FROM parcels_trusted")
    glue_lake.write("depot/pipeline.yaml", PIPELINE)
    lines = "".join(json.dumps({"parcel_id": n, "weight": n * 1.5}) + "\n" for n in range(1, 4)).encode()
    assert glue_lake.land({"depot/parcels/day-1.json": lines})["depot/parcels/day-1.json"].state == "converted"
    arguments = glue_lake.lake.aws.client("glue").get_job(JobName=glue_lake.job)["Job"]["DefaultArguments"]
    role = glue_lake.lake.stack.attrs["TableOptimizerRole"]["Arn"]
    assert arguments["--optimizer-role-arn"] == role and arguments["--catalog-id"] == ACCOUNT_ID
    expected = {
        "compaction": {"roleArn": role, "enabled": True},
        "retention": {"roleArn": role, "enabled": True, "retentionConfiguration": {"icebergConfiguration": {
            "snapshotRetentionPeriodInDays": int(arguments["--snapshot-retention-days"]),
            "numberOfSnapshotsToRetain": int(arguments["--snapshots-to-retain"]), "cleanExpiredFiles": True}}},
        "orphan_file_deletion": {"roleArn": role, "enabled": True, "orphanFileDeletionConfiguration": {
            "icebergConfiguration": {
                "orphanFileRetentionPeriodInDays": int(arguments["--orphan-file-retention-days"])}}},
    }
    for zone, step in (("trusted", "parcels_trusted"), ("curated", "parcels_by_weight")):
        first = glue_lake.run_step("depot", step)
        assert first["state"] == "SUCCEEDED", first
        assert _optimizers(glue_lake, zone, step) == expected
        again = glue_lake.run_step("depot", step)  # CreateTableOptimizer answers AlreadyExistsException now
        assert again["state"] == "SUCCEEDED", again
        assert _optimizers(glue_lake, zone, step) == expected
