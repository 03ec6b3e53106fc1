"""`lakehouse query --stack NAME`: a deployed stack in moto, queried through awswrangler with boto3's default chain.

moto has no Athena engine: it answers GetQueryResults with what the test registers and writes no result file. The
test registers the result set and, when awswrangler asks GetQueryExecution, writes the CSV that Athena would write to
the execution's output location (awswrangler reads that file). Everything else is ours or awswrangler's: the stack's
outputs from CloudFormation, zone names rewritten to the stack's databases, the workgroup, nulls, the JSON output.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from typing import Any

import boto3
import pytest
import requests
from lakehouse_local.cli import main
from moto import mock_aws

STACK = "lakehouse-prod"
WORKGROUP = "lakehouse-prod"
DATABASES = {"RawDatabaseName": "lakehouse_prod_raw", "CuratedDatabaseName": "lakehouse_prod_curated",
             "PresentationDatabaseName": "lakehouse_prod_presentation"}
ROWS = [("Mini Wheels Co.", "2004", "3"), ("Land of Toys Inc.", "2005", "")]  # an empty CSV field is Athena's NULL


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        template = {
            "Resources": {"Results": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "prod-athena-results"}}},
            "Outputs": {**{key: {"Value": name} for key, name in DATABASES.items()},
                        "AthenaWorkGroupName": {"Value": WORKGROUP}},
        }
        boto3.client("cloudformation").create_stack(StackName=STACK, TemplateBody=json.dumps(template))
        boto3.client("athena").create_work_group(Name=WORKGROUP, Configuration={
            "ResultConfiguration": {"OutputLocation": "s3://prod-athena-results/queries/"},
            "EnforceWorkGroupConfiguration": True})
        columns = [("customername", "varchar"), ("year", "integer"), ("ratings", "bigint")]
        header = {"Data": [{"VarCharValue": name} for name, _ in columns]}
        requests.post("http://motoapi.amazonaws.com/moto-api/static/athena/query-results", json={
            "account_id": "123456789012", "region": "eu-west-1",
            "results": [{
                "rows": [header, *({"Data": [{"VarCharValue": v} for v in row]} for row in ROWS)],
                "column_info": [{"CatalogName": "awsdatacatalog", "SchemaName": "", "TableName": "", "Name": name,
                                 "Label": name, "Type": kind, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN",
                                 "CaseSensitive": False} for name, kind in columns],
            }],
        }, timeout=5)
        started: list[dict[str, Any]] = []

        def write_result_file(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
            """What Athena does when a query succeeds: the result CSV at the execution's output location."""
            execution = parsed.get("QueryExecution", {})
            location = execution.get("ResultConfiguration", {}).get("OutputLocation", "")
            if execution.get("Status", {}).get("State") == "SUCCEEDED" and location.endswith(".csv"):
                bucket, key = location.removeprefix("s3://").split("/", 1)
                lines = ['"customername","year","ratings"'] + [",".join(f'"{v}"' if v else "" for v in row)
                                                                for row in ROWS]
                boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())

        def record_request(params: dict[str, Any], **_: Any) -> None:
            started.append(params)

        # every boto3 session awswrangler makes shares botocore's event system through the default session's loader
        original_session = boto3.session.Session

        def session(*args: Any, **kwargs: Any) -> Any:
            made = original_session(*args, **kwargs)
            made.events.register("after-call.athena.GetQueryExecution", write_result_file)
            made.events.register("provide-client-params.athena.StartQueryExecution", record_request)
            return made

        monkeypatch.setattr(boto3.session, "Session", session)
        yield started


def test_query_runs_in_the_stacks_workgroup_on_its_databases(deployed: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    sql = ("SELECT c.customername, year, ratings FROM curated.customers c "
           "JOIN presentation.sales_report r ON r.customernumber = c.customernumber")
    with redirect_stdout(out):
        code = main(["query", "--stack", STACK, "--json", sql])
    assert code == 0, out.getvalue()
    assert json.loads(out.getvalue()) == [
        {"customername": "Mini Wheels Co.", "year": 2004, "ratings": 3},
        {"customername": "Land of Toys Inc.", "year": 2005, "ratings": None},
    ]
    (request,) = deployed
    assert request["WorkGroup"] == WORKGROUP
    assert request["QueryExecutionContext"]["Database"] == "lakehouse_prod_presentation"
    sql = request["QueryString"]
    assert "lakehouse_prod_curated.customers" in sql and "lakehouse_prod_presentation.sales_report" in sql
    assert "curated.customers" not in sql.replace("lakehouse_prod_curated.customers", "")


def test_a_failed_query_is_reported_with_athenas_reason(deployed: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    reason = "TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog.lakehouse_prod_curated.nope' does not exist"

    def fail(parsed: dict[str, Any], **_: Any) -> None:
        parsed["QueryExecution"]["Status"].update(State="FAILED", StateChangeReason=reason)

    original_session = boto3.session.Session

    def session(*args: Any, **kwargs: Any) -> Any:
        made = original_session(*args, **kwargs)
        made.events.register("after-call.athena.GetQueryExecution", fail)
        return made

    monkeypatch.setattr(boto3.session, "Session", session)
    assert main(["query", "--stack", STACK, "SELECT * FROM curated.nope"]) == 1
    assert capsys.readouterr().err.strip() == f"error: Athena: {reason}"


def test_an_unknown_stack_is_named(deployed: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--stack", "no-such-stack", "SELECT 1"]) == 1
    assert "stack 'no-such-stack' not found" in capsys.readouterr().err
