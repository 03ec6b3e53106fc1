"""AWS clients, created lazily on first use (never at import time) and injectable in tests."""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

# Throttling and 5xx are retried inside the SDK first (standard mode, jittered backoff); what still
# fails after that fails the SQS record, which SQS redelivers and finally parks in the DLQ.
_RETRIES: Any = {"mode": "standard", "max_attempts": 5}

class AwsClients:
    """One boto3 session's clients. An empty AWS_ENDPOINT_URL (the template's default) means AWS itself."""

    def __init__(self, session: Any = None, **overrides: Any):
        self._session = session
        self._overrides = overrides
        if os.environ.get("AWS_ENDPOINT_URL") == "":
            del os.environ["AWS_ENDPOINT_URL"]

    def _client(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        import boto3
        from botocore.config import Config

        session: Any = self._session or boto3.session.Session()  # Any: the service is named at run time
        return session.client(name, config=Config(retries=_RETRIES, connect_timeout=5, read_timeout=60))

    @cached_property
    def s3(self) -> Any:
        return self._client("s3")

    @cached_property
    def glue(self) -> Any:
        return self._client("glue")

    @cached_property
    def dynamodb(self) -> Any:
        return self._client("dynamodb")

    @cached_property
    def sns(self) -> Any:
        return self._client("sns")


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
