"""Athena's SQL on the local lake: the stand-in for Athena behind `lakehouse query` and the local Athena steps.

Emulation only. moto's Athena accepts queries but never runs them, so locally a query runs in DuckDB:

1. sqlglot parses the text in Athena's dialect (Trino) and finds every table it reads: ``zone.table`` (``raw``,
   ``trusted``, ``curated``, ``presentation``), the stack's own database names, or a bare name found in exactly one
   zone; time travel (``FOR VERSION AS OF <snapshot id>``, ``FOR TIMESTAMP AS OF <timestamp>``) and Iceberg's
   metadata tables (``"orders$snapshots"``, ``"orders$history"``, ``$files``, ``$partitions``, ``$manifests``).
2. Each table is read from the local stack, as Athena would find it through the Glue Data Catalog: an Iceberg table
   with pyiceberg (its GlueCatalog against the local Glue, its files from the local S3) at the snapshot asked for,
   a raw (Hive, Parquet) table with pyarrow's dataset over its S3 location, a view by running its own SQL.
3. The statement, with each table replaced by its data, is translated to DuckDB's dialect and run there.

Tables are read whole into memory: a local lake is small. What differs from Athena is listed in docs/local.md.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from lakehouse.sql import table_nodes

ZONES = ("raw", "trusted", "curated", "presentation")
METADATA_TABLES = ("snapshots", "history", "files", "partitions", "manifests", "refs")


class QueryError(ValueError):
    """The query cannot run locally; the message says why (unknown table, ambiguous name, bad SQL...)."""


@dataclass
class LocalQuery:
    """Runs Athena SQL against one local stack. ``client(service)`` gives boto3 clients bound to it."""

    client: Any  # Callable[[str], boto3 client]
    endpoint: str
    databases: dict[str, str]  # zone -> Glue database
    region: str = "us-east-1"
    _catalog: Any = field(default=None, repr=False)

    # ---------------------------------------------------------------- catalog
    def catalog(self) -> Any:
        if self._catalog is None:
            from pyiceberg.catalog.glue import GlueCatalog

            self._catalog = GlueCatalog("glue", client=self.client("glue"), **{
                "py-io-impl": "lakehouse_local.iceberg_io.BotoPutFileIO",
                "s3.endpoint": self.endpoint, "s3.region": self.region,
                "s3.access-key-id": "testing", "s3.secret-access-key": "testing",
            })
        return self._catalog

    def _glue_table(self, database: str, name: str) -> dict[str, Any] | None:
        glue = self.client("glue")
        try:
            return dict(glue.get_table(DatabaseName=database, Name=name)["Table"])
        except glue.exceptions.EntityNotFoundException:
            return None

    def resolve(self, zone_or_database: str, name: str) -> tuple[str, dict[str, Any]]:
        """(database, Glue table) of a reference as written; raises QueryError naming the candidates."""
        if zone_or_database:
            database = self.databases.get(zone_or_database.lower(), zone_or_database)
            table = self._glue_table(database, name)
            if table is None:
                raise QueryError(f"table {zone_or_database}.{name} does not exist (database {database})")
            return database, table
        found = [(db, t) for zone, db in self.databases.items() if (t := self._glue_table(db, name)) is not None]
        if not found:
            raise QueryError(f"table {name!r} is in no zone ({', '.join(self.databases)}); write zone.{name}")
        if len(found) > 1:
            zones = [z for z, db in self.databases.items() if db in {d for d, _ in found}]
            raise QueryError(f"table {name!r} is in several zones ({', '.join(zones)}): write zone.{name}")
        return found[0]

    # ---------------------------------------------------------------- reading
    def read(self, database: str, table: dict[str, Any], *, snapshot: int | None = None,
             as_of: datetime | None = None, metadata: str = "") -> Any:
        parameters = table.get("Parameters", {})
        if table.get("TableType") == "VIRTUAL_VIEW":
            return self.run(_view_sql(table))
        if parameters.get("table_type", "").upper() == "ICEBERG":
            iceberg = self.catalog().load_table(f"{database}.{table['Name']}")
            if metadata:
                return getattr(iceberg.inspect, metadata)()
            if as_of is not None:
                found = iceberg.snapshot_as_of_timestamp(int(as_of.timestamp() * 1000))
                if found is None:
                    raise QueryError(f"{database}.{table['Name']} has no snapshot at or before {as_of.isoformat()}")
                snapshot = found.snapshot_id
            if snapshot is not None and iceberg.snapshot_by_id(snapshot) is None:
                raise QueryError(f"{database}.{table['Name']} has no snapshot {snapshot}")
            return iceberg.scan(snapshot_id=snapshot).to_arrow()
        if metadata or snapshot is not None or as_of is not None:
            raise QueryError(f"{database}.{table['Name']} is not an Iceberg table: no time travel or ${metadata}")
        return self._hive(table)

    def _hive(self, table: dict[str, Any]) -> Any:
        import pyarrow as pa
        import pyarrow.dataset as ds
        from pyarrow import fs

        location = table["StorageDescriptor"]["Location"].removeprefix("s3://").rstrip("/")
        s3 = fs.S3FileSystem(endpoint_override=self.endpoint, scheme="http", region=self.region,
                             access_key="testing", secret_key="testing")
        keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        partitioning = ds.partitioning(pa.schema([(k, pa.string()) for k in keys]), flavor="hive")
        try:
            dataset = ds.dataset(location, filesystem=s3, format="parquet", partitioning=partitioning)
        except FileNotFoundError:
            return None
        fragments = list(dataset.get_fragments())
        if not fragments:
            return None
        # files written before a contract gained a column lack it: read every file with the union of their schemas
        schema = pa.unify_schemas([f.physical_schema for f in fragments] + [partitioning.schema])
        return ds.dataset(location, filesystem=s3, format="parquet", partitioning=partitioning,
                          schema=schema).to_table()

    # ---------------------------------------------------------------- running
    def run(self, sql: str) -> Any:
        """The statement's result as an Arrow table."""
        import duckdb

        connection, tree = self.bind(self.parse(sql))
        try:
            return connection.execute(tree.sql(dialect="duckdb")).fetch_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(str(exc).splitlines()[0]) from exc
        finally:
            connection.close()

    @staticmethod
    def parse(sql: str) -> Any:
        import sqlglot
        from sqlglot.errors import SqlglotError

        try:
            return sqlglot.parse_one(sql, read="athena")
        except SqlglotError as exc:  # ParseError, and TokenError (an unterminated string)
            raise QueryError(f"not valid Athena SQL: {str(exc).splitlines()[0]}") from exc

    def bind(self, tree: Any, connection: Any = None, keep: set[Any] | None = None) -> tuple[Any, Any]:
        """A DuckDB connection holding every table ``tree`` reads (except the nodes in ``keep``), and the tree with
        each such table replaced by its name in that connection."""
        import duckdb
        from sqlglot import exp

        connection = connection or duckdb.connect()
        for number, node in enumerate(list(table_nodes(tree))):
            if keep and id(node) in keep:
                continue
            base, _, suffix = node.name.partition("$")
            database, table = self.resolve(node.db, base)
            snapshot, as_of = _time_travel(node)
            if suffix and suffix not in METADATA_TABLES:
                raise QueryError(f"unknown metadata table ${suffix} (known: {', '.join(METADATA_TABLES)})")
            data = self.read(database, table, snapshot=snapshot, as_of=as_of, metadata=suffix)
            view = f"__t{number}"
            if data is None:  # a raw table with no file yet: an empty table of its catalog columns
                columns = ", ".join(f'NULL::VARCHAR AS "{c["Name"]}"' for c in
                                    table["StorageDescriptor"]["Columns"] + table.get("PartitionKeys", []))
                connection.execute(f"CREATE VIEW {view} AS SELECT {columns} WHERE false")
            else:
                connection.register(view, data)
            replacement = exp.to_table(view)
            replacement.set("alias", node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(base)))
            node.replace(replacement)
        return connection, tree


def _time_travel(node: Any) -> tuple[int | None, datetime | None]:
    version = node.args.get("version")
    if version is None:
        return None, None
    value = version.expression
    text = value.name if hasattr(value, "name") and value.name else value.sql()
    if version.this.upper() == "VERSION":
        return int(text), None
    moment = datetime.fromisoformat(text.removeprefix("TIMESTAMP").strip().strip("'").replace(" UTC", "+00:00"))
    return None, moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _view_sql(table: dict[str, Any]) -> str:
    """The SQL of an Athena (Presto) view: ``/* Presto View: <base64 JSON> */`` holds ``originalSql``."""
    text = table.get("ViewOriginalText", "")
    marker = "/* Presto View: "
    if text.startswith(marker):
        return str(json.loads(base64.b64decode(text[len(marker):].removesuffix(" */")))["originalSql"])
    return str(table.get("ViewExpandedText") or text)
