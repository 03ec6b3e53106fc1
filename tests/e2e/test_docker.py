"""The same conversion through `sam local invoke` in Docker, against the running local stack.

Needs a Docker engine and the Lambda python3.11 image (../shared/tools/local-lambda-image provides both where the
public registry is unreachable). Skips with the reason when they are missing, unless LAKEHOUSE_REQUIRE_DOCKER=1
(`make test` sets it after preparing Docker with local/with-docker), in which case it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lakehouse.ledger import now
from lakehouse_local.demo import LocalLake
from lakehouse_local.poller import SamLocalInvoker

from .conftest import REPO, landing_folder

pytestmark = [pytest.mark.docker, pytest.mark.slow]
IMAGE = "public.ecr.aws/lambda/python:3.11-x86_64"


def _docker_problem() -> str | None:
    if shutil.which("docker") is None:
        return "no docker command on PATH"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "the Docker engine does not answer (`docker info` failed)"
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False).returncode != 0:
        return f"image {IMAGE} is missing (run ../shared/tools/local-lambda-image)"
    return None


@pytest.fixture(scope="session")
def docker_ready() -> None:
    problem = _docker_problem()
    if problem:
        message = f"Docker end-to-end test needs Docker: {problem}"
        if os.environ.get("LAKEHOUSE_REQUIRE_DOCKER") == "1":
            pytest.fail(message + " (LAKEHOUSE_REQUIRE_DOCKER=1)")
        pytest.skip(message)


@pytest.fixture(scope="session")
def sam_build(docker_ready: None) -> Path:
    """`sam build` output for the current sources (incremental, so cheap when nothing changed)."""
    sam = str(Path(sys.executable).with_name("sam"))
    result = subprocess.run([sam, "build"], cwd=REPO, capture_output=True, text=True, check=False, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return REPO / ".aws-sam" / "build"


def test_convert_function_in_docker_against_the_local_stack(sam_build: Path, tmp_path: Path) -> None:
    landing = landing_folder(tmp_path / "landing", "stedi", ["customer"])
    lake = LocalLake.start(docker=True, work_dir=tmp_path / "work")
    try:
        assert isinstance(lake.poller.invoke, SamLocalInvoker)
        env = lake.poller.invoke.env_file.read_text()
        assert lake.aws.docker_endpoint in env  # the container reaches the host at the docker0 gateway
        since = now()
        keys = lake.upload(landing)
        entries = lake.wait_for_objects(keys, since, timeout=600)
        assert lake.poller.invocations >= 1
        for key in keys:
            assert entries[key].state == "converted", entries[key]
            assert entries[key].rows_written > 0
        tables = lake.table_rows([("raw", "customer_landing")])
        assert tables["customer_landing"]["rows"] == sum(entries[k].rows_written for k in keys)
        glue = lake.aws.client("glue")
        assert glue.get_table(DatabaseName=lake.stack.outputs["RawDatabaseName"], Name="customer_landing")
    finally:
        lake.stop()
