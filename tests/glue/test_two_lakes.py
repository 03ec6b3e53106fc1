"""Two local lakes, one after the other, in one process (as test modules and `lakehouse` commands run): the second
lake's Glue steps reach the second lake. Spark's context outlives the first lake, and each step opens a new session
from it, which used to keep the first lake's catalog endpoint (`Connect to 127.0.0.1:<first port> refused`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lakehouse_local.lake import LocalLake

from .conftest import PIPELINES, GlueLake

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_a_second_lake_in_the_same_process_runs_its_steps_on_its_own_catalog(tmp_path: Path) -> None:
    customers = PIPELINES / "stedi" / "samples" / "stedi" / "customer" / "customers-1.json"
    endpoints = []
    for name in ("first", "second"):
        pipelines = tmp_path / name / "pipelines"
        shutil.copytree(PIPELINES, pipelines)
        lake = LocalLake.start(pipelines_dir=pipelines)
        try:
            glue = GlueLake(lake, pipelines)
            glue.land({"stedi/customer/customers-1.json": customers.read_bytes()})
            result = glue.run_step("stedi", "customer_trusted")
            assert (result["state"], result["error"]) == ("SUCCEEDED", None), (name, result)
            assert glue.query("SELECT count(*) AS n FROM trusted.customer_trusted")[0]["n"] == result["rows"]
            endpoints.append(lake.aws.endpoint)
        finally:
            lake.stop()
    assert endpoints[0] != endpoints[1]
