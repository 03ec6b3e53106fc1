"""The one generic Glue job script: run one SQL step of a pipeline declared as data.

A pipeline is ``pipelines/<name>/pipeline.yaml`` (steps, their zones, partitioning, expectations and
dependencies), ``pipelines/<name>/steps/*.sql`` and ``pipelines/<name>/contracts/*.yaml`` (the raw tables).
For one step this script registers every table the step's SQL names as a temporary view of its Parquet folder,
runs the SQL, writes the result as Parquet to ``<zone root>/<step name>/`` and evaluates the step's expectations
on what was written. A failed expectation raises :class:`ExpectationFailed`, so Glue marks the run FAILED with a
message such as ``expectation failed: customer_trusted not_null(email): 3 rows with nulls``.

It runs unchanged on Glue 5.0 (Spark 3.5, Python 3.11; plain DataFrame/SQL, no DynamicFrame, no awsglue) and
on a laptop::

    python glue/pipeline_step.py --JOB_NAME local --pipeline stedi --step customer_trusted \\
        --source-root .lakehouse --target-root .lakehouse

Every run ends with a one-line JSON summary on stdout (also on failure, before the exception propagates).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

log = logging.getLogger("pipeline_step")

ZONES = ("raw", "trusted", "curated")
STEP_ZONES = ("trusted", "curated")
LINEAGE_COLUMNS = (("_source_key", "string"), ("_source_version", "string"), ("_ingested_at", "timestamp"))
SALT_VIEW = "pipeline_salt"  # one-row view (column ``salt``) registered for steps whose SQL names it
LOCAL_DEFAULT_SALT = "lakehouse-local-demo-salt"  # demos and tests only; deployed jobs pass --salt-parameter
EXPECTATION_KINDS = ("row_count", "not_null", "unique", "accepted_values", "range", "keys_exist")


class PipelineError(ValueError):
    """The pipeline definition is invalid (unknown dependency, cycle, bad expectation, missing file...)."""


class ExpectationFailed(RuntimeError):
    """One or more expectations of a step failed; ``str()`` lists each failure precisely."""

    def __init__(self, failures: Sequence[str], result: "StepResult | None" = None) -> None:
        super().__init__("; ".join(failures))
        self.failures = list(failures)
        self.result = result


# ------------------------------------------------------------------------------------------------ model
@dataclass(frozen=True)
class RawTable:
    """A raw-zone table as its contract declares it (the converter adds lineage and partition columns)."""

    name: str
    columns: tuple[tuple[str, str], ...]  # (column, contract type)
    partitions: tuple[str, ...] = ("ingest_date",)


@dataclass(frozen=True)
class Step:
    name: str  # = target table name
    zone: str  # trusted | curated
    sql: str  # the SQL text
    depends_on: tuple[str, ...] = ()
    partition_by: tuple[str, ...] = ()
    expectations: tuple[dict[str, Any], ...] = ()
    sql_path: str = ""


@dataclass
class Pipeline:
    name: str
    steps: list[Step]
    raw_tables: dict[str, RawTable] = field(default_factory=dict)
    description: str = ""

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise PipelineError(f"pipeline {self.name!r} has no step {name!r} (steps: {[s.name for s in self.steps]})")

    def stages(self) -> list[list[Step]]:
        """Steps in topological levels: every step's dependencies are in earlier levels.

        Within a level the declaration order is kept. Raises PipelineError on an unknown dependency or a cycle.
        """
        by_name = {s.name: s for s in self.steps}
        for s in self.steps:
            for d in s.depends_on:
                if d not in by_name:
                    raise PipelineError(f"step {s.name!r} depends on unknown step {d!r}")
        done: set[str] = set()
        levels: list[list[Step]] = []
        remaining = list(self.steps)
        while remaining:
            level = [s for s in remaining if all(d in done for d in s.depends_on)]
            if not level:
                raise PipelineError("dependency cycle among steps: " + ", ".join(s.name for s in remaining))
            levels.append(level)
            done.update(s.name for s in level)
            remaining = [s for s in remaining if s.name not in done]
        return levels

    def upstream(self, name: str) -> set[str]:
        """Names of all steps ``name`` depends on, directly or transitively."""
        by_name = {s.name: s for s in self.steps}
        seen: set[str] = set()
        todo = list(by_name[name].depends_on)
        while todo:
            d = todo.pop()
            if d not in seen and d in by_name:
                seen.add(d)
                todo.extend(by_name[d].depends_on)
        return seen

    def zone_of(self, table: str) -> str:
        if table in self.raw_tables:
            return "raw"
        return self.step(table).zone


@dataclass
class StepResult:
    pipeline: str
    step: str
    action: str
    target: str
    rows: int | None = None  # rows in the target after the step
    rows_written: int | None = None  # rows written by this run (None for action=check)
    expectations_passed: int = 0
    expectations_total: int = 0
    status: str = "SUCCEEDED"
    error: str | None = None
    seconds: float = 0.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


# ------------------------------------------------------------------------------------------------ loading
class _Files:
    """Read-only access to the pipelines folder: a local directory or an ``s3://bucket/prefix/`` URI."""

    def __init__(self, root: str, s3_client: Any = None) -> None:
        self.root = root
        self._s3 = s3_client
        if root.startswith("s3://"):
            bucket, _, prefix = root[5:].partition("/")
            self.bucket, self.prefix = bucket, prefix.strip("/")

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def _client(self) -> Any:
        if self._s3 is None:
            import boto3  # lazily: the module must import without AWS

            self._s3 = boto3.client("s3")
        return self._s3

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def read(self, rel: str) -> str | None:
        if not self.is_s3:
            p = Path(self.root) / rel
            return p.read_text(encoding="utf-8") if p.is_file() else None
        client = self._client()
        try:
            return client.get_object(Bucket=self.bucket, Key=self._key(rel))["Body"].read().decode("utf-8")
        except client.exceptions.NoSuchKey:
            return None

    def list(self, rel_dir: str, suffixes: tuple[str, ...]) -> list[str]:
        """Relative paths of the files directly in ``rel_dir`` whose names end with one of ``suffixes``."""
        if not self.is_s3:
            d = Path(self.root) / rel_dir
            return sorted(f"{rel_dir}/{p.name}" for p in d.glob("*") if p.is_file() and p.name.endswith(suffixes))
        prefix = self._key(rel_dir).rstrip("/") + "/"
        out = []
        for page in self._client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix):]
                if name and "/" not in name and name.endswith(suffixes):
                    out.append(f"{rel_dir}/{name}")
        return sorted(out)


def _as_list(value: Any, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise PipelineError(f"{what} must be a list, got {value!r}")
    return value


def _check_expectation(step: str, e: Any) -> dict[str, Any]:
    if not isinstance(e, dict) or e.get("type") not in EXPECTATION_KINDS:
        raise PipelineError(f"step {step!r}: expectation {e!r} must have a type in {EXPECTATION_KINDS}")
    kind = e["type"]
    need = {"row_count": (), "not_null": ("columns",), "unique": ("columns",),
            "accepted_values": ("column", "values"), "range": ("column",),
            "keys_exist": ("columns", "in_table")}[kind]
    missing = [k for k in need if not e.get(k)]
    if missing:
        raise PipelineError(f"step {step!r}: expectation {kind} needs {missing}")
    e = dict(e)
    for k in ("columns", "in_columns"):
        if k in e:
            e[k] = _as_list(e[k], f"step {step!r} expectation {kind} {k}")
    if kind == "keys_exist":
        e.setdefault("in_columns", e["columns"])
        if len(e["in_columns"]) != len(e["columns"]):
            raise PipelineError(f"step {step!r}: keys_exist columns and in_columns differ in length")
    if kind in ("row_count", "range") and e.get("min") is None and e.get("max") is None:
        raise PipelineError(f"step {step!r}: expectation {kind} needs min and/or max")
    return e


def _raw_table(contract: Mapping[str, Any], source: str) -> RawTable:
    try:
        cols = tuple((c["name"], c.get("type", "string")) for c in contract["columns"])
        name = contract["table"]
    except (KeyError, TypeError) as exc:
        raise PipelineError(f"contract {source}: missing table or columns ({exc})") from None
    parts = tuple(p["name"] for p in contract.get("partitions") or []) or ("ingest_date",)
    return RawTable(name=name, columns=cols, partitions=parts)


def load_pipeline(pipelines_dir_or_uri: str | os.PathLike, name: str, *, s3_client: Any = None) -> Pipeline:
    """Load ``<pipelines>/<name>/pipeline.yaml``, its SQL files and its contracts (local folder or s3:// URI).

    A pipeline without pipeline.yaml (raw tables only, e.g. retail) loads with no steps.
    """
    files = _Files(str(pipelines_dir_or_uri), s3_client)
    raw: dict[str, RawTable] = {}
    for rel in files.list(f"{name}/contracts", (".yaml", ".yml")):
        contract = yaml.safe_load(files.read(rel) or "") or {}
        t = _raw_table(contract, rel)
        raw[t.name] = t
    text = files.read(f"{name}/pipeline.yaml")
    if text is None:
        if not raw:
            raise PipelineError(f"no pipeline {name!r} under {pipelines_dir_or_uri}")
        return Pipeline(name=name, steps=[], raw_tables=raw)
    doc = yaml.safe_load(text) or {}
    steps = []
    for i, s in enumerate(doc.get("steps") or []):
        sname = s.get("name") if isinstance(s, dict) else None
        if not sname or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", sname):
            raise PipelineError(f"pipeline {name!r} step #{i + 1}: a name of letters, digits and _ is required")
        zone = s.get("zone")
        if zone not in STEP_ZONES:
            raise PipelineError(f"step {sname!r}: zone must be one of {STEP_ZONES}, got {zone!r}")
        sql_rel = s.get("sql") or f"steps/{sname}.sql"
        sql = files.read(f"{name}/{sql_rel}")
        if sql is None:
            raise PipelineError(f"step {sname!r}: SQL file {sql_rel} not found")
        steps.append(Step(
            name=sname, zone=zone, sql=sql, sql_path=sql_rel,
            depends_on=tuple(_as_list(s.get("depends_on"), f"step {sname!r} depends_on")),
            partition_by=tuple(_as_list(s.get("partition_by"), f"step {sname!r} partition_by")),
            expectations=tuple(_check_expectation(sname, e) for e in _as_list(s.get("expectations"), "expectations")),
        ))
    names = [s.name for s in steps]
    dupes = {n for n in names if names.count(n) > 1} | (set(names) & set(raw))
    if dupes:
        raise PipelineError(f"pipeline {name!r}: duplicate table names {sorted(dupes)}")
    p = Pipeline(name=doc.get("name", name), steps=steps, raw_tables=raw, description=doc.get("description", ""))
    p.stages()  # unknown dependencies and cycles fail at load time
    for s in steps:  # a step may only read steps that are guaranteed to have run before it
        allowed = p.upstream(s.name)
        for t in referenced_tables(p, s):
            if t in names and t not in allowed:
                raise PipelineError(f"step {s.name!r} reads {t!r} but does not depend on it")
    return p


def _strip_sql_comments(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    return re.sub(r"--[^\n]*", " ", sql)


def referenced_tables(pipeline: Pipeline, step: Step) -> list[str]:
    """Tables (raw or step outputs, not the step itself) named in the step's SQL or its keys_exist expectations."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _strip_sql_comments(step.sql))}
    known = list(pipeline.raw_tables) + [s.name for s in pipeline.steps if s.name != step.name]
    out = [t for t in known if t.lower() in words]
    for e in step.expectations:
        t = e.get("in_table")
        if t and t != step.name and t not in out:
            out.append(t)
    return out


# ------------------------------------------------------------------------------------------------ locations
@dataclass(frozen=True)
class ZoneRoots:
    """Where each zone's tables live (``<root>/<table>/``): read from ``source``, write to ``target``."""

    source: Mapping[str, str]
    target: Mapping[str, str]

    @classmethod
    def local(cls, source_root: str, target_root: str | None = None) -> "ZoneRoots":
        target_root = target_root or source_root
        return cls({z: _join(source_root, z) for z in ZONES}, {z: _join(target_root, z) for z in ZONES})

    def read(self, zone: str, table: str) -> str:
        return _join(self._root(self.source, zone), table)

    def write(self, zone: str, table: str) -> str:
        return _join(self._root(self.target, zone), table)

    @staticmethod
    def _root(roots: Mapping[str, str], zone: str) -> str:
        if not roots.get(zone):
            raise PipelineError(f"no root given for zone {zone!r} (use --{zone}-root or --source-root/--target-root)")
        return roots[zone]


def _join(root: str, name: str) -> str:
    return root.rstrip("/") + "/" + name


# ------------------------------------------------------------------------------------------------ Spark
def _quiet_log4j() -> str:
    """A log4j2 configuration for local runs: Spark's errors only, not its start-up chatter."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "lakehouse-spark-log4j2.properties")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\nappender.console.target = SYSTEM_ERR\n"
            "appender.console.layout.type = PatternLayout\nappender.console.layout.pattern = %d{HH:mm:ss} %p %c: %m%n\n"
        )
    return path


def spark_session(app_name: str = "pipeline_step", master: str | None = None) -> Any:
    """The job's SparkSession. On Glue (started by spark-submit) the existing configuration is kept; a plain
    ``python`` run gets a lean local session (local[2], 2 shuffle partitions, no UI)."""
    from pyspark.sql import SparkSession

    b = SparkSession.builder.appName(app_name)
    # spark-submit (which Glue uses to start the script) sets these; a plain ``python`` run has neither.
    under_spark_submit = "PYSPARK_GATEWAY_PORT" in os.environ or "SPARK_ENV_LOADED" in os.environ
    if master or not under_spark_submit:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local run: no warning about the host's address
        b = (b.master(master or "local[2]")
             .config("spark.driver.extraJavaOptions", f"-Duser.timezone=UTC -Dlog4j2.configurationFile={_quiet_log4j()}")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", "2")
             .config("spark.default.parallelism", "2")
             .config("spark.sql.warehouse.dir", os.path.join(os.environ.get("TMPDIR", "/tmp"), "spark-warehouse")))
    session = b.getOrCreate()
    if master or not under_spark_submit:
        session.sparkContext.setLogLevel("ERROR")
    return session


_SPARK_TYPES = {"string": "string", "int": "int", "integer": "int", "bigint": "bigint", "long": "bigint",
                "double": "double", "float": "double", "boolean": "boolean", "bool": "boolean", "date": "date",
                "timestamp": "timestamp"}


def _has_data(spark: Any, uri: str) -> bool:
    """True when the folder holds at least one data file (Hadoop FileSystem: local paths and s3:// alike)."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    if not fs.exists(path):
        return False
    it = fs.listFiles(path, True)
    while it.hasNext():
        name = it.next().getPath().getName()
        if not name.startswith(("_", ".")):
            return True
    return False


def _register_table(spark: Any, pipeline: Pipeline, table: str, roots: ZoneRoots) -> None:
    zone = pipeline.zone_of(table)
    uri = roots.read(zone, table)
    if _has_data(spark, uri):
        df = spark.read.option("basePath", uri).parquet(uri)  # partition discovery (ingest_date=..., etc.)
    elif zone == "raw":
        # No file has landed yet: an empty table with the contract's schema, so the step runs and its
        # row_count expectation (not an AnalysisException) reports the problem.
        t = pipeline.raw_tables[table]
        cols = [f"`{c}` {_SPARK_TYPES.get(ty, 'string')}" for c, ty in t.columns]
        cols += [f"`{c}` {ty}" for c, ty in LINEAGE_COLUMNS] + [f"`{p}` string" for p in t.partitions]
        df = spark.createDataFrame([], ", ".join(cols))
    else:
        raise PipelineError(f"table {table} has no data at {uri}: run step {table!r} first")
    df.createOrReplaceTempView(table)
    log.info("registered %s (%s) from %s", table, zone, uri)


def _register_salt(spark: Any, salt: str) -> None:
    from pyspark.sql.types import StringType, StructField, StructType

    schema = StructType([StructField("salt", StringType(), False)])
    spark.createDataFrame([(salt,)], schema).createOrReplaceTempView(SALT_VIEW)


def read_salt(parameter: str | None = None, salt: str | None = None, *, ssm_client: Any = None) -> str:
    """The hashing salt: ``salt`` if given, else the decrypted SSM parameter, else the local demo default."""
    if salt:
        return salt
    if parameter:
        if ssm_client is None:
            import boto3

            ssm_client = boto3.client("ssm")
        return ssm_client.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    log.warning("no salt parameter given: using the local demo salt (not for production data)")
    return LOCAL_DEFAULT_SALT


# ------------------------------------------------------------------------------------------------ expectations
def _fmt_bounds(e: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={e[k]}" for k in ("min", "max") if e.get(k) is not None)


def evaluate_expectations(spark: Any, table: str, df: Any, expectations: Iterable[Mapping[str, Any]],
                          count: int | None = None) -> tuple[int, list[str]]:
    """Evaluate expectations on ``df`` (the written table). Returns (number passed, failure messages).

    NULLs are not violations of accepted_values, range or keys_exist (not_null is the rule for that).
    """
    from pyspark.sql import functions as F

    def q(c: str) -> Any:
        return F.col(f"`{c}`")

    expectations = list(expectations)

    def violation(e: Mapping[str, Any]) -> Any:
        """Row-wise violation condition of not_null, accepted_values and range (None for other kinds)."""
        kind = e["type"]
        if kind == "not_null":
            cond = None
            for c in e["columns"]:
                cond = q(c).isNull() if cond is None else cond | q(c).isNull()
            return cond
        if kind == "accepted_values":
            return q(e["column"]).isNotNull() & ~q(e["column"]).isin(list(e["values"]))
        if kind == "range":
            cond = F.lit(False)
            if e.get("min") is not None:
                cond = cond | (q(e["column"]) < F.lit(e["min"]))
            if e.get("max") is not None:
                cond = cond | (q(e["column"]) > F.lit(e["max"]))
            return q(e["column"]).isNotNull() & cond
        return None

    # One pass over the table for the row count and every row-wise rule.
    aggs = [F.count(F.lit(1)).alias("_rows")]
    for i, e in enumerate(expectations):
        cond = violation(e)
        if cond is not None:
            aggs.append(F.sum(F.when(cond, 1).otherwise(0)).alias(f"_e{i}"))
    counts = df.agg(*aggs).first() if count is None or len(aggs) > 1 else None
    rows = count if count is not None else counts["_rows"]

    passed, failures = 0, []
    for i, e in enumerate(expectations):
        kind = e["type"]
        msg = None
        n = (counts[f"_e{i}"] or 0) if violation(e) is not None else 0
        if kind == "row_count":
            if (e.get("min") is not None and rows < e["min"]) or (e.get("max") is not None and rows > e["max"]):
                msg = f"row_count({_fmt_bounds(e)}): {rows} rows"
        elif kind == "not_null" and n:
            msg = f"not_null({', '.join(e['columns'])}): {n} rows with nulls"
        elif kind == "accepted_values" and n:
            c = e["column"]
            bad = df.filter(violation(e)).select(q(c)).distinct().limit(3).collect()
            examples = ", ".join(str(r[0])[:40] for r in bad)
            msg = (f"accepted_values({c} in [{', '.join(map(str, e['values']))}]): {n} rows with other values "
                   f"(e.g. {examples})")
        elif kind == "range" and n:
            msg = f"range({e['column']}, {_fmt_bounds(e)}): {n} rows out of range"
        elif kind == "unique":
            cols = e["columns"]
            dup = df.groupBy(*[q(c) for c in cols]).count().filter(F.col("count") > 1)
            row = dup.agg(F.count(F.lit(1)).alias("k"), F.sum("count").alias("n")).first()
            if row["k"]:
                msg = f"unique({', '.join(cols)}): {row['k']} duplicate keys in {row['n']} rows"
        elif kind == "keys_exist":
            cols, other, other_cols = e["columns"], e["in_table"], e["in_columns"]
            keys = df.select(*[q(c).alias(f"_k{j}") for j, c in enumerate(cols)]).dropna()
            ref = spark.table(other).select(*[q(c).alias(f"_k{j}") for j, c in enumerate(other_cols)])
            missing = keys.join(ref, on=[f"_k{j}" for j in range(len(cols))], how="left_anti").count()
            if missing:
                msg = (f"keys_exist({', '.join(cols)} in {other}({', '.join(other_cols)})): "
                       f"{missing} rows with keys missing from {other}")
        if msg:
            failures.append(f"expectation failed: {table} {msg}")
        else:
            passed += 1
    return passed, failures


# ------------------------------------------------------------------------------------------------ run
def run_step(spark: Any, pipeline: Pipeline, step_name: str, roots: ZoneRoots, *, action: str = "run",
             salt: str | None = None, salt_provider: Callable[[], str] | None = None) -> StepResult:
    """Build (SQL + write) and/or check (expectations) one step. Raises ExpectationFailed on failed expectations
    (``err.result`` holds the summary) and PipelineError on a bad definition or missing input."""
    if action not in ("run", "build", "check"):
        raise PipelineError(f"action must be run, build or check, got {action!r}")
    started = time.monotonic()
    step = pipeline.step(step_name)
    # A session of its own (same SparkContext): temp views and SQL settings of one step cannot leak into
    # another, even when a local emulator runs independent steps concurrently on one SparkSession.
    spark = spark.newSession()
    target_read, target_write = roots.read(step.zone, step.name), roots.write(step.zone, step.name)
    result = StepResult(pipeline=pipeline.name, step=step.name, action=action, target=target_write,
                        expectations_total=len(step.expectations))
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    # Each step recomputes its whole table from all of its inputs, so a run's output is a complete snapshot:
    # a full ("static") overwrite of the table folder. Dynamic partition overwrite would keep partitions that
    # the new snapshot no longer has (e.g. a page that disappeared), leaving stale rows behind.
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "static")

    for table in referenced_tables(pipeline, step):
        _register_table(spark, pipeline, table, roots)

    if action in ("run", "build"):
        if re.search(rf"\b{SALT_VIEW}\b", _strip_sql_comments(step.sql), re.I):
            _register_salt(spark, salt if salt else (salt_provider() if salt_provider else read_salt()))
        df = spark.sql(step.sql)
        names = df.columns
        dupes = sorted({c for c in names if names.count(c) > 1})
        if dupes:
            raise PipelineError(f"step {step.name!r}: duplicate output columns {dupes}")
        missing = [c for c in step.partition_by if c not in names]
        if missing:
            raise PipelineError(f"step {step.name!r}: partition columns {missing} not in the output {names}")
        writer = df.write.mode("overwrite").format("parquet")
        if step.partition_by:
            writer = writer.partitionBy(*step.partition_by)
        writer.save(target_write)
        log.info("wrote %s", target_write)
        target_read = target_write

    if action == "build":
        written = spark.read.parquet(target_read) if _has_data(spark, target_read) else None
        result.rows = result.rows_written = written.count() if written is not None else 0
        result.seconds = round(time.monotonic() - started, 3)
        return result

    if _has_data(spark, target_read):
        written = spark.read.option("basePath", target_read).parquet(target_read)
    else:  # an empty, partitioned output leaves no files at all: check an empty table (row_count will say so)
        written = spark.sql(step.sql).limit(0) if action == "run" else None
        if written is None:
            raise PipelineError(f"step {step.name!r}: nothing to check at {target_read}")
    written = written.cache()  # the expectations scan it several times; step outputs are modest in size
    written.createOrReplaceTempView(step.name)  # lets keys_exist refer to the step itself
    try:
        n = written.count()
        result.rows = n
        if action == "run":
            result.rows_written = n
        result.expectations_passed, failures = evaluate_expectations(spark, step.name, written, step.expectations, n)
    finally:
        written.unpersist()
    result.seconds = round(time.monotonic() - started, 3)
    if failures:
        result.status, result.error = "FAILED", "; ".join(failures)
        raise ExpectationFailed(failures, result)
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the job arguments; unknown ones (Glue adds --job-bookmark-option, --TempDir, ...) are ignored."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("--JOB_NAME", default="pipeline_step")
    p.add_argument("--pipeline", required=True)
    p.add_argument("--step", required=True)
    p.add_argument("--action", default="run", choices=["run", "build", "check"])
    src = p.add_mutually_exclusive_group()
    src.add_argument("--pipelines-dir", help="local folder holding <pipeline>/pipeline.yaml")
    src.add_argument("--pipelines-uri", help="s3://bucket/prefix/ holding <pipeline>/pipeline.yaml")
    for z in ZONES:
        p.add_argument(f"--{z}-root", help=f"where {z}-zone tables live (<root>/<table>/)")
    p.add_argument("--source-root", help="local shorthand: read zone Z from DIR/Z")
    p.add_argument("--target-root", help="local shorthand: write zone Z to DIR/Z")
    p.add_argument("--salt-parameter", help="SSM parameter (SecureString) holding the hashing salt")
    p.add_argument("--salt", help="hashing salt for local runs (prefer --salt-parameter)")
    args, unknown = p.parse_known_args(argv)
    if unknown:
        log.info("ignoring unknown arguments: %s", [a for a in unknown if a.startswith("--")])
    return args


def roots_from_args(args: argparse.Namespace) -> ZoneRoots:
    source = {z: _join(args.source_root, z) for z in ZONES} if args.source_root else {}
    target_base = args.target_root or args.source_root
    target = {z: _join(target_base, z) for z in ZONES} if target_base else {}
    if args.target_root and not args.source_root:
        source = dict(target)
    for z in ZONES:
        explicit = getattr(args, f"{z}_root")
        if explicit:
            source[z] = target[z] = explicit
    return ZoneRoots(source, target)


def _default_pipelines_dir() -> str:
    here = Path(__file__).resolve().parent
    for cand in (here.parent / "pipelines", Path.cwd() / "pipelines"):
        if cand.is_dir():
            return str(cand)
    return "pipelines"


def main(argv: Sequence[str] | None = None, spark: Any = None) -> int:
    """Run one step as the Glue job does. Returns 0; raises ExpectationFailed / PipelineError on failure
    (after printing the one-line JSON summary), so Glue marks the run FAILED with the message."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    started = time.monotonic()
    result = StepResult(pipeline=args.pipeline, step=args.step, action=args.action, target="")
    try:
        pipeline = load_pipeline(args.pipelines_uri or args.pipelines_dir or _default_pipelines_dir(),
                                 args.pipeline)
        roots = roots_from_args(args)
        step = pipeline.step(args.step)
        result.target = roots.write(step.zone, step.name)
        session = spark or spark_session(args.JOB_NAME)
        result = run_step(session, pipeline, args.step, roots, action=args.action, salt=args.salt,
                          salt_provider=lambda: read_salt(args.salt_parameter))
    except ExpectationFailed as exc:
        print(exc.result.to_json() if exc.result else result.to_json(), flush=True)
        raise
    except Exception as exc:
        result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 3)
        print(result.to_json(), flush=True)
        raise
    print(result.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
