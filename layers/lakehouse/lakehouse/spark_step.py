"""One Glue step on Spark: read its sources, run its SQL, write its Iceberg table, check it, publish it.

The write is write-audit-publish, Iceberg's own quality-gate pattern: the step commits to a branch of its table
(``audit_<run id>``), the expectations read that branch, and only when they pass does ``main`` fast-forward to it.
Readers of ``main`` never see a half-written or failing result, and a failed run leaves ``main`` as it was.

Write modes: ``overwrite`` replaces every row, ``append`` adds the output, ``merge`` upserts it on ``keys``.
Incremental steps read only the raw files that became visible since their last published run: each raw source's
watermark is a file modification time kept with the target table (in the published snapshot's summary and in a
table property), so a failed run publishes nothing and its rerun reads the same files again.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .contracts import Contract
from .pipeline import SALT_VIEW, Lake, PipelineError, Source, Step
from .spark_checks import CheckResult, ExpectationFailed, evaluate, plan_schema, quote, simple_schema
from .sql import TableName, rename_tables
from .types import LINEAGE, TYPES

log = logging.getLogger("lakehouse.step")
CATALOG = "glue_catalog"  # the Iceberg catalog of the job's Spark session (the Glue Data Catalog)
WATERMARK = "lakehouse.watermark."  # + raw table name: table property and snapshot summary key
_MODIFIED = "_metadata.file_modification_time"


def session_of(spark: Any) -> Any:
    """A new session on ``spark``'s context with ``spark``'s catalog settings. Spark starts a new session from the
    options the first session was built with, so a catalog endpoint set later (a local run against its own local
    AWS) would be lost."""
    session = spark.newSession()
    for row in spark.sql("SET").collect():
        if row.key.startswith(f"spark.sql.catalog.{CATALOG}."):
            session.conf.set(row.key, row.value)
    return session


@dataclass(frozen=True)
class Deployment:
    """Where this stack keeps each zone: Glue databases, table roots, and the maintenance settings."""

    databases: dict[str, str]  # zone -> Glue database
    roots: dict[str, str]  # zone -> s3://bucket/ under which each table of the zone lives (<root><table>/)
    settle_seconds: int = 300  # raw files younger than this wait for the next run (uploads still finishing)

    def table(self, zone: str, name: str) -> str:
        return f"{CATALOG}.{self.databases[zone]}.{name}"

    def location(self, zone: str, name: str) -> str:
        return f"{self.roots[zone].rstrip('/')}/{name}"


@dataclass
class StepResult:
    pipeline: str
    step: str
    table: str = ""
    write: str = ""
    status: str = "SUCCEEDED"
    rows: int | None = None  # rows in the table after the step
    rows_written: int | None = None  # rows this run wrote (appended, merged or replaced with)
    rows_read: dict[str, int] = field(default_factory=dict)  # raw source -> rows read this run
    watermarks: dict[str, str] = field(default_factory=dict)  # raw source -> files up to this time are consumed
    snapshot_id: int | None = None
    schema_changes: list[str] = field(default_factory=list)
    expectations_passed: int = 0
    expectations_total: int = 0
    full_refresh: bool = False
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), default=str)


def raw_schema(contract: Contract) -> str:
    """The raw table as Spark reads it: the contract's columns, the lineage, then the partition keys (text, as the
    catalog registers them)."""
    columns = [f"{quote(c.name)} {TYPES[c.type].spark}" for c in contract.columns]
    columns += [f"{quote(c.name)} {c.spark}" for c in LINEAGE]
    columns += [f"{quote(p.name)} string" for p in contract.partitions]
    return ", ".join(columns)


class StepRun:
    """Runs one step of one pipeline against one deployment."""

    def __init__(self, spark: Any, lake: Lake, deployment: Deployment, *, pipeline: str, step: str, run_id: str,
                 glue: Any, full_refresh: bool = False, salt: Callable[[], str] | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.lake = lake
        self.deployment = deployment
        self.pipeline = lake.pipeline(pipeline)
        self.step: Step = self.pipeline.step(step)
        if self.step.engine != "glue":
            raise PipelineError(f"step {step!r} is an {self.step.engine} step; the Glue job runs glue steps only")
        # A session of its own (same SparkContext): temp views and settings of one step cannot leak into another.
        self.spark = session_of(spark)
        self.glue = glue
        self.full_refresh = full_refresh
        self.salt = salt
        self.branch = "audit_" + re.sub(r"[^A-Za-z0-9_]", "_", run_id)[-60:]
        self.target = deployment.table(self.step.zone, self.step.name)
        self.result = StepResult(pipeline, step, self.target, self.step.write, full_refresh=full_refresh,
                                 expectations_total=len(self.step.expectations))
        started = (now or (lambda: datetime.now(UTC)))()
        self.upper = started - timedelta(seconds=deployment.settle_seconds)
        for key, value in {"spark.sql.session.timeZone": "UTC"}.items():
            self.spark.conf.set(key, value)

    # ---------------------------------------------------------------- sources
    def _exists(self, table: str) -> bool:
        return bool(self.spark.catalog.tableExists(table))

    def _watermarks(self) -> dict[str, datetime]:
        """Each raw source's consumed-up-to time, from the table's published snapshots and its properties."""
        if self.full_refresh or not self.step.incremental or not self._exists(self.target):
            return {}
        found: dict[str, datetime] = {}

        def keep(key: str, value: str | None) -> None:
            if key.startswith(WATERMARK) and value:
                name, moment = key[len(WATERMARK):], datetime.fromisoformat(value)
                found[name] = max(found.get(name, moment), moment)

        for row in self.spark.sql(f"SHOW TBLPROPERTIES {self.target}").collect():
            keep(row["key"], row["value"])
        ancestors = self.spark.sql(
            f"SELECT s.summary FROM {self.target}.snapshots s JOIN {self.target}.history h "
            "ON s.snapshot_id = h.snapshot_id WHERE h.is_current_ancestor"
        ).collect()
        for row in ancestors:
            for key, value in (row["summary"] or {}).items():
                keep(key, value)
        return found

    def _raw(self, source: Source, watermarks: dict[str, datetime]) -> Any:
        from pyspark.sql import functions as F

        contract = source.table.contract
        assert contract is not None  # a raw table always comes from a contract
        schema = raw_schema(contract)
        try:
            location = self.glue.get_table(DatabaseName=self.deployment.databases["raw"], Name=contract.table)[
                "Table"]["StorageDescriptor"]["Location"]
        except self.glue.exceptions.EntityNotFoundException:
            location = None  # nothing has landed yet: an empty table, so the step runs and its expectations say so
        if location is None or not self._has_files(location):
            frame = self.spark.createDataFrame([], schema)
        else:
            frame = self.spark.read.schema(schema).option("basePath", location).parquet(location)
        if self.step.incremental:
            if location is not None and self._has_files(location):
                frame = frame.filter(F.col(_MODIFIED) <= F.lit(self.upper))
                since = watermarks.get(contract.table)
                if since is not None:
                    frame = frame.filter(F.col(_MODIFIED) > F.lit(since))
            self.result.watermarks[contract.table] = self.upper.isoformat()
        self.result.rows_read[contract.table] = frame.count()
        return frame

    def _has_files(self, uri: str) -> bool:
        """True when the folder holds a data file (not a hidden or marker file): Hadoop FileSystem, s3:// too."""
        jvm = self.spark._jvm
        path = jvm.org.apache.hadoop.fs.Path(uri)
        fs = path.getFileSystem(self.spark._jsc.hadoopConfiguration())
        if not fs.exists(path):
            return False
        files = fs.listFiles(path, True)
        while files.hasNext():
            if not files.next().getPath().getName().startswith(("_", ".")):
                return True
        return False

    def _register_sources(self) -> dict[TableName, tuple[str, ...]]:
        """One temp view per source table; returns the renames the SQL needs (qualified names -> views)."""
        watermarks = self._watermarks()
        renames: dict[TableName, tuple[str, ...]] = {}
        for source in self.lake.sources(self.pipeline.name, self.step.name):
            table = source.table
            if table.zone == "raw":
                frame = self._raw(source, watermarks)
            else:
                qualified = self.deployment.table(table.zone, table.name)
                if not self._exists(qualified):
                    raise PipelineError(
                        f"step {self.step.name!r} reads {table.ref}, which has no table yet: run step {table.name!r} "
                        f"of pipeline {table.pipeline!r} first"
                    )
                frame = self.spark.table(qualified)
            frame.createOrReplaceTempView(source.view)
            if source.written != TableName("", source.view):
                renames[source.written] = (source.view,)
        return renames

    def _sql(self, renames: dict[TableName, tuple[str, ...]]) -> str:
        sql = rename_tables(self.step.text, "spark", renames) if renames else self.step.text
        if re.search(rf"\b{SALT_VIEW}\b", sql, re.IGNORECASE):
            if self.salt is None:
                raise PipelineError(f"step {self.step.name!r} reads {SALT_VIEW} but the job has no salt parameter")
            from pyspark.sql.types import StringType, StructField, StructType

            schema = StructType([StructField("salt", StringType(), False)])
            self.spark.createDataFrame([(self.salt(),)], schema).createOrReplaceTempView(SALT_VIEW)
        return sql

    # ---------------------------------------------------------------- output
    def _check_output(self, output: Any) -> None:
        names = [c.lower() for c in output.columns]
        duplicates = sorted({c for c in names if names.count(c) > 1})
        if duplicates:
            raise PipelineError(f"step {self.step.name!r}: the SELECT names columns {duplicates} twice; alias them")
        for column in self.step.keys + [_partition_column(p) for p in self.step.partition_by]:
            if column.lower() not in names:
                raise PipelineError(f"step {self.step.name!r}: column {column!r} (keys/partition_by) is not in the "
                                    f"output {output.columns}")
        if self.step.write == "merge":
            from pyspark.sql import functions as F

            keys = [F.col(quote(k)) for k in self.step.keys]
            nulls = output.filter(" OR ".join(f"{quote(k)} IS NULL" for k in self.step.keys)).count()
            repeated = output.groupBy(*keys).count().filter(F.col("count") > 1).count()
            if nulls or repeated:
                raise PipelineError(
                    f"step {self.step.name!r} merges on {self.step.keys}, but its output has {nulls} rows with a "
                    f"null key and {repeated} keys on more than one row: make the SELECT return one row per key "
                    "(e.g. row_number() over the key, latest first)"
                )

    def _create(self, output: Any) -> None:
        columns = ", ".join(f"{quote(f.name)} {f.dataType.simpleString()}" for f in output.schema.fields)
        partitioned = f" PARTITIONED BY ({', '.join(self.step.partition_by)})" if self.step.partition_by else ""
        location = self.deployment.location(self.step.zone, self.step.name)
        properties = {
            "format-version": "2",
            "write.wap.enabled": "true",
            "lakehouse.pipeline": self.pipeline.name,
            "lakehouse.step": self.step.name,
        }
        props = ", ".join(f"'{k}'='{v}'" for k, v in properties.items())
        self.spark.sql(f"CREATE TABLE {self.target} ({columns}) USING iceberg{partitioned} "
                       f"LOCATION '{location}' TBLPROPERTIES ({props})")
        log.info("created %s at %s", self.target, location)

    def _evolve(self, output: Any) -> None:
        current = simple_schema(self.spark.table(self.target))
        plan = plan_schema(f"{self.step.zone}.{self.step.name}", current, simple_schema(output))
        for name, kind in plan.added:
            self.spark.sql(f"ALTER TABLE {self.target} ADD COLUMN {quote(name)} {kind}")
            self.result.schema_changes.append(f"added {name} {kind}")
        for name, old, new in plan.widened:
            self.spark.sql(f"ALTER TABLE {self.target} ALTER COLUMN {quote(name)} TYPE {new}")
            self.result.schema_changes.append(f"widened {name} {old} -> {new}")

    def _write(self, output: Any) -> None:
        """The output, committed to the audit branch (never to main)."""
        from pyspark.sql import functions as F

        snapshot_properties = {f"snapshot-property.{WATERMARK}{k}": v for k, v in self.result.watermarks.items()}
        mode = "overwrite" if self.full_refresh else self.step.write
        self.spark.conf.set("spark.wap.branch", self.branch)
        try:
            if mode == "merge":
                output.createOrReplaceTempView("__lakehouse_output")
                on = " AND ".join(f"t.{quote(k)} = s.{quote(k)}" for k in self.step.keys)
                self.spark.sql(f"MERGE INTO {self.target} t USING __lakehouse_output s ON {on} "
                               "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
            else:
                writer = output.writeTo(self.target)
                for key, value in snapshot_properties.items():
                    writer = writer.option(key, value)
                if mode == "append":
                    writer.append()
                else:
                    writer.overwrite(F.lit(True))
        finally:
            self.spark.conf.unset("spark.wap.branch")

    def _branch_exists(self) -> bool:
        refs = self.spark.sql(f"SELECT name FROM {self.target}.refs WHERE name = '{self.branch}'").collect()
        return bool(refs)

    def _drop_branch(self) -> None:
        if self._branch_exists():
            self.spark.sql(f"ALTER TABLE {self.target} DROP BRANCH `{self.branch}`")

    def _publish(self) -> None:
        database, name = self.target.split(".")[1:]
        self.spark.sql(f"CALL {CATALOG}.system.fast_forward('{database}.{name}', 'main', '{self.branch}')")
        self._drop_branch()
        if self.result.watermarks:
            props = ", ".join(f"'{WATERMARK}{k}'='{v}'" for k, v in self.result.watermarks.items())
            self.spark.sql(f"ALTER TABLE {self.target} SET TBLPROPERTIES ({props})")

    # ---------------------------------------------------------------- run
    def run(self) -> StepResult:
        started = time.monotonic()
        renames = self._register_sources()
        output = self.spark.sql(self._sql(renames))
        self._check_output(output)
        output = output.cache()  # counted, checked and written: computed once
        try:
            self.result.rows_written = output.count()
            checked = None
            if not self._exists(self.target):
                self._create(output)
            elif self.full_refresh:
                # The table's schema is not per branch: check the rows the table will hold before changing it, so a
                # failing rebuild leaves the published table exactly as it was.
                checked = self._check(output)
                self._replace_schema(output)
            else:
                self._evolve(output)
            nothing_new = self.step.incremental and not self.full_refresh and not any(self.result.rows_read.values())
            if not nothing_new:
                self._drop_branch()  # a branch of this name (the same run id, run again) would hold its rows
            try:
                if not nothing_new:
                    self._write(output)
                if checked is None:
                    audited = (f"(SELECT * FROM {self.target} VERSION AS OF '{self.branch}')" if not nothing_new
                               else self.target)
                    checked = self._check(self.spark.sql(f"SELECT * FROM {audited}"))
            except BaseException:
                if not nothing_new:  # a failed check or any error publishes nothing and leaves no branch behind
                    with contextlib.suppress(Exception):  # the step's own error is the one to report
                        self._drop_branch()
                raise
            if not nothing_new:
                self._publish()
            snapshot = self.spark.sql(f"SELECT snapshot_id FROM {self.target}.snapshots ORDER BY committed_at DESC "
                                      "LIMIT 1").collect()
            self.result.snapshot_id = snapshot[0]["snapshot_id"] if snapshot else None
        finally:
            output.unpersist()
            self.result.seconds = round(time.monotonic() - started, 3)
        return self.result

    def _check(self, rows: Any) -> CheckResult:
        """The step's expectations on ``rows``; raises ExpectationFailed naming each failure."""
        views = {e: s.view for s in self.lake.sources(self.pipeline.name, self.step.name) for e in (
            str(s.written), s.table.name, str(s.table.ref))}
        # a failure message goes to the alert and the logs: no value of a column named like a pii column
        pii = frozenset(c.name.lower() for contract in self.lake.contracts.contracts for c in contract.columns
                        if c.pii)
        checked = evaluate(self.spark, self.step.name, rows, self.step.expectations, views, pii)
        self.result.rows = checked.rows
        self.result.expectations_passed = checked.passed
        if checked.failures:
            raise ExpectationFailed(checked.failures)
        return checked

    def _replace_schema(self, output: Any) -> None:
        """A full refresh rebuilds the table: its schema becomes the output's (history and snapshots stay). A
        column whose type changes is dropped and added again with the new type: every row is rewritten, and older
        snapshots keep the old column."""
        current = {n.lower(): k for n, k in simple_schema(self.spark.table(self.target))}
        wanted = {n.lower(): (n, k) for n, k in simple_schema(output)}
        for key, kind in current.items():
            if key not in wanted or wanted[key][1] != kind:
                self.spark.sql(f"ALTER TABLE {self.target} DROP COLUMN {quote(key)}")
                if key not in wanted:
                    self.result.schema_changes.append(f"dropped {key}")
        for key, (name, kind) in wanted.items():
            if key not in current:
                self.spark.sql(f"ALTER TABLE {self.target} ADD COLUMN {quote(name)} {kind}")
                self.result.schema_changes.append(f"added {name} {kind}")
            elif current[key] != kind:
                self.spark.sql(f"ALTER TABLE {self.target} ADD COLUMN {quote(name)} {kind}")
                self.result.schema_changes.append(f"retyped {name} {current[key]} -> {kind}")


def _partition_column(spec: str) -> str:
    """``month(orderdate)`` -> ``orderdate``; ``bucket(16, id)`` -> ``id``; ``region`` -> ``region``."""
    inner = spec[spec.find("(") + 1: spec.rfind(")")] if "(" in spec else spec
    return inner.split(",")[-1].strip().strip("`")
