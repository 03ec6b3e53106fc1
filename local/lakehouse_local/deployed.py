"""Commands against a deployed stack (`--stack NAME`): its outputs from CloudFormation, queries through awswrangler.

awswrangler (pandas, numpy) is for these operator commands only; ConvertFunction never imports it.
"""

from __future__ import annotations

from typing import Any

ZONE_OUTPUTS = {"raw": "RawDatabaseName", "trusted": "TrustedDatabaseName", "curated": "CuratedDatabaseName",
                "presentation": "PresentationDatabaseName"}


def stack_outputs(stack: str, session: Any = None) -> dict[str, str]:
    import boto3

    cloudformation = (session or boto3.session.Session()).client("cloudformation")
    try:
        described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except cloudformation.exceptions.ClientError as exc:
        raise LookupError(f"stack {stack!r} not found: {exc}") from exc
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def athena_sql(sql: str, databases: dict[str, str]) -> str:
    """``sql`` with zone names (raw., trusted., ...) replaced by the stack's Glue databases."""
    from lakehouse.sql import referenced_tables, rename_tables

    renames = {t: (databases[t.zone], t.name) for t in referenced_tables(sql, "athena") if t.zone in databases}
    return rename_tables(sql, "athena", renames) if renames else sql


def athena_rows(stack: str, sql: str, *, region: str | None = None, session: Any = None) -> tuple[list[dict], list[str]]:
    """Runs ``sql`` in the stack's Athena workgroup with awswrangler; returns (rows, columns)."""
    import awswrangler as wr
    import boto3

    session = session or boto3.session.Session(region_name=region)
    outputs = stack_outputs(stack, session)
    databases = {zone: outputs[key] for zone, key in ZONE_OUTPUTS.items() if key in outputs}
    try:
        frame = wr.athena.read_sql_query(
            athena_sql(sql, databases),
            database=databases["presentation"],
            workgroup=outputs["AthenaWorkGroupName"],
            ctas_approach=False,  # a plain query: results stay in the workgroup's (encrypted) output location
            boto3_session=session,
        )
    except wr.exceptions.QueryFailed as exc:  # Athena's reason, e.g. TABLE_NOT_FOUND or a syntax error
        from .query import QueryError

        raise QueryError(f"Athena: {exc}") from exc
    rows = [{k: (None if _missing(v) else v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return rows, [str(c) for c in frame.columns]


def _missing(value: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, (list, dict)) else False
    except (TypeError, ValueError):
        return False
