"""Security posture of template.yaml (issue 5): the scanners report nothing, and the rules hold by construction.

The scanner tests run cfn-lint and checkov on the template (`make test` runs them; they take ~30 s). The direct
assertions below do not depend on either tool's rule set: every bucket is encrypted, private and TLS-only, no role
may do everything to a data bucket, queues/topic/tables are encrypted, the tables have point-in-time recovery.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO / "template.yaml"
BIN = Path(sys.executable).parent


def _template() -> dict[str, Any]:
    from samcli.yamlhelper import yaml_parse  # CloudFormation's short forms (!Ref, !If, ...) as dicts

    return yaml_parse(TEMPLATE_PATH.read_text())


TEMPLATE = _template()
RESOURCES: dict[str, dict[str, Any]] = TEMPLATE["Resources"]


def _of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r for lid, r in RESOURCES.items() if r["Type"] == kind}


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (make setup installs it)")
    return found


def _branches(value: Any) -> list[Any]:
    """Both outcomes of a top-level Fn::If (each must satisfy the rule), else the value itself."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        return [b for b in value["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"}]
    return [value]


# ------------------------------------------------------------------------------------------------------ scanners


@pytest.fixture(params=["DISABLED", "ENABLED"], ids=["lake-formation-off", "lake-formation-on"])
def scanned_template(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """template.yaml with LakeFormationMode defaulting to each value, so each scanner sees either mode's resources
    as the deployed default (checkov resolves conditions from parameter defaults)."""
    text = TEMPLATE_PATH.read_text(encoding="utf-8")
    marker = "  LakeFormationMode:\n"
    start = text.index(marker)
    default = text.index("    Default: DISABLED\n", start)
    assert default - start < 400, "the LakeFormationMode parameter's Default line moved"
    copy = tmp_path / "template.yaml"
    copy.write_text(text[:default] + f"    Default: {request.param}\n"
                    + text[default + len("    Default: DISABLED\n"):], encoding="utf-8")
    return copy


@pytest.mark.slow
def test_cfn_lint_reports_nothing(scanned_template: Path):
    result = subprocess.run([_tool("cfn-lint"), str(scanned_template)], capture_output=True, text=True, cwd=REPO,
                            check=False)
    print(f"cfn-lint: exit code {result.returncode}, {len(result.stdout.splitlines())} finding line(s)")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_checkov_reports_no_failed_check_and_every_skip_is_justified(scanned_template: Path):
    result = subprocess.run(
        [_tool("checkov"), "-f", str(scanned_template), "--framework", "cloudformation", "-o", "json", "--quiet",
         "--compact"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed: list[str] = []
    for report in reports:
        summary = report["summary"]
        print(
            f"checkov {summary['checkov_version']} ({report['check_type']}): Passed checks: {summary['passed']}, "
            f"Failed checks: {summary['failed']}, Skipped checks: {summary['skipped']}"
        )
        failed += [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]
        assert summary["parsing_errors"] == 0
    assert not failed, "\n".join(failed)
    for lid, resource in RESOURCES.items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "")) > 40, f"{lid}: skip {skip['id']} needs a real justification"


# ------------------------------------------------------------------------------------------------------ buckets


def test_every_bucket_is_encrypted_private_versioned_and_has_lifecycle_rules():
    buckets = _of_type("AWS::S3::Bucket")
    assert len(buckets) >= 7
    for lid, bucket in buckets.items():
        props = bucket["Properties"]
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        outcomes = _branches(rule)
        assert {o["ServerSideEncryptionByDefault"]["SSEAlgorithm"] for o in outcomes} == {"AES256", "aws:kms"}, lid
        for outcome in outcomes:
            if outcome["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms":
                assert outcome["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {"Ref": "KmsKeyArn"}, lid
                assert outcome["BucketKeyEnabled"] is True, lid
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True
        }, lid
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, lid
        rules = props["LifecycleConfiguration"]["Rules"]
        assert any("NoncurrentVersionExpiration" in r for r in rules), f"{lid}: noncurrent versions never expire"
        logging = props["LoggingConfiguration"]
        assert logging["Fn::If"][0] == "HasAccessLogBucket", lid


def test_landing_and_quarantine_expire_after_their_parameters():
    def expiry(lid: str) -> set[Any]:
        return {str(r.get("ExpirationInDays")) for r in RESOURCES[lid]["Properties"]["LifecycleConfiguration"]["Rules"]}

    assert str({"Ref": "LandingRetentionDays"}) in expiry("LandingBucket")
    assert str({"Ref": "QuarantineRetentionDays"}) in expiry("QuarantineBucket")
    assert RESOURCES["LandingBucket"]["Properties"]["NotificationConfiguration"]["EventBridgeConfiguration"] == {
        "EventBridgeEnabled": True
    }


def test_every_bucket_has_a_tls_only_policy():
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]["Statement"]
        for p in _of_type("AWS::S3::BucketPolicy").values()
    }
    for lid in _of_type("AWS::S3::Bucket"):
        assert lid in policies, f"{lid} has no bucket policy"
        denies = [
            s for s in policies[lid]
            if s["Effect"] == "Deny" and s["Principal"] == "*" and s["Action"] == "s3:*"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert denies, f"{lid}: no Deny of requests without TLS"
        assert denies[0]["Resource"] == [{"Fn::GetAtt": [lid, "Arn"]}, {"Fn::Sub": f"${{{lid}.Arn}}/*"}], (
            f"{lid}: the deny must cover the bucket and its objects"
        )


# ------------------------------------------------------------------------------------------------------ IAM


def _policy_statements() -> list[tuple[str, dict[str, Any]]]:
    """(owner, statement) of every inline IAM statement: roles, SAM function/state machine Policies."""
    found: list[tuple[str, dict[str, Any]]] = []
    for lid, resource in RESOURCES.items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        elif resource["Type"] in ("AWS::Serverless::Function", "AWS::Serverless::StateMachine"):
            documents = [p for p in props.get("Policies", []) if isinstance(p, dict) and "Statement" in p]
        for document in documents:
            for statement in document["Statement"]:
                found += [(lid, s) for s in _branches(statement)]
    return found


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_role_may_do_everything():
    for owner, statement in _policy_statements():
        if statement["Effect"] != "Allow":
            continue
        actions = _listify(statement["Action"])
        assert "*" not in actions, f"{owner}: Action '*'"
        wildcard_services = [a for a in actions if a.endswith(":*")]
        assert not wildcard_services, f"{owner}: {wildcard_services}"


def test_data_buckets_are_not_granted_whole_services_and_resource_star_is_justified():
    data_buckets = set(_of_type("AWS::S3::Bucket"))
    # GetDataAccess (Lake Formation's credential vending) and the log-delivery APIs have no resource types
    allowed_star = {"cloudwatch:PutMetricData", "lakeformation:GetDataAccess"} | {a for a in ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]}
    for owner, statement in _policy_statements():
        if statement["Effect"] != "Allow":
            continue
        actions = _listify(statement["Action"])
        resources = _listify(statement["Resource"])
        if "*" in resources:
            assert set(actions) <= allowed_star, f"{owner}: {actions} on Resource '*'"
        text = json.dumps(resources)
        if any(b in text for b in data_buckets):
            assert all(a.startswith("s3:") and a != "s3:*" for a in actions), f"{owner}: {actions}"


def test_convert_function_has_exactly_the_s3_access_it_uses():
    policies = RESOURCES["ConvertFunction"]["Properties"]["Policies"]
    templates = {next(iter(p)) for p in policies if "Statement" not in p}
    assert templates == {"SNSPublishMessagePolicy"}, "S3 access is hand-written (no Crud/Write templates)"
    statements = _statements(policies)
    assert set(statements["ReadLandingObjects"]["Action"]) >= {"s3:GetObject", "s3:GetObjectVersion"}
    assert set(statements["WriteRawParquet"]["Action"]) == {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}
    assert "s3:DeleteObject" not in statements["WriteQuarantine"]["Action"]
    assert statements["ObjectLedger"]["Action"] == ["dynamodb:GetItem", "dynamodb:PutItem"]


def _statements(policies: list[Any]) -> dict[str, dict[str, Any]]:
    """Inline statements by Sid, with a conditional (Fn::If) statement's branches taken in."""
    return {s["Sid"]: s for p in policies if "Statement" in p for st in p["Statement"] for s in _branches(st)}


def test_state_machines_may_run_only_our_job_and_workgroup_and_publish_only_to_our_topic():
    for lid, machine in _of_type("AWS::Serverless::StateMachine").items():
        policies = machine["Properties"]["Policies"]
        assert {"SNSPublishMessagePolicy": {"TopicName": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}} in policies
        statements = _statements(policies)
        substitutions = machine["Properties"]["DefinitionSubstitutions"]
        if "GlueJobName" in substitutions:
            assert "${PipelineStepJob}" in statements["RunPipelineStepJob"]["Resource"]["Fn::Sub"], lid
        if "AthenaWorkGroup" in substitutions:
            assert statements["RunAthenaSteps"]["Resource"]["Fn::Sub"].endswith("workgroup/${AthenaWorkGroup}"), lid
        for statement in statements.values():
            assert not any(a.startswith(("sns:", "glue:")) for a in _listify(statement["Action"])) or \
                statement["Resource"] != "*", f"{lid}: {statement['Sid']}"


def test_state_machines_enable_optimizers_on_presentation_tables_only_and_pass_only_their_role_to_glue():
    """Issue 15: the Athena table steps enable Glue's table optimizers on the tables they build; their role may do
    that in the presentation database only (Glue authorizes the catalog and database with the table) and may hand
    TableOptimizerRole, no other role, to Glue and no other service."""
    glue = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
    checked = 0
    for lid, machine in _of_type("AWS::Serverless::StateMachine").items():
        statements = _statements(machine["Properties"]["Policies"])
        create = [s for s in statements.values() if "glue:CreateTableOptimizer" in _listify(s["Action"])]
        passes = [s for s in statements.values() if "iam:PassRole" in _listify(s["Action"])]
        if "TableOptimizerRoleArn" not in machine["Properties"]["DefinitionSubstitutions"]:
            assert not create and not passes, lid  # no Athena table step: nothing to enable
            continue
        (create,), (passes,) = create, passes
        assert _listify(create["Action"]) == ["glue:CreateTableOptimizer"], lid
        assert [r["Fn::Sub"] for r in create["Resource"]] == [
            f"{glue}:catalog", f"{glue}:database/${{PresentationDatabase}}",
            f"{glue}:table/${{PresentationDatabase}}/*"], lid
        assert _listify(passes["Action"]) == ["iam:PassRole"], lid
        assert passes["Resource"] == {"Fn::GetAtt": ["TableOptimizerRole", "Arn"]}, lid
        assert passes["Condition"] == {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, lid
        checked += 1
    assert checked, "the retail pipeline has Athena table steps"
    for owner, statement in _policy_statements():  # nobody passes any other role, or to another service
        if "iam:PassRole" in _listify(statement["Action"]):
            assert statement["Resource"] == {"Fn::GetAtt": ["TableOptimizerRole", "Arn"]}, owner
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "glue.amazonaws.com"}}, owner


def test_pii_salt_is_read_from_ssm_by_name_only():
    parameter = TEMPLATE["Parameters"]["PiiSaltParameterName"]
    assert parameter["Type"] == "String" and parameter["Default"].startswith("/")
    job = RESOURCES["PipelineStepJob"]["Properties"]["DefaultArguments"]
    assert job["--salt-parameter"] == {"Ref": "PiiSaltParameterName"}
    read = [s for owner, s in _policy_statements() if owner == "GlueJobRole" and s.get("Sid") == "ReadPiiSalt"]
    assert read and read[0]["Action"] == "ssm:GetParameter" and "${PiiSaltParameterName}" in read[0]["Resource"]["Fn::Sub"]
    for lid, resource in RESOURCES.items():  # no salt value in any environment or argument
        text = json.dumps(resource.get("Properties", {})).lower()
        assert '"salt"' not in text and "pii_salt\": \"" not in text, lid


# ------------------------------------------------------------------------------------------------------ queues, topic, tables


def test_queues_are_encrypted():
    for lid, queue in _of_type("AWS::SQS::Queue").items():
        props = queue["Properties"]
        managed = _branches(props["SqsManagedSseEnabled"])
        kms = _branches(props["KmsMasterKeyId"])
        assert managed == [True] and kms == [{"Ref": "KmsKeyArn"}], lid
        assert props["SqsManagedSseEnabled"]["Fn::If"][0] == props["KmsMasterKeyId"]["Fn::If"][0] == "HasKmsKey"


def test_alert_topic_is_encrypted_with_a_key_alarms_and_rules_may_use():
    topic = RESOURCES["AlertTopic"]["Properties"]
    assert _branches(topic["KmsMasterKeyId"]) == [{"Ref": "KmsKeyArn"}, {"Fn::GetAtt": ["AlertsKey", "Arn"]}]
    key = RESOURCES["AlertsKey"]
    assert key["Condition"] == "UseStackAlertsKey" and key["Properties"]["EnableKeyRotation"] is True
    services = [s["Principal"].get("Service") for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert ["cloudwatch.amazonaws.com", "events.amazonaws.com"] in services
    # the topic policy replaces SNS's default one: alarms (named <stack>-...) need their own grant
    grants = RESOURCES["AlertTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    alarm_grant = [s for s in grants if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert alarm_grant and alarm_grant[0]["Action"] == "sns:Publish"
    for lid, alarm in _of_type("AWS::CloudWatch::Alarm").items():
        if {"Ref": "AlertTopic"} in alarm["Properties"].get("AlarmActions", []):
            assert alarm["Properties"]["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), lid


def test_tables_have_point_in_time_recovery_and_encryption():
    tables = _of_type("AWS::DynamoDB::Table")
    assert set(tables) >= {"ObjectLedgerTable", "IdempotencyTable"}
    for lid, table in tables.items():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, lid
        sse = props["SSESpecification"]
        assert sse["KMSMasterKeyId"]["Fn::If"][1] == {"Ref": "KmsKeyArn"}, lid


def test_the_glue_job_uses_the_security_configuration():
    config = {"Ref": "GlueSecurityConfiguration"}
    assert RESOURCES["PipelineStepJob"]["Properties"]["SecurityConfiguration"] == config
    (s3,) = RESOURCES["GlueSecurityConfiguration"]["Properties"]["EncryptionConfiguration"]["S3Encryptions"]
    assert _branches(s3["S3EncryptionMode"]) == ["SSE-KMS", "SSE-S3"]
