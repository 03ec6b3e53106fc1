"""template.yaml: one landing rule for the bucket, nothing written by hand per data set or pipeline, the
generated blocks fresh, the Athena workgroup's settings, and the Lake Formation grants."""

from __future__ import annotations

import re
from typing import Any

from lakehouse.pipeline import Lake
from lakehouse.stackgen import generate, logical_id, stale
from samtranslator.yaml_helper import yaml_parse

from .conftest import PIPELINES, REPO

TEMPLATE = yaml_parse((REPO / "template.yaml").read_text(encoding="utf-8"))
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _of_type(kind: str) -> dict[str, Any]:
    return {lid: r for lid, r in RESOURCES.items() if r["Type"] == kind}


def test_one_rule_sends_every_object_created_in_the_landing_bucket_to_the_queue() -> None:
    """Issue 13: per-data-set rules dropped the events of unknown folders, so those files never got a state."""
    rules = _of_type("AWS::Events::Rule")
    assert list(rules) == ["LandingObjectCreatedRule"]
    pattern = rules["LandingObjectCreatedRule"]["Properties"]["EventPattern"]
    assert pattern == {"source": ["aws.s3"], "detail-type": ["Object Created"],
                       "detail": {"bucket": {"name": [{"Ref": "LandingBucket"}]}}}  # no key prefix
    targets = rules["LandingObjectCreatedRule"]["Properties"]["Targets"]
    assert [t["Arn"] for t in targets] == [{"Fn::GetAtt": ["LandingQueue", "Arn"]}]
    statement = RESOURCES["LandingQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["LandingObjectCreatedRule",
                                                                                   "Arn"]}


def test_no_crawlers_are_left() -> None:
    assert not _of_type("AWS::Glue::Crawler") and "CrawlerRole" not in RESOURCES


def test_the_generated_state_machines_and_template_blocks_are_fresh() -> None:
    """`lakehouse generate` writes what the template holds per pipeline; it must match pipelines/."""
    out_of_date = stale(generate(Lake.load(PIPELINES), REPO), REPO)
    assert not out_of_date, f"run `lakehouse generate`: stale {[str(p.relative_to(REPO)) for p in out_of_date]}"


def test_every_pipeline_with_steps_has_its_state_machine_and_output_and_nothing_else_is_per_pipeline() -> None:
    lake = Lake.load(PIPELINES)
    machines = _of_type("AWS::Serverless::StateMachine")
    assert set(machines) == {f"{logical_id(p.name)}StateMachine" for p in lake.pipelines.values() if p.steps}
    for pipeline in (p for p in lake.pipelines.values() if p.steps):
        assert f"{logical_id(pipeline.name)}StateMachineArn" in TEMPLATE["Outputs"]
        schedule = RESOURCES.get(f"{logical_id(pipeline.name)}Schedule")
        if pipeline.schedule:
            assert schedule["Properties"]["ScheduleExpression"] == pipeline.schedule
            assert schedule["Properties"]["State"] == {"Ref": "PipelineSchedules"}
        else:
            assert schedule is None
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    hand_written = text.split("# >>> generated")[0] + "".join(b.split("# <<< generated")[-1]
                                                               for b in text.split("# >>> generated")[1:])
    for pipeline in lake.pipelines:
        assert not re.search(rf"\b{pipeline}\b", hand_written), f"{pipeline} appears outside the generated blocks"
    for contract in lake.contracts.contracts:
        assert contract.landing_prefix not in hand_written


def test_the_scheduler_may_start_any_of_the_stacks_state_machines_only() -> None:
    statement = RESOURCES["PipelineSchedulerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    assert statement["Action"] == "states:StartExecution"
    assert statement["Resource"]["Fn::Sub"].endswith(":stateMachine:${AWS::StackName}-*")


def test_the_athena_workgroup_enforces_encrypted_results_and_a_scan_limit() -> None:
    workgroup = RESOURCES["AthenaWorkGroup"]["Properties"]
    configuration = workgroup["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == {"Ref": "AthenaBytesScannedCutoffPerQuery"}
    assert configuration["EngineVersion"] == {"SelectedEngineVersion": "Athena engine version 3"}
    assert configuration["PublishCloudWatchMetricsEnabled"] is True
    results = configuration["ResultConfiguration"]
    assert results["OutputLocation"] == {"Fn::Sub": "s3://${AthenaResultsBucket}/results/"}
    kms, s3 = results["EncryptionConfiguration"]["Fn::If"][1:]
    assert kms["EncryptionOption"] == "SSE_KMS" and s3 == {"EncryptionOption": "SSE_S3"}
    assert TEMPLATE["Outputs"]["AthenaWorkGroupName"]["Value"] == {"Ref": "AthenaWorkGroup"}


def test_athena_steps_run_in_the_stacks_workgroup_only() -> None:
    machines = [m for m in _of_type("AWS::Serverless::StateMachine").values()
                if "AthenaWorkGroup" in m["Properties"]["DefinitionSubstitutions"]]
    assert machines, "the retail pipeline has Athena steps"
    for machine in machines:
        substitutions = machine["Properties"]["DefinitionSubstitutions"]
        assert substitutions["AthenaWorkGroup"] == {"Ref": "AthenaWorkGroup"}
        statements = machine["Properties"]["Policies"][1]["Statement"]
        run = next(s for s in statements if isinstance(s, dict) and s.get("Sid") == "RunAthenaSteps")
        assert run["Resource"]["Fn::Sub"].endswith(":workgroup/${AthenaWorkGroup}")


def test_lake_formation_mode_is_off_by_default_and_never_replaces_the_accounts_admins() -> None:
    assert TEMPLATE["Parameters"]["LakeFormationMode"]["Default"] == "DISABLED"
    assert not _of_type("AWS::LakeFormation::DataLakeSettings")
    for lid, resource in {**_of_type("AWS::LakeFormation::PrincipalPermissions"),
                          **_of_type("AWS::LakeFormation::Resource")}.items():
        condition = resource.get("Condition", "")
        assert condition == "UseLakeFormation" or condition.startswith("Grant"), lid
    locations = {r["Properties"]["ResourceArn"]["Fn::GetAtt"][0] for r in _of_type("AWS::LakeFormation::Resource")
                 .values()}
    assert locations == {"RawBucket", "TrustedBucket", "CuratedBucket", "PresentationBucket"}


def test_table_optimizers_may_maintain_every_zone_of_iceberg_tables_and_have_them_in_lake_formation_mode() -> None:
    """Issue 15: Glue's table optimizers run as TableOptimizerRole on the trusted and curated tables (enabled by the
    Glue job) and on the presentation tables (enabled by the state machines' Athena table steps)."""
    role = RESOURCES["TableOptimizerRole"]["Properties"]
    assert "presentation" in role["Description"]
    statements = {s["Sid"]: s for s in role["Policies"][0]["PolicyDocument"]["Statement"] if "Sid" in s}
    zones = ("Trusted", "Curated", "Presentation")
    assert statements["ListZones"]["Resource"] == [{"Fn::GetAtt": [f"{z}Bucket", "Arn"]} for z in zones]
    assert statements["RewriteAndExpireFiles"]["Resource"] == [{"Fn::Sub": f"${{{z}Bucket.Arn}}/*"} for z in zones]
    tables = [r["Fn::Sub"] for r in statements["CommitTables"]["Resource"]]
    for zone in zones:
        assert any(t.endswith(f":database/${{{zone}Database}}") for t in tables), zone
        assert any(t.endswith(f":table/${{{zone}Database}}/*") for t in tables), zone
    job = RESOURCES["PipelineStepJob"]["Properties"]["DefaultArguments"]
    assert job["--optimizer-role-arn"] == {"Fn::GetAtt": ["TableOptimizerRole", "Arn"]}
    for machine in _of_type("AWS::Serverless::StateMachine").values():
        substitutions = machine["Properties"]["DefinitionSubstitutions"]
        if "TableOptimizerRoleArn" in substitutions:  # the job's settings, from the same parameters
            assert substitutions["TableOptimizerRoleArn"] == job["--optimizer-role-arn"]
            for name, argument in (("SnapshotRetentionDays", "--snapshot-retention-days"),
                                   ("SnapshotsToRetain", "--snapshots-to-retain"),
                                   ("OrphanFileRetentionDays", "--orphan-file-retention-days")):
                assert substitutions[name] == job[argument] == {"Ref": name}
            assert substitutions["AccountId"] == {"Ref": "AWS::AccountId"} == job["--catalog-id"]
    grants = {r["Properties"]["Resource"]["Table"]["DatabaseName"]["Ref"]: r for r in
              _of_type("AWS::LakeFormation::PrincipalPermissions").values()
              if r["Properties"]["Principal"] == {"DataLakePrincipalIdentifier": {"Fn::GetAtt": ["TableOptimizerRole",
                                                                                               "Arn"]}}}
    assert set(grants) == {f"{z}Database" for z in zones}
    for grant in grants.values():
        assert grant["Condition"] == "UseLakeFormation"
        assert grant["Properties"]["Resource"]["Table"]["TableWildcard"] == {}
        assert grant["Properties"]["Permissions"] == ["ALTER", "INSERT", "DELETE", "SELECT", "DESCRIBE"]


def test_each_pipeline_yaml_grant_is_one_table_for_one_principal_parameter() -> None:
    """Issue 16: an ML principal may SELECT presentation.ratings_for_ml and nothing else."""
    lake = Lake.load(PIPELINES)
    grants = [(principal, step) for _, step in lake.all_steps() for principal in step.grants]
    permissions = _of_type("AWS::LakeFormation::PrincipalPermissions")
    for principal, step in grants:
        resource = permissions[f"Grant{principal}{logical_id(step.name)}"]
        assert resource["Condition"] == f"Grant{principal}"
        assert TEMPLATE["Conditions"][f"Grant{principal}"] == {
            "Fn::And": [{"Condition": "UseLakeFormation"}, {"Condition": f"Has{principal}"}]}
        assert TEMPLATE["Parameters"][principal]["Default"] == ""
        properties = resource["Properties"]
        assert properties["Principal"] == {"DataLakePrincipalIdentifier": {"Ref": principal}}
        assert properties["Resource"] == {"Table": {"CatalogId": {"Ref": "AWS::AccountId"},
                                                    "DatabaseName": {"Ref": f"{step.zone.capitalize()}Database"},
                                                    "Name": step.name}}
        assert properties["Permissions"] == ["SELECT", "DESCRIBE"] and properties["PermissionsWithGrantOption"] == []
    granted = [r for r in permissions.values() if r["Properties"]["Principal"]["DataLakePrincipalIdentifier"]
               in [{"Ref": p} for p, _ in grants]]
    assert len(granted) == len(grants)  # each principal gets exactly the tables pipeline.yaml names


def test_convert_function_declares_every_variable_the_settings_read() -> None:
    settings = (REPO / "layers/lakehouse/lakehouse/settings.py").read_text()
    required = set(re.findall(r'_required\("([A-Z_]+)"\)', settings))
    declared = set(RESOURCES["ConvertFunction"]["Properties"]["Environment"]["Variables"])
    declared |= set(TEMPLATE["Globals"]["Function"]["Environment"]["Variables"])
    assert required <= declared, f"not declared in template.yaml: {required - declared}"


def test_the_glue_jobs_python_modules_are_pinned_as_in_the_lock() -> None:
    """The job installs the library's packages itself (--additional-python-modules): the same versions as the
    tested environment."""
    pins = RESOURCES["PipelineStepJob"]["Properties"]["DefaultArguments"]["--additional-python-modules"].split(",")
    lock = dict(line.split("==") for line in (REPO / "requirements-dev.txt").read_text().splitlines() if "==" in line)
    for pin in pins:
        name, version = pin.split("==")
        assert lock.get(name) == version or lock.get(name.replace("-", "_")) == version, pin


def test_each_data_set_with_a_freshness_has_one_alarm_naming_it() -> None:
    """Issue 17: a data set that has landed nothing for its contract's freshness raises one alert, naming it."""
    lake = Lake.load(PIPELINES)
    fresh = [c for c in lake.contracts.contracts if c.freshness]
    assert fresh, "the examples declare freshness on their streaming data sets"
    alarms = {lid: r["Properties"] for lid, r in _of_type("AWS::CloudWatch::Alarm").items() if lid.startswith(
        "Freshness")}
    assert len(alarms) == len(fresh)
    for contract in fresh:
        alarm = alarms[f"Freshness{logical_id(contract.pipeline)}{logical_id(contract.dataset)}Alarm"]
        assert {"Name": "dataset", "Value": contract.qualified_name} in alarm["Dimensions"]
        assert alarm["MetricName"] == "ObjectsLanded" and alarm["TreatMissingData"] == "breaching"
        assert alarm["Period"] * alarm["EvaluationPeriods"] == contract.freshness_seconds
        assert contract.qualified_name in alarm["AlarmDescription"]
        assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-")  # the topic policy's alarm grant


def test_the_dashboard_shows_every_data_set_the_queue_the_pipelines_and_athena() -> None:
    import json

    body = json.loads(RESOURCES["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
    text = json.dumps(body)
    lake = Lake.load(PIPELINES)
    for contract in lake.contracts.contracts:
        assert f'"dataset", "{contract.qualified_name}"' in text
    for metric in ("FilesConverted", "FilesQuarantined", "FilesIgnored", "RowsWritten", "ConversionDuration",
                   "ApproximateNumberOfMessagesVisible", "ExecutionsFailed", "ProcessedBytes"):
        assert f'"{metric}"' in text, metric
    for pipeline in (p for p in lake.pipelines.values() if p.steps):
        assert f"${{{logical_id(pipeline.name)}StateMachine}}" in text
    assert any(w["type"] == "log" and "TaskFailed" in w["properties"]["query"] for w in body["widgets"])


def test_samconfig_overrides_only_parameters_the_template_declares() -> None:
    """`sam deploy` refuses a parameter override the template does not declare, so `make deploy` would fail."""
    import shlex
    import tomllib

    config = tomllib.loads((REPO / "samconfig.toml").read_text(encoding="utf-8"))
    checked = 0
    for env, commands in config.items():
        if not isinstance(commands, dict):
            continue
        overrides = commands.get("deploy", {}).get("parameters", {}).get("parameter_overrides", "")
        for pair in shlex.split(overrides):
            name, _, value = pair.partition("=")
            assert name in TEMPLATE["Parameters"], f"samconfig.toml [{env}]: {name} is no template parameter"
            allowed = TEMPLATE["Parameters"][name].get("AllowedValues")
            assert allowed is None or value in allowed, f"samconfig.toml [{env}]: {name}={value} not in {allowed}"
            checked += 1
    assert checked >= 4
