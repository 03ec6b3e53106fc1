"""A local AWS: moto's server, in this process, standing in for the AWS APIs of the stack's services.

Emulation only. Running moto in-process (``ThreadedMotoServer``) rather than as a separate ``moto_server`` lets the
emulation patch moto's backends (lakehouse_local.moto_patches, lakehouse_local.glue_runner) so that Glue job runs
execute the real Glue script and crawls build catalog tables. The server listens on 0.0.0.0 by default so that
Lambda containers started by ``sam local invoke`` reach it at the docker0 gateway (172.17.0.1).

Switches set here (moto 5.2.1):
- Step Functions executes state machines (``stepfunctions.execute_state_machine``; ``mock_aws(config=...)`` is the
  decorator form, the server reads the same ``default_user_config``).
- moto's Step Functions interpreter calls other services through ``http://localhost:$MOTO_PORT``, so MOTO_PORT is
  set to the server's port.
- Glue crawls and job runs do not advance on a timer in moto; the local crawler/job runner decide when they end.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
DOCKER_HOST_GATEWAY = "172.17.0.1"  # where a container on Docker's default bridge reaches this machine

# Fake credentials for every client of the local stack (moto accepts any); never a real account.
LOCAL_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def _restore_env(saved: dict[str, str | None]) -> None:
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalAws:
    """The running moto server and boto3 clients bound to it."""

    port: int
    host: str = "0.0.0.0"
    region: str = REGION
    _server: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _undo: list[Any] = field(default_factory=list, repr=False)
    _session: Any = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        """The endpoint for processes on this machine."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def docker_endpoint(self) -> str:
        """The endpoint for Lambda containers on Docker's default bridge network."""
        return f"http://{DOCKER_HOST_GATEWAY}:{self.port}"

    def start(self) -> LocalAws:
        from moto.core.config import default_user_config
        from moto.moto_api._internal.models import moto_api_backend
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        from . import moto_patches

        moto_api_backend.reset()  # moto's backends are per process: start from an empty account
        self._undo.append(moto_api_backend.reset)
        saved_env = {name: os.environ.get(name) for name in [*LOCAL_ENV, "MOTO_PORT", "AWS_ENDPOINT_URL"]}
        saved_config = default_user_config.get("stepfunctions")
        self._undo.append(lambda: _restore_env(saved_env))
        self._undo.append(lambda: default_user_config.__setitem__("stepfunctions", saved_config))
        for name, value in LOCAL_ENV.items():
            os.environ.setdefault(name, value)
        os.environ["MOTO_PORT"] = str(self.port)
        os.environ["AWS_ENDPOINT_URL"] = self.endpoint  # every SDK client of this process: the Glue job's too
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        self._undo.append(moto_patches.apply())
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop the server and undo the process-wide settings (environment, moto config and patches)."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        while self._undo:
            self._undo.pop()()

    def client(self, service: str) -> Any:
        """A boto3 client for the local stack (cached per service)."""
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            self._session = self._session or boto3.session.Session()  # one session: models load once
            self._clients[service] = self._session.client(
                service,
                region_name=REGION,
                endpoint_url=self.endpoint,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=120),
            )
        return self._clients[service]
