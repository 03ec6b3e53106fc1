"""Create the stack of template.yaml in the local AWS: what `sam deploy` + CloudFormation do in the cloud.

Emulation only. Steps, as in the cloud:
1. ``sam package``: the local paths the template names (``DefinitionUri``, ``CodeUri``, ``ContentUri``, the Glue job's
   ``ScriptLocation``) become ``s3://`` locations in a deployment bucket; definitions and the Glue script are uploaded.
2. The SAM transform: the template is translated offline with samtranslator (the library SAM CLI and CloudFormation
   use), giving plain CloudFormation resources (functions, event source mappings, roles, state machines).
3. CloudFormation: each resource is created through the AWS API (boto3 against moto), in dependency order, resolving
   the intrinsic functions the template uses (Ref, Fn::GetAtt, Fn::Sub, Fn::If/Condition, Fn::Join, Fn::Select,
   Fn::Equals/Not/And/Or, parameters and pseudo parameters). The table ``HANDLERS`` says how each resource type is
   created; Lambda resources are recorded rather than created (the poller or ``sam local invoke`` play Lambda).
4. What must exist before the first run and that the stack does not create: the PII salt parameter.

The stack also gets one resource that is not in the template: an SQS queue subscribed to the alert topic, so the
local report can show the alerts that were published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .server import ACCOUNT_ID, REGION, LocalAws

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
STACK_NAME = "lakehouse-local"
DEPLOY_BUCKET = "aws-sam-cli-managed-default-samclisourcebucket-local"  # what `sam deploy --resolve-s3` creates
# Incremental steps settle for 2 s: local conversions finish before a run starts, and S3 times are in seconds.
LOCAL_PARAMETERS = {"Stage": "local", "IncrementalSettleSeconds": "2"}

_NO_VALUE = object()


class StackError(RuntimeError):
    """The template uses something the local stack cannot create; the message says what."""


@dataclass
class Function:
    """A Lambda function of the template, with its environment resolved to the local resources' names."""

    logical_id: str
    name: str
    handler: str
    code_dir: Path
    environment: dict[str, str]
    event_sources: list[dict[str, Any]] = field(default_factory=list)  # resolved EventSourceMapping properties


@dataclass
class Stack:
    name: str
    aws: LocalAws
    template: dict[str, Any]  # translated (plain CloudFormation)
    refs: dict[str, Any] = field(default_factory=dict)  # logical id -> Ref value
    attrs: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id -> GetAtt values
    types: dict[str, str] = field(default_factory=dict)  # logical id -> resource type
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> why it was not created
    functions: dict[str, Function] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)  # the values the stack was created with
    alerts_queue_url: str = ""

    def ref(self, logical_id: str) -> Any:
        return self.refs[logical_id]

    def of_type(self, resource_type: str) -> dict[str, Any]:
        """Ref values of the created resources of one type, by logical id."""
        return {lid: self.refs[lid] for lid, t in self.types.items() if t == resource_type and lid in self.refs}

    def state_machines(self) -> dict[str, str]:
        """Pipeline name (the ASL file's stem) -> state machine ARN."""
        out = {}
        for lid, arn in self.of_type("AWS::StepFunctions::StateMachine").items():
            key = self.template["Resources"][lid]["Properties"]["DefinitionS3Location"]["Key"]
            out[Path(key).name.removesuffix(".asl.json")] = arn
        return out


# ------------------------------------------------------------------------------------------------ intrinsics
class Resolver:
    """CloudFormation's intrinsic functions over the values known so far."""

    def __init__(self, stack: Stack, parameters: dict[str, Any], conditions: dict[str, Any]) -> None:
        self.stack = stack
        self.parameters = parameters
        self.raw_conditions = conditions
        self.conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.resolve(self.raw_conditions[name]))
        return self.conditions[name]

    def _ref(self, name: str) -> Any:
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.stack.refs:
            return self.stack.refs[name]
        raise StackError(f"Ref {name}: not a parameter or a created resource")

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.stack.attrs[logical_id][attribute]
        except KeyError:
            raise StackError(f"Fn::GetAtt {logical_id}.{attribute} is not emulated") from None

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._get_att(*name.split(".", 1)))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", one, text)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
                return self._get_att(logical_id, attribute)
            if key == "Fn::Sub":
                if isinstance(arg, str):
                    return self._sub(arg, {})
                return self._sub(arg[0], {k: self.resolve(v) for k, v in arg[1].items()})
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(a) for a in arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key.startswith("Fn::"):
                raise StackError(f"intrinsic function {key} is not emulated")
        out = {}
        for k, v in value.items():
            resolved = self.resolve(v)
            if resolved is not _NO_VALUE:
                out[k] = resolved
        return out


def _dependencies(value: Any) -> set[str]:
    """Logical ids a resource's definition refers to (Ref, GetAtt, Sub variables, DependsOn)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= _dependencies(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            if k == "Ref" and isinstance(v, str):
                found.add(v)
            elif k == "Fn::GetAtt":
                found.add((v.split(".", 1) if isinstance(v, str) else v)[0])
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                found |= {m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if not isinstance(v, str):
                    found |= _dependencies(v[1])
            elif k == "DependsOn":
                found |= set([v] if isinstance(v, str) else v)
            else:
                found |= _dependencies(v)
    return found


def _creation_order(resources: dict[str, Any]) -> list[str]:
    deps = {lid: _dependencies(r) & set(resources) - {lid} for lid, r in resources.items()}
    order: list[str] = []
    done: set[str] = set()
    while len(order) < len(resources):
        ready = [lid for lid in resources if lid not in done and deps[lid] <= done]
        if not ready:
            raise StackError(f"circular references among {sorted(set(resources) - done)}")
        order += ready
        done |= set(ready)
    return order


# ------------------------------------------------------------------------------------------------ resource types
Handler = Callable[[Stack, str, dict[str, Any]], tuple[Any, dict[str, Any]]]


def _coerce(shape: Any, value: Any) -> Any:
    """CloudFormation converts property values to the API's types (parameters are strings); do the same from the
    botocore model of the call's input."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: _coerce(shape.members.get(k), v) for k, v in value.items()}
    if kind == "list" and isinstance(value, list):
        return [_coerce(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: _coerce(shape.value, v) for k, v in value.items()}
    if kind in ("integer", "long") and isinstance(value, str):
        return int(value)
    if kind in ("double", "float") and isinstance(value, str):
        return float(value)
    if kind == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if kind == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    """``client.<operation>(**kwargs)`` with the values coerced to the operation's input types."""
    model = client.meta.service_model.operation_model(
        "".join(part.capitalize() for part in operation.split("_"))
    )
    return getattr(client, operation)(**_coerce(model.input_shape, kwargs))


def _arn(service: str, resource: str, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT_ID}:{resource}"


def _physical_name(stack: Stack, logical_id: str) -> str:
    """CloudFormation's generated name for resources without an explicit one (stack-LogicalId-SUFFIX)."""
    return f"{stack.name}-{logical_id}"[:64]


def _bucket(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    s3 = stack.aws.client("s3")
    name = p.get("BucketName") or _physical_name(stack, lid).lower()
    s3.create_bucket(Bucket=name)
    if p.get("VersioningConfiguration"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=p["VersioningConfiguration"])
    notification = p.get("NotificationConfiguration", {})
    if notification.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
    return name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}


def _bucket_policy(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # moto evaluates bucket policies; the local endpoint is plain HTTP, so statements conditioned on
    # aws:SecureTransport (deny insecure transport) would deny every local request: those are left out.
    document = dict(p["PolicyDocument"])
    document["Statement"] = [st for st in document.get("Statement", []) if "aws:SecureTransport" not in json.dumps(st)]
    if document["Statement"]:
        stack.aws.client("s3").put_bucket_policy(Bucket=p["Bucket"], Policy=json.dumps(document))
    return p["Bucket"], {}


def _kms_key(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    kwargs = {k: p[k] for k in ("Description", "KeyUsage", "KeySpec") if k in p}
    key = stack.aws.client("kms").create_key(Policy=json.dumps(p["KeyPolicy"]), **kwargs)["KeyMetadata"]
    return key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]}


def _glue_security_configuration(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    encryption = dict(p["EncryptionConfiguration"])
    if "S3Encryptions" in encryption:  # CloudFormation's property name for the API's S3Encryption
        encryption["S3Encryption"] = encryption.pop("S3Encryptions")
    _call(stack.aws.client("glue"), "create_security_configuration", Name=p["Name"],
          EncryptionConfiguration=encryption)
    return p["Name"], {}


def _glue_database(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    stack.aws.client("glue").create_database(DatabaseInput=p["DatabaseInput"])
    return p["DatabaseInput"]["Name"], {}


def _topic(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    name = p.get("TopicName") or _physical_name(stack, lid)
    arn = stack.aws.client("sns").create_topic(Name=name)["TopicArn"]
    return arn, {"TopicName": name, "TopicArn": arn}


def _subscription(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    arn = stack.aws.client("sns").subscribe(TopicArn=p["TopicArn"], Protocol=p["Protocol"], Endpoint=p["Endpoint"])
    return arn["SubscriptionArn"], {}


def _topic_policy(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    for topic in p["Topics"]:
        stack.aws.client("sns").set_topic_attributes(
            TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(p["PolicyDocument"])
        )
    return _physical_name(stack, lid), {}


def _table(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    ddb = stack.aws.client("dynamodb")
    name = p.get("TableName") or _physical_name(stack, lid)
    kwargs = {k: p[k] for k in ("AttributeDefinitions", "KeySchema", "BillingMode", "GlobalSecondaryIndexes") if k in p}
    arn = _call(ddb, "create_table", TableName=name, **kwargs)["TableDescription"]["TableArn"]
    ttl = p.get("TimeToLiveSpecification")
    if ttl:
        _call(ddb, "update_time_to_live", TableName=name, TimeToLiveSpecification=ttl)
    return name, {"Arn": arn}


def _queue(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    sqs = stack.aws.client("sqs")
    name = p.get("QueueName") or _physical_name(stack, lid)
    attributes: dict[str, str] = {}
    for key in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds",
                "MaximumMessageSize"):
        if key in p:
            attributes[key] = str(p[key])
    if "RedrivePolicy" in p:
        attributes["RedrivePolicy"] = json.dumps(p["RedrivePolicy"])
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url, {"Arn": _arn("sqs", name), "QueueName": name, "QueueUrl": url}


def _queue_policy(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    for url in p["Queues"]:
        stack.aws.client("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])}
        )
    return _physical_name(stack, lid), {}


def _alarm(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    name = p.get("AlarmName") or _physical_name(stack, lid)
    _call(stack.aws.client("cloudwatch"), "put_metric_alarm", AlarmName=name,
          **{k: v for k, v in p.items() if k != "AlarmName"})
    return name, {"Arn": _arn("cloudwatch", f"alarm:{name}")}


def _rule(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    events = stack.aws.client("events")
    name = p.get("Name") or _physical_name(stack, lid)
    kwargs: dict[str, Any] = {"Name": name, "State": p.get("State", "ENABLED")}
    if "EventPattern" in p:
        kwargs["EventPattern"] = json.dumps(p["EventPattern"])
    for key in ("Description", "ScheduleExpression", "EventBusName"):
        if key in p:
            kwargs[key] = p[key]
    arn = events.put_rule(**kwargs)["RuleArn"]
    if p.get("Targets"):
        bus = {"EventBusName": p["EventBusName"]} if "EventBusName" in p else {}
        _call(events, "put_targets", Rule=name, Targets=p["Targets"], **bus)
    return name, {"Arn": arn}


def _role(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # moto does not enforce IAM: roles exist so that ARNs resolve; their policies are not attached (not evaluated).
    iam = stack.aws.client("iam")
    name = p.get("RoleName") or _physical_name(stack, lid)
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]))["Role"]["Arn"]
    return name, {"Arn": arn, "RoleId": name}


def _log_group(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    name = p.get("LogGroupName") or _physical_name(stack, lid)
    stack.aws.client("logs").create_log_group(logGroupName=name)
    return name, {"Arn": _arn("logs", f"log-group:{name}:*")}


def _glue_job(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    keys = ("Description", "Role", "Command", "DefaultArguments", "GlueVersion", "WorkerType", "NumberOfWorkers",
            "Timeout", "MaxRetries", "ExecutionProperty", "SecurityConfiguration")
    name = p.get("Name") or _physical_name(stack, lid)
    _call(stack.aws.client("glue"), "create_job", Name=name, **{k: p[k] for k in keys if k in p})
    return name, {}


def _state_machine(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    location = p["DefinitionS3Location"]
    text = stack.aws.client("s3").get_object(Bucket=location["Bucket"], Key=location["Key"])["Body"].read().decode()
    substitutions = {k: str(v) for k, v in p.get("DefinitionSubstitutions", {}).items()}

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in substitutions:
            raise StackError(f"{lid}: no DefinitionSubstitutions entry for ${{{match.group(1)}}}")
        return substitutions[match.group(1)]

    definition = re.sub(r"\$\{([A-Za-z0-9_]+)\}", substitute, text)
    name = p.get("StateMachineName") or _physical_name(stack, lid)
    arn = stack.aws.client("stepfunctions").create_state_machine(
        name=name, definition=definition, roleArn=p["RoleArn"], type=p.get("StateMachineType", "STANDARD")
    )["stateMachineArn"]
    return arn, {"Name": name, "Arn": arn}


def _dashboard(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    name = p.get("DashboardName") or _physical_name(stack, lid)
    stack.aws.client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=p["DashboardBody"])
    return name, {}


def _workgroup(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    configuration = dict(p.get("WorkGroupConfiguration", {}))
    _call(stack.aws.client("athena"), "create_work_group", Name=p["Name"], Description=p.get("Description", ""),
          Configuration=configuration)
    return p["Name"], {}


def _schedule(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # moto stores schedules but never fires them: start executions by hand locally.
    name = p.get("Name") or _physical_name(stack, lid)
    keys = ("Description", "ScheduleExpression", "FlexibleTimeWindow", "Target", "State")
    arn = _call(stack.aws.client("scheduler"), "create_schedule", Name=name,
                **{k: p[k] for k in keys if k in p})["ScheduleArn"]
    return name, {"Arn": arn}


def _function(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # Not created in moto: the local poller (in-process) or `sam local invoke` (Docker) runs the function.
    key = p["Code"]["S3Key"]
    name = p.get("FunctionName") or _physical_name(stack, lid)
    stack.functions[lid] = Function(
        logical_id=lid, name=name, handler=p["Handler"], code_dir=REPO / key,
        environment={k: str(v) for k, v in p.get("Environment", {}).get("Variables", {}).items()},
    )
    return name, {"Arn": _arn("lambda", f"function:{name}")}


def _layer(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # Not created: in-process runs import the layers' code from the repo (installed in .venv); sam local mounts them.
    return _arn("lambda", f"layer:{p.get('LayerName', lid)}:1"), {}


def _event_source_mapping(stack: Stack, lid: str, p: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    # Played by lakehouse_local.poller: recorded on the function it invokes.
    function = next(f for f in stack.functions.values() if p["FunctionName"] in (f.name, f.logical_id))
    function.event_sources.append(p)
    return f"{stack.name}-{lid}", {}


HANDLERS: dict[str, Handler] = {
    "AWS::S3::Bucket": _bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::KMS::Key": _kms_key,
    "AWS::Glue::SecurityConfiguration": _glue_security_configuration,
    "AWS::Glue::Database": _glue_database,
    "AWS::SNS::Topic": _topic,
    "AWS::SNS::Subscription": _subscription,
    "AWS::SNS::TopicPolicy": _topic_policy,
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::SQS::QueuePolicy": _queue_policy,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::Events::Rule": _rule,
    "AWS::IAM::Role": _role,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::Glue::Job": _glue_job,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::Athena::WorkGroup": _workgroup,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::Lambda::Function": _function,
    "AWS::Lambda::LayerVersion": _layer,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
}


# ------------------------------------------------------------------------------------------------ deploy
def _package(aws: LocalAws, template: dict[str, Any]) -> None:
    """`sam package`: local artifact paths -> s3:// locations in the deployment bucket (uploading what is read from
    S3 at run time: state machine definitions and Glue scripts; code and layers are used from the repo)."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=DEPLOY_BUCKET)
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            value = props.get(key)
            if isinstance(value, str) and not value.startswith("s3://"):
                if key == "DefinitionUri":
                    s3.upload_file(str(REPO / value), DEPLOY_BUCKET, value)
                props[key] = f"s3://{DEPLOY_BUCKET}/{value}"
        command = props.get("Command") if resource.get("Type") == "AWS::Glue::Job" else None
        if command and not str(command.get("ScriptLocation", "s3://")).startswith("s3://"):
            s3.upload_file(str(REPO / command["ScriptLocation"]), DEPLOY_BUCKET, command["ScriptLocation"])
            command["ScriptLocation"] = f"s3://{DEPLOY_BUCKET}/{command['ScriptLocation']}"


def translate(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """The SAM transform, offline (no managed policy lookups), as SAM CLI does for `sam local`."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    translator = Translator(
        managed_policy_map={}, sam_parser=Parser(), boto_session=boto3.session.Session(region_name=REGION)
    )
    return translator.translate(sam_template=template, parameter_values=parameters)


def create_stack(aws: LocalAws, *, name: str = STACK_NAME, parameters: dict[str, str] | None = None,
                 template_path: Path = TEMPLATE) -> Stack:
    """Package, transform and create every resource of the template in the local AWS."""
    from samtranslator.yaml_helper import yaml_parse

    sam_template = yaml_parse(template_path.read_text(encoding="utf-8"))
    values: dict[str, Any] = {k: str(v.get("Default", "")) for k, v in sam_template.get("Parameters", {}).items()}
    values.update(LOCAL_PARAMETERS)
    values.update(parameters or {})
    pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT_ID, "AWS::StackName": name, "AWS::Partition": "aws",
              "AWS::URLSuffix": "amazonaws.com", "AWS::StackId": _arn("cloudformation", f"stack/{name}/local")}
    _package(aws, sam_template)
    translated = translate(sam_template, {**values, **pseudo})

    stack = Stack(name=name, aws=aws, template=translated, parameters=dict(values))
    resolver = Resolver(stack, {**values, **pseudo}, translated.get("Conditions", {}))
    resources = translated["Resources"]
    for lid in _creation_order(resources):
        resource = resources[lid]
        stack.types[lid] = resource["Type"]
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            stack.skipped[lid] = f"condition {resource['Condition']} is false"
            continue
        handler = HANDLERS.get(resource["Type"])
        if handler is None:
            raise StackError(f"{lid}: resource type {resource['Type']} is not emulated (add it to stack.HANDLERS)")
        ref, attrs = handler(stack, lid, resolver.resolve(resource.get("Properties", {})))
        stack.refs[lid] = ref
        stack.attrs[lid] = attrs
    for key, output in translated.get("Outputs", {}).items():
        if "Condition" in output and not resolver.condition(output["Condition"]):
            continue
        stack.outputs[key] = resolver.resolve(output["Value"])

    _post_deploy(stack)
    return stack


def _post_deploy(stack: Stack) -> None:
    """The PII salt parameter the template expects to exist, and the local alert queue."""
    salt_parameter = _parameter_default(stack, "PiiSaltParameterName")
    if salt_parameter:
        stack.aws.client("ssm").put_parameter(
            Name=salt_parameter, Value="lakehouse-local-demo-salt", Type="SecureString", Overwrite=True
        )
    topic = stack.outputs.get("AlertTopicArn")
    if topic:
        sqs = stack.aws.client("sqs")
        url = sqs.create_queue(QueueName=f"{stack.name}-local-alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        stack.aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        stack.alerts_queue_url = url


def _parameter_default(stack: Stack, name: str) -> str:
    # Parameters survive the transform in the translated template.
    value = {**LOCAL_PARAMETERS}.get(name) or stack.template.get("Parameters", {}).get(name, {}).get("Default", "")
    return str(value)
