"""Athena, locally: a query execution runs its statement on the local query engine (DuckDB) at once.

Emulation only. moto's Athena records query executions and never runs them. This module patches moto's Athena
backend (in this process, where the moto server runs) so that ``StartQueryExecution`` runs the statement, and the
execution then reports SUCCEEDED, or FAILED with a ``StateChangeReason``, as Athena does. The statements the
pipelines' presentation steps send (lakehouse/athena.py) are handled:

- ``CREATE OR REPLACE VIEW``: a Glue table of type VIRTUAL_VIEW holding the view's SQL the way Athena stores it;
- ``CREATE TABLE ... WITH (table_type = 'ICEBERG', ...) AS SELECT``: the SELECT runs in DuckDB, and pyiceberg
  creates the Iceberg table in the Glue catalog and writes the rows in one commit;
- ``MERGE INTO`` an Iceberg table: DuckDB runs the MERGE on a copy of the table's rows, and pyiceberg replaces the
  table's rows with the result in one commit (an overwrite snapshot), which is what a single MERGE commit leaves.

Anything else fails with a message saying so. Differences from Athena are listed in docs/local.md.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.athena import models as athena_models
from moto.athena import responses as athena_responses

from .patching import ClassPatches, emulated_status
from .query import LocalQuery, QueryError
from .server import LocalAws

# DuckDB's result types as Presto/Athena names them in a view's stored definition.
_PRESTO_TYPES = {"int8": "tinyint", "int16": "smallint", "int32": "integer", "int64": "bigint", "float": "real",
                 "double": "double", "bool": "boolean", "string": "varchar", "large_string": "varchar",
                 "date32[day]": "date"}


def _presto_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    return _PRESTO_TYPES.get(str(arrow_type), "varchar")


@dataclass(frozen=True)
class AthenaEvent:
    """What the runner reports to the progress output: one statement of a presentation step."""

    table: str  # the view or table the statement writes ("" when the statement could not be read)
    statement: str  # view | create table | merge | the statement's first word
    state: str  # SUCCEEDED | FAILED
    rows: int | None = None  # the table's rows after the statement (not counted for views)
    error: str | None = None


class AthenaRunner:
    def __init__(self, aws: LocalAws, databases: dict[str, str],
                 on_event: Callable[[AthenaEvent], None] | None = None) -> None:
        self.aws = aws
        self.engine = LocalQuery(aws.client, aws.endpoint, databases, region=aws.region)
        self.on_event = on_event or (lambda event: None)
        self._patches = ClassPatches()

    # ---------------------------------------------------------------- moto patches
    def install(self) -> None:
        runner = self
        original_start = athena_models.AthenaBackend.start_query_execution
        original_response = athena_responses.AthenaResponse.get_query_execution

        def start_query_execution(backend: Any, query: str, context: Any, *args: Any, **kwargs: Any) -> str:
            execution_id = original_start(backend, query, context, *args, **kwargs)
            execution = backend.executions[execution_id]
            database = context.get("Database", "") if isinstance(context, dict) else ""
            try:
                event = runner.execute(query, database)
                execution.emulated_state, execution.error_message = "SUCCEEDED", None
            except Exception as exc:  # noqa: BLE001 - the statement's failure is the query's failure
                execution.emulated_state, execution.error_message = "FAILED", f"{type(exc).__name__}: {exc}"
                event = AthenaEvent(runner.written_table(query), "", "FAILED", error=execution.error_message)
            runner.on_event(event)
            return str(execution_id)

        def get_query_execution(response: Any) -> str:
            body = json.loads(original_response(response))
            execution = response.athena_backend.executions[body["QueryExecution"]["QueryExecutionId"]]
            if getattr(execution, "error_message", None):
                body["QueryExecution"]["Status"]["StateChangeReason"] = execution.error_message
            return json.dumps(body)

        status = athena_models.Execution.status  # ManagedState's property: moto's queued -> running -> succeeded
        self._patches.set(athena_models.AthenaBackend, "start_query_execution", start_query_execution)
        self._patches.set(athena_responses.AthenaResponse, "get_query_execution", get_query_execution)
        self._patches.set(athena_models.Execution, "status", emulated_status(status))

    def uninstall(self) -> None:
        self._patches.undo()

    # ---------------------------------------------------------------- statements
    def execute(self, query: str, database: str) -> AthenaEvent:
        from sqlglot import exp

        tree = self.engine.parse(query)
        if isinstance(tree, exp.Create) and tree.args.get("kind", "").upper() == "VIEW":
            self._create_view(tree, database)
            return AthenaEvent(tree.this.name, "view", "SUCCEEDED")
        if isinstance(tree, exp.Create) and tree.args.get("kind", "").upper() == "TABLE" and tree.expression:
            return AthenaEvent(tree.this.name, "create table", "SUCCEEDED", rows=self._create_table(tree, database))
        if isinstance(tree, exp.Merge):
            name = tree.this.name  # read first: the merge replaces the target node
            return AthenaEvent(name, "merge", "SUCCEEDED", rows=self._merge(tree, database))
        raise QueryError(f"the local Athena runs the statements of presentation steps (CREATE VIEW, CREATE "
                             f"TABLE AS, MERGE INTO); not: {query.strip().split()[0].upper()} ...")

    def written_table(self, query: str) -> str:
        """The table or view a statement writes, for a failure's progress line ("" when it cannot be read)."""
        from sqlglot import exp

        try:
            tree = self.engine.parse(query)
        except QueryError:  # the statement's own failure is what gets reported
            return ""
        target = tree.this.find(exp.Table) if isinstance(tree, exp.Create | exp.Merge) else None
        return target.name if target is not None else ""

    def _target(self, table: Any, database: str) -> tuple[str, str]:
        return (table.db or database), table.name

    def _create_view(self, tree: Any, database: str) -> None:
        db, name = self._target(tree.this, database)
        select = tree.expression.sql(dialect="athena")
        schema = self.engine.run(f"SELECT * FROM ({select}) AS v LIMIT 0").schema
        # Athena keeps column names in lower case (the Glue catalog's names are case-insensitive)
        definition = {"originalSql": select, "catalog": "awsdatacatalog", "schema": db,
                      "columns": [{"name": f.name.lower(), "type": _presto_type(f.type)} for f in schema]}
        table_input = {
            "Name": name,
            "TableType": "VIRTUAL_VIEW",
            "Parameters": {"presto_view": "true", "comment": "Presto View"},
            "ViewOriginalText": "/* Presto View: " + base64.b64encode(json.dumps(definition).encode()).decode()
                                + " */",
            "ViewExpandedText": "/* Presto View */",
            "StorageDescriptor": {"Columns": [{"Name": f.name.lower(), "Type": _presto_type(f.type)} for f in schema]},
        }
        glue = self.aws.client("glue")
        try:
            glue.update_table(DatabaseName=db, TableInput=table_input)
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=db, TableInput=table_input)

    def _create_table(self, tree: Any, database: str) -> int:
        from sqlglot import exp

        db, name = self._target(tree.this, database)
        properties = {p.name.lower(): p.args.get("value") for p in tree.find_all(exp.Property)
                      if type(p) is exp.Property}
        table_type = properties.get("table_type")
        if table_type is None or str(table_type.name).upper() != "ICEBERG":
            raise QueryError("the local Athena creates Iceberg tables only (WITH (table_type = 'ICEBERG'))")
        location_property = tree.find(exp.LocationProperty)
        location = location_property.name if location_property is not None else None
        rows = self.engine.run(tree.expression.sql(dialect="athena"))
        rows = rows.rename_columns([c.lower() for c in rows.column_names])  # Athena writes lower-case names
        catalog = self.engine.catalog()
        if catalog.table_exists(f"{db}.{name}"):
            raise QueryError(f"TABLE_ALREADY_EXISTS: {db}.{name}")
        table = catalog.create_table(f"{db}.{name}", schema=rows.schema, location=location,
                                     properties={"format-version": "2"})
        partitioning = properties.get("partitioning")
        if partitioning is not None:
            from pyiceberg.transforms import DayTransform, HourTransform, MonthTransform, YearTransform

            transforms: dict[str, Any] = {"year": YearTransform(), "month": MonthTransform(), "day": DayTransform(),
                          "hour": HourTransform()}
            with table.update_spec() as spec:
                for field in partitioning.expressions:
                    text = field.name.strip()
                    kind, _, column = text.partition("(")
                    if column and kind.lower() in transforms:
                        spec.add_field(column.rstrip(")").strip(), transforms[kind.lower()], f"{column[:-1]}_{kind}")
                    elif not column:
                        spec.add_identity(text)
                    else:
                        raise QueryError(f"the local Athena partitions by columns and year/month/day/hour, not {text}")
        table.append(rows)
        return rows.num_rows

    def _merge(self, tree: Any, database: str) -> int:
        import duckdb
        from sqlglot import exp

        target = tree.this
        db, name = self._target(target, database)
        iceberg = self.engine.catalog().load_table(f"{db}.{name}")
        current = iceberg.scan().to_arrow()
        connection = duckdb.connect()
        try:
            connection.register("__current", current)
            connection.execute("CREATE TABLE __target AS SELECT * FROM __current")
            replacement = exp.to_table("__target")
            replacement.set("alias", target.args.get("alias"))
            target.replace(replacement)
            # other references to the target (the rows to delete) read the table as it was, like the MERGE's own
            for node in tree.find_all(exp.Table):
                if node.name == name and (node.db or database) == db:
                    copy = exp.to_table("__current")
                    copy.set("alias", node.args.get("alias"))
                    node.replace(copy)
            keep = {id(n) for n in tree.find_all(exp.Table) if n.name in ("__target", "__current")}
            connection, bound = self.engine.bind(tree, connection, keep)
            connection.execute(bound.sql(dialect="duckdb"))
            result = connection.execute("SELECT * FROM __target").fetch_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0]) from exc
        finally:
            connection.close()
        iceberg.overwrite(result.cast(current.schema))
        return result.num_rows
