"""The stack an operator command works on: the local one by default, a deployed one with ``--stack NAME``.

- ``--stack NAME``: boto3 with the default credential chain; the outputs and resource names come from CloudFormation
  (DescribeStacks, ListStackResources).
- the local stack, when `lakehouse up` runs: its endpoint and names from ``.lakehouse/up.json``.
- the local stack, when none runs: the lake saved in ``.lakehouse/state`` is started in this process for the
  command. Read-only commands get it without the landing poller and never save it; commands that change the lake
  (upload, replay, redrive, run) get the whole lake (poller, Glue runner) and save it when they end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from .home import default_pipelines, home

if TYPE_CHECKING:
    from .lake import LocalLake

Mode = Literal["read", "write"]


class TargetError(LookupError):
    """The stack cannot be reached or lacks something the command needs; the message says what."""


@dataclass
class Target:
    name: str  # the stack's name
    local: bool
    outputs: dict[str, Any]
    resources: dict[str, str]  # logical id -> physical id
    session: Any  # boto3.session.Session
    endpoint: str | None = None  # the local AWS endpoint; None on AWS
    account: str = ""
    region: str = ""
    lake: LocalLake | None = None  # the lake, when it runs in this process
    pipelines_dir: Path = field(default_factory=default_pipelines)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def where(self) -> str:
        if not self.local:
            return f"stack {self.name} ({self.region})"
        return f"local stack ({self.endpoint}{', in this process' if self.lake else ', lakehouse up'})"

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint,
                config=Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=120))
        return self._clients[service]

    def output(self, key: str) -> str:
        if key not in self.outputs:
            raise TargetError(f"{self.where} has no output {key}: is it deployed from this template?")
        return str(self.outputs[key])

    def resource(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            raise TargetError(f"{self.where} has no resource {logical_id}: is it deployed from this template?")
        return self.resources[logical_id]

    def queue_url(self, logical_id: str) -> str:
        """SQS queue URL of a resource (CloudFormation's physical id of a queue is its URL)."""
        return self.resource(logical_id)

    def queue_arn(self, logical_id: str) -> str:
        url = self.queue_url(logical_id)
        attributes = self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def state_machines(self) -> dict[str, str]:
        """Pipeline -> state machine ARN (each machine is named ``<stack>-<pipeline>``)."""
        out = {}
        for key, value in self.outputs.items():
            if key.endswith("StateMachineArn") and isinstance(value, str):
                machine = value.rsplit(":", 1)[1]
                out[machine.removeprefix(f"{self.name}-")] = value
        return dict(sorted(out.items()))

    def state_machine(self, pipeline: str) -> str:
        machines = self.state_machines()
        if pipeline not in machines:
            raise TargetError(f"pipeline {pipeline!r} has no state machine in {self.where} (pipelines: "
                              f"{', '.join(machines) or 'none'}); a pipeline needs steps in its pipeline.yaml, then "
                              "`lakehouse generate` and a deploy (locally: restart `lakehouse up`)")
        return machines[pipeline]

    @contextlib.contextmanager
    def wrangler_session(self) -> Iterator[Any]:
        """This target's boto3 session, with awswrangler's (process-wide) endpoints pointed at it while in use and
        restored afterwards, so a later call for another target (``query --stack``) is not sent here."""
        import awswrangler as wr

        names = [f"{service}_endpoint_url" for service in ("dynamodb", "s3", "glue", "athena", "sts")]
        saved = {name: getattr(wr.config, name) for name in names}
        for name in names:
            setattr(wr.config, name, self.endpoint)
        try:
            yield self.session
        finally:
            for name, value in saved.items():
                setattr(wr.config, name, value)


def _local_session() -> Any:
    import boto3

    from .server import REGION

    return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                 region_name=REGION)


def deployed(stack: str, region: str | None = None) -> Target:
    """A deployed stack, found with CloudFormation through the default credential chain."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = boto3.session.Session(region_name=region)
    cloudformation = session.client("cloudformation")
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        resources = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
            for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
            for r in page["StackResourceSummaries"]
        }
    except (ClientError, BotoCoreError) as exc:
        raise TargetError(f"cannot read stack {stack!r} with CloudFormation: {exc}") from exc
    _, _, _, stack_region, account, _ = described["StackId"].split(":", 5)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    return Target(stack, False, outputs, resources, session, account=account, region=stack_region)


def _from_up(up: Any) -> Target:
    from .server import ACCOUNT_ID, REGION

    return Target(up.stack, True, dict(up.outputs), dict(up.resources), _local_session(), endpoint=up.endpoint,
                  account=ACCOUNT_ID, region=REGION, pipelines_dir=Path(up.pipelines_dir))


def _from_lake(lake: LocalLake, pipelines_dir: Path) -> Target:
    from .server import ACCOUNT_ID, REGION

    resources = {lid: ref for lid, ref in lake.stack.refs.items() if isinstance(ref, str)}
    resources["LocalAlertsQueue"] = lake.stack.alerts_queue_url
    return Target(lake.stack.name, True, dict(lake.stack.outputs), resources, _local_session(),
                  endpoint=lake.aws.endpoint, account=ACCOUNT_ID, region=REGION, lake=lake,
                  pipelines_dir=pipelines_dir)


@contextlib.contextmanager
def open_target(stack: str | None, mode: Mode, *, region: str | None = None,
                say: Callable[[str], None] = lambda text: None, log: TextIO | None = None) -> Iterator[Target]:
    """The stack a command works on (see the module's docstring); a lake started here is stopped at the end."""
    if stack:
        yield deployed(stack, region)
        return
    from .lake import LocalLake
    from .up import running

    up = running()
    if up is not None:
        yield _from_up(up)
        return
    pipelines_dir = default_pipelines()
    if mode == "read":
        lake = LocalLake.start(pipelines_dir=pipelines_dir, persistence="read", poll=False, say=say, log=log)
    else:
        from .commands import regenerate

        regenerate(say, pipelines_dir)  # the state machines `sam build` would deploy now, as `demo` and `up` do
        lake = LocalLake.start(pipelines_dir=pipelines_dir, persistence="write", say=say, log=log)
    try:
        if not (lake.restored and lake.restored.objects):
            say(f"the local lake in {home()} is empty: `lakehouse demo` or `lakehouse up` and `lakehouse upload` "
                "fill it")
        yield _from_lake(lake, pipelines_dir)
    finally:
        lake.stop()


@contextlib.contextmanager
def local_endpoint(say: Callable[[str], None] = lambda text: None, log: TextIO | None = None) -> Iterator[str]:
    """The endpoint of the local lake for a read-only command (`lakehouse query`): the running `lakehouse up`'s, else
    that of the kept lake started in this process (without the poller) until the block ends."""
    with open_target(None, "read", say=say, log=log) as target:
        yield str(target.endpoint)
