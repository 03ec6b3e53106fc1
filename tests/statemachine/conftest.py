"""Run the checked-in pipeline state machines on moto's Step Functions interpreter.

Everything the ASL talks to (the Glue job, the zone crawlers, the alert topic) is created in moto under the names the
template would give it, the DefinitionSubstitutions are read from template.yaml and resolved against those, and an
SQS queue subscribed to the topic collects the alerts. The moto workarounds come from lakehouse_local.moto_patches
(shared with the local emulation); the failure injection below is test-only.
"""

from __future__ import annotations

import json
import re
import uuid
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest
from moto import mock_aws
from moto.glue import models as glue_models
from moto.glue.exceptions import CrawlerRunningException
from moto.moto_api import state_manager

from lakehouse_local import moto_patches

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
REGION = "us-east-1"
STACK = "lake-test"
PARAMETERS = {"LakeName": "lakehouse", "Stage": "test", "CrawlerPollSeconds": "0"}


# ---------------------------------------------------------------------------------------------------- template
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """template.yaml with intrinsics in long form, parsed as SAM CLI parses it."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(path.read_text(encoding="utf-8"))


def state_machine_resources(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::Serverless::StateMachine"
    }


def state_machine_for(template: dict[str, Any], asl_file: str) -> dict[str, Any]:
    for resource in state_machine_resources(template).values():
        if resource["Properties"].get("DefinitionUri") == asl_file:
            return resource
    raise LookupError(f"no AWS::Serverless::StateMachine with DefinitionUri {asl_file}")


def resolve(value: Any, refs: dict[str, str]) -> str:
    """Resolve the intrinsic functions a substitution may use, with ``refs`` as Ref values (resources, parameters)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        if value["Ref"] not in refs:
            raise KeyError(f"test has no value for Ref {value['Ref']}")
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
        return re.sub(r"\$\{([^}!]+)\}", lambda m: refs[m.group(1)], value["Fn::Sub"])
    raise ValueError(f"unsupported substitution value {value!r}")


def substitute(asl_text: str, substitutions: dict[str, str]) -> str:
    """Step Functions' DefinitionSubstitutions: replace ``${Key}`` everywhere in the definition text."""

    def replace(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in substitutions:
            raise KeyError(f"no substitution for ${{{key}}}")
        return substitutions[key]

    return re.sub(r"\$\{([A-Za-z0-9_]+)\}", replace, asl_text)


# ---------------------------------------------------------------------------------------------------- moto patches
# The moto workarounds the ASL needs (glue .sync crash, States.* re-raise, JSON aws-sdk results, LastCrawl status)
# live in lakehouse_local.moto_patches, shared with the local emulation; the failure injection below is test-only.


@dataclass
class Faults:
    """Failures to inject into moto's Glue backend (moto never fails a job run or a crawl on its own)."""

    job_runs: dict[tuple[str, str], str] = field(default_factory=dict)  # (step, action) -> ErrorMessage
    crawlers: dict[str, str] = field(default_factory=dict)  # crawler name -> ErrorMessage of its crawls

    def fail_job_run(self, step: str, action: str, message: str) -> None:
        self.job_runs[(step, action)] = message

    busy_crawlers: dict[str, int] = field(default_factory=dict)  # crawler name -> starts refused as running

    def fail_crawls(self, crawler: str, message: str) -> None:
        self.crawlers[crawler] = message

    def crawler_busy(self, crawler: str, times: int = 1) -> None:
        """The next ``times`` StartCrawler calls find the crawler running (as when two parallel steps crawl one zone)."""
        self.busy_crawlers[crawler] = times


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Faults:
    """Patches moto so that (a) the Glue .sync crash is avoided, (b) a Fail state or Parallel branch may re-raise
    a States.* error, (b2) aws-sdk task results are JSON (no datetime objects), (b3) aws-sdk errors are named
    Glue.*, as in AWS,
    (c) LastCrawl.Status uses the real API's values, and (d) chosen job runs / crawls end FAILED with a message."""
    registry = Faults()

    moto_patches.apply(monkeypatch.setattr)

    original_start_job_run = glue_models.FakeJob.start_job_run

    def start_job_run(self, *args: Any, **kwargs: Any) -> str:
        run_id = original_start_job_run(self, *args, **kwargs)
        run = next(r for r in self.job_runs if r.job_run_id == run_id)
        arguments = run.arguments or {}
        message = registry.job_runs.get((arguments.get("--step"), arguments.get("--action")))
        if message is not None:
            # Injection: the run's state machine ends in FAILED instead of SUCCEEDED.
            run._transitions = [("STARTING", "RUNNING"), ("RUNNING", "FAILED")]
            run.error_message = message
        return run_id

    original_run_as_dict = glue_models.FakeJobRun.as_dict

    def run_as_dict(self) -> dict[str, Any]:
        data = original_run_as_dict(self)
        if getattr(self, "error_message", None) and data["JobRunState"] == "FAILED":
            data["ErrorMessage"] = self.error_message
        return data

    original_start_crawler = glue_models.FakeCrawler.start_crawler

    def start_crawler(self) -> None:
        if registry.busy_crawlers.get(self.name, 0) > 0:
            registry.busy_crawlers[self.name] -= 1
            raise CrawlerRunningException(f"Crawler with name {self.name} has already started")
        original_start_crawler(self)
        message = registry.crawlers.get(self.name)
        if message is not None:
            # Injection: the crawl ends FAILED.
            crawl = self.crawls[-1]
            crawl._transitions = [("RUNNING", "FAILED")]
            crawl.error_message = message

    # moto_patches.crawler_as_dict maps LastCrawl.Status to the API's values and reports a crawl's error_message.

    monkeypatch.setattr(glue_models.FakeJob, "start_job_run", start_job_run)
    monkeypatch.setattr(glue_models.FakeJobRun, "as_dict", run_as_dict)
    monkeypatch.setattr(glue_models.FakeCrawler, "start_crawler", start_crawler)
    return registry


# ---------------------------------------------------------------------------------------------------- the stack
@dataclass
class Lake:
    template: dict[str, Any]
    refs: dict[str, str]
    sfn: Any
    sqs: Any
    glue: Any
    queue_url: str
    faults: Faults
    state_machines: dict[str, str] = field(default_factory=dict)  # pipeline -> ARN

    def run(self, pipeline: str, execution_input: dict[str, Any] | None = None, timeout: float = 40) -> dict[str, Any]:
        arn = self.sfn.start_execution(  # named: moto leaves an unnamed execution's $$.Execution.Name None
            stateMachineArn=self.state_machines[pipeline],
            name=f"{pipeline}-{uuid.uuid4()}",
            input=json.dumps(execution_input or {}),
        )["executionArn"]
        deadline = time.monotonic() + timeout
        while True:
            execution = self.sfn.describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                return execution
            if time.monotonic() > deadline:
                raise TimeoutError(f"execution {arn} still RUNNING after {timeout}s")
            time.sleep(0.1)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events, token = [], None
        while True:
            kwargs = {"executionArn": execution_arn, "maxResults": 1000}
            if token:
                kwargs["nextToken"] = token
            page = self.sfn.get_execution_history(**kwargs)
            events.extend(page["events"])
            token = page.get("nextToken")
            if not token:
                return events

    def alerts(self) -> list[dict[str, Any]]:
        """SNS notifications (the SQS-wrapped envelope, Message parsed) delivered to the test queue."""
        messages = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return messages
            for message in batch:
                envelope = json.loads(message["Body"])
                envelope["Message"] = json.loads(envelope["Message"])
                messages.append(envelope)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


def _template_name(template: dict[str, Any], logical_id: str, refs: dict[str, str]) -> str:
    """The physical name the template gives a resource (its Name / TopicName), resolved with ``refs``."""
    properties = template["Resources"][logical_id]["Properties"]
    for key in ("Name", "TopicName"):
        if key in properties:
            return resolve(properties[key], refs)
    raise KeyError(f"{logical_id} has no Name")


@pytest.fixture
def lake(faults: Faults) -> Iterator[Lake]:
    template = load_template()
    refs = {"AWS::StackName": STACK, "AWS::Region": REGION, "AWS::AccountId": "123456789012", **PARAMETERS}
    state_manager.set_transition(model_name="glue::crawl", transition={"progression": "immediate"})
    state_manager.set_transition(model_name="glue::job_run", transition={"progression": "immediate"})
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        glue = boto3.client("glue", region_name=REGION)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        iam = boto3.client("iam", region_name=REGION)
        role_arn = iam.create_role(RoleName="lake-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]

        job = template["Resources"]["PipelineStepJob"]["Properties"]
        refs["PipelineStepJob"] = _template_name(template, "PipelineStepJob", refs)
        glue.create_job(
            Name=refs["PipelineStepJob"],
            Role=role_arn,
            Command={"Name": "glueetl", "ScriptLocation": "s3://artifacts/pipeline_step.py"},
            GlueVersion=job["GlueVersion"],
            WorkerType=job["WorkerType"],
            NumberOfWorkers=job["NumberOfWorkers"],
            ExecutionProperty=job["ExecutionProperty"],
            DefaultArguments={k: "s3://stand-in/" for k in job["DefaultArguments"]},
        )
        for logical_id, database in (("TrustedCrawler", "lakehouse_test_trusted"), ("CuratedCrawler", "lakehouse_test_curated")):
            refs[logical_id] = _template_name(template, logical_id, refs)
            glue.create_crawler(
                Name=refs[logical_id],
                Role=role_arn,
                DatabaseName=database,
                Targets={"S3Targets": [{"Path": f"s3://{refs[logical_id]}/"}]},
            )
        refs["AlertTopic"] = sns.create_topic(Name=_template_name(template, "AlertTopic", refs))["TopicArn"]
        queue_url = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=refs["AlertTopic"], Protocol="sqs", Endpoint=queue_arn)

        result = Lake(template=template, refs=refs, sfn=sfn, sqs=sqs, glue=glue, queue_url=queue_url, faults=faults)
        for logical_id, resource in state_machine_resources(template).items():
            properties = resource["Properties"]
            substitutions = {k: resolve(v, refs) for k, v in properties["DefinitionSubstitutions"].items()}
            definition = substitute((REPO / properties["DefinitionUri"]).read_text(encoding="utf-8"), substitutions)
            pipeline = Path(properties["DefinitionUri"]).name.removesuffix(".asl.json")
            result.state_machines[pipeline] = sfn.create_state_machine(
                name=resolve(properties["Name"], refs), definition=definition, roleArn=role_arn
            )["stateMachineArn"]
        yield result
    state_manager.unset_transition("glue::crawl")
    state_manager.unset_transition("glue::job_run")


def failed_state_names(history: list[dict[str, Any]]) -> list[str]:
    """Names of the states whose TaskFailed event the history records (via the preceding TaskStateEntered)."""
    by_id = {event["id"]: event for event in history}
    names = []
    for event in history:
        if event["type"] == "TaskFailed":
            previous = by_id.get(event.get("previousEventId"))
            while previous is not None and previous["type"] != "TaskStateEntered":
                previous = by_id.get(previous.get("previousEventId"))
            if previous is not None:
                names.append(previous["stateEnteredEventDetails"]["name"])
    return names


def entered_states(history: list[dict[str, Any]]) -> list[str]:
    return [
        event["stateEnteredEventDetails"]["name"] for event in history if event["type"].endswith("StateEntered")
    ]
