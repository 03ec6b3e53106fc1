"""Shared fixtures: fake AWS credentials for every test, so nothing can ever reach a real account."""

from __future__ import annotations

import logging
import os
from pathlib import Path

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
