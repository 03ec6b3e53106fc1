"""Shared fixtures: fake AWS credentials for every test, so nothing can ever reach a real account; a private local
lake (LAKEHOUSE_HOME and a copy of pipelines/) and a `lakehouse up` subprocess for the tests that need one."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
PIPELINES = REPO / "pipelines"
EVENTS = REPO / "events"

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "LakehouseTests",
    "POWERTOOLS_SERVICE_NAME": "lakehouse",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)
# moto logs every failure a state machine catches, with the whole parsed definition: the tests assert the outcome
logging.getLogger("moto").setLevel(logging.CRITICAL)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def pipelines_dir() -> Path:
    return PIPELINES


@contextmanager
def lake_environment(home: Path, pipelines: Path) -> Iterator[None]:
    """The `lakehouse` commands of this process use a private .lakehouse and a copy of pipelines/ (never the
    developer's)."""
    names = ("LAKEHOUSE_HOME", "LAKEHOUSE_PIPELINES_DIR")
    saved = {name: os.environ.get(name) for name in names}
    os.environ["LAKEHOUSE_HOME"], os.environ["LAKEHOUSE_PIPELINES_DIR"] = str(home), str(pipelines)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ------------------------------------------------------------------------------------------------ `lakehouse up`

@dataclass
class Up:
    """A `lakehouse up` running in a subprocess, with the environment the commands under test use."""

    home: Path
    pipelines: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "LAKEHOUSE_HOME": str(self.home), "LAKEHOUSE_PIPELINES_DIR": str(self.pipelines)}

    def start(self, timeout: float = 120) -> Up:
        log = (self.home / "up.out").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lakehouse_local.cli", "up", "--port", str(self.port), "--host", "127.0.0.1"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        marker = self.home / "up.json"
        deadline = time.monotonic() + timeout
        while not (marker.is_file() and json.loads(marker.read_text())["port"] == self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"lakehouse up did not start: {(self.home / 'up.out').read_text()[-3000:]}")
            time.sleep(0.2)
        return self

    def stop(self, timeout: float = 120) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=timeout)
        self.process = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture(scope="module")
def lake_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(home, pipelines): a private .lakehouse and a copy of pipelines/ the tests may change, set for the
    commands of this process too."""
    root = tmp_path_factory.mktemp("lake")
    home, pipelines = root / "home", root / "pipelines"
    home.mkdir()
    shutil.copytree(REPO / "pipelines", pipelines)
    with lake_environment(home, pipelines):
        yield home, pipelines


@pytest.fixture(scope="module")
def up(lake_env: tuple[Path, Path]) -> Iterator[Up]:
    from lakehouse_local.server import free_port

    home, pipelines = lake_env
    running = Up(home, pipelines, free_port()).start()
    yield running
    running.stop()
