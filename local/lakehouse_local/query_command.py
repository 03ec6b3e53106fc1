"""`lakehouse query [--json] "SQL"`: Athena SQL against the local lake, or a deployed stack with --stack."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any

ZONES = ("raw", "trusted", "curated", "presentation")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def table_text(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """Rows as an aligned text table, for people."""
    cells = [[("NULL" if row.get(c) is None else str(_jsonable(row.get(c)))) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def local_database(zone: str) -> str:
    """The local stack's Glue database of a zone: <LakeName>_<Stage>_<zone> with the template's LakeName default."""
    from samtranslator.yaml_helper import yaml_parse

    from .stack import LOCAL_PARAMETERS, TEMPLATE

    lake_name = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))["Parameters"]["LakeName"]["Default"]
    return f"{lake_name}_{LOCAL_PARAMETERS['Stage']}_{zone}"


def local_rows(sql: str, endpoint: str) -> tuple[list[dict[str, Any]], list[str]]:
    import boto3

    from .query import LocalQuery
    from .server import REGION

    session: Any = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                         aws_secret_access_key="testing")

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=endpoint)

    databases = {zone: local_database(zone) for zone in ZONES}
    table = LocalQuery(client, endpoint, databases).run(sql)
    return table.to_pylist(), list(table.column_names)


def run(args: argparse.Namespace) -> int:
    from .query import QueryError

    try:
        if args.stack:
            from .deployed import athena_rows

            rows, columns = athena_rows(args.stack, args.sql, region=args.region)
        elif args.endpoint:
            rows, columns = local_rows(args.sql, args.endpoint)
        else:
            from .console import quiet
            from .target import local_endpoint

            # a running `lakehouse up`, else the lake kept in .lakehouse/ started here for the query (no poller)
            with quiet("query", False, out=sys.stderr, announce=False) as (say, log), \
                    local_endpoint(say, log) as endpoint:
                rows, columns = local_rows(args.sql, endpoint)
    except (QueryError, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([_jsonable(r) for r in rows], indent=2, ensure_ascii=False))
    else:
        print(table_text(rows, columns))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    query = sub.add_parser(
        "query",
        help="run Athena SQL on the lake: zone names are schemas (raw., trusted., curated., presentation.)",
        description="Run one SQL statement in Athena's dialect. Tables are zone.table (a bare name found in one "
        "zone works too); Iceberg tables support FOR VERSION AS OF <snapshot id>, FOR TIMESTAMP AS OF <timestamp> "
        'and the metadata tables "table$snapshots" and "table$history". Locally it runs on DuckDB over the lake '
        "in .lakehouse/ (a running `lakehouse up`, or what the last `lakehouse demo`/`up` left); with --stack, on "
        "Athena in the stack's workgroup through awswrangler. Exit 1 on an error in the query.",
    )
    query.add_argument("sql", help="the statement, e.g. \"SELECT * FROM trusted.customer_trusted LIMIT 5\"")
    query.add_argument("--json", action="store_true", help="print a JSON array of row objects")
    query.add_argument("--stack", help="a deployed stack's name: run on its Athena workgroup")
    query.add_argument("--region", help="AWS region of --stack (default: the SDK's)")
    query.add_argument("--endpoint", help=argparse.SUPPRESS)  # a local AWS endpoint (tests)
    query.set_defaults(func=run)
