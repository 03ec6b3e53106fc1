"""The generic Glue job: ``glue/pipeline_step.py`` calls :func:`main` with the job run's arguments.

Every Spark setting the steps depend on is made here, in the job, so that Glue and a laptop run the same
configuration: the Iceberg catalog (``glue_catalog``: Glue Data Catalog, S3FileIO), UTC, and proleptic-Gregorian
dates. Locally (``AWS_ENDPOINT_URL`` set) the same catalog and file IO point at the local AWS, and ``s3://`` paths
go through Hadoop's S3A connector; on Glue, ``--datalake-formats iceberg`` provides the Iceberg runtime.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from .pipeline import Lake
from .spark_step import CATALOG, Deployment, StepResult, StepRun

log = logging.getLogger("lakehouse.job")
ZONES_WRITTEN = ("trusted", "curated", "presentation")
LOCAL_DEFAULT_SALT = "lakehouse-local-demo-salt"  # local runs only; deployed jobs read --salt-parameter

# Spark's default for dates before 1582-10-15 and timestamps before 1900 is to fail on read ("ambiguous" Julian vs
# proleptic Gregorian calendar). The converter writes proleptic Gregorian, as every modern writer does, so reading
# and writing are CORRECTED: values are taken as they are. A birthday of 1399-01-01 then stays 1399-01-01.
JOB_CONF = {
    "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
    f"spark.sql.catalog.{CATALOG}": "org.apache.iceberg.spark.SparkCatalog",
    f"spark.sql.catalog.{CATALOG}.catalog-impl": "org.apache.iceberg.aws.glue.GlueCatalog",
    f"spark.sql.catalog.{CATALOG}.io-impl": "org.apache.iceberg.aws.s3.S3FileIO",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.datetimeRebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInRead": "CORRECTED",
    "spark.sql.parquet.int96RebaseModeInWrite": "CORRECTED",
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",  # raw partition values are strings
}


def local_conf(endpoint: str, region: str) -> dict[str, str]:
    """The catalog and file systems against a local AWS endpoint (moto): same catalog, same s3:// paths."""
    return {
        f"spark.sql.catalog.{CATALOG}.glue.endpoint": endpoint,
        f"spark.sql.catalog.{CATALOG}.s3.endpoint": endpoint,
        f"spark.sql.catalog.{CATALOG}.s3.path-style-access": "true",
        f"spark.sql.catalog.{CATALOG}.client.region": region,
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": endpoint,
        "spark.hadoop.fs.s3a.endpoint.region": region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
        "spark.hadoop.fs.s3a.change.detection.mode": "none",  # moto's ETags of ranged reads differ from S3's
    }


def spark_session(app_name: str = "lakehouse-step") -> Any:
    """The job's SparkSession. Under spark-submit (Glue) the cluster's settings stay and the job's are added; a plain
    ``python`` run gets a small local session with the jars named by LAKEHOUSE_SPARK_JARS."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    settings = dict(JOB_CONF)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint:
        settings.update(local_conf(endpoint, os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION", "")))
    under_spark_submit = "SPARK_ENV_LOADED" in os.environ or "PYSPARK_GATEWAY_PORT" in os.environ
    if not under_spark_submit:
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        settings.update({
            "spark.master": "local[2]",
            "spark.jars": os.environ.get("LAKEHOUSE_SPARK_JARS", ""),
            "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dlog4j2.configurationFile={_quiet_log4j()}",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.sql.warehouse.dir": os.path.join(os.environ.get("TMPDIR", "/tmp"), "spark-warehouse"),
        })
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not under_spark_submit:
        session.sparkContext.setLogLevel("ERROR")
    return session


def _quiet_log4j() -> str:
    """Local runs print Spark's errors only, not its start-up chatter."""
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "lakehouse-spark-log4j2.properties")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(
            "rootLogger.level = error\nrootLogger.appenderRef.stderr.ref = console\n"
            "appender.console.type = Console\nappender.console.name = console\nappender.console.target = SYSTEM_ERR\n"
            "appender.console.layout.type = PatternLayout\nappender.console.layout.pattern = %d{HH:mm:ss} %p %c: %m%n\n"
        )
    return path


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The job's arguments; Glue adds its own (--JOB_ID, --TempDir, --job-bookmark-option...), which are ignored."""
    parser = argparse.ArgumentParser(prog="pipeline_step", description="Run one SQL step of a pipeline (Glue job).",
                                     allow_abbrev=False)
    parser.add_argument("--JOB_NAME", default="pipeline_step")
    parser.add_argument("--JOB_RUN_ID", default="", help="Glue's run id: names the step's audit branch")
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--step", required=True)
    parser.add_argument("--full-refresh", default="false", help="true: rebuild the table from every raw row")
    parser.add_argument("--pipelines-dir", help="the pipelines folder (default: the layer the job unpacked)")
    for zone in ("raw", *ZONES_WRITTEN):
        parser.add_argument(f"--{zone}-database", required=True, help=f"Glue database of the {zone} zone")
    for zone in ZONES_WRITTEN:
        parser.add_argument(f"--{zone}-root", required=True, help=f"s3://bucket/ holding the {zone} zone's tables")
    parser.add_argument("--settle-seconds", type=int, default=300,
                        help="incremental steps leave raw files younger than this to the next run")
    parser.add_argument("--salt-parameter", default="", help="SSM SecureString holding the PII hashing salt")
    parser.add_argument("--catalog-id", default="", help="the account's Glue catalog id (for table optimizers)")
    parser.add_argument("--optimizer-role-arn", default="", help="role of Glue's table optimizers; empty: none")
    parser.add_argument("--snapshot-retention-days", type=int, default=5)
    parser.add_argument("--snapshots-to-retain", type=int, default=10)
    parser.add_argument("--orphan-file-retention-days", type=int, default=3)
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        log.debug("ignoring arguments %s", [a for a in unknown if a.startswith("--")])
    return args


def deployment_from(args: argparse.Namespace) -> Deployment:
    return Deployment(
        databases={zone: getattr(args, f"{zone}_database") for zone in ("raw", *ZONES_WRITTEN)},
        roots={zone: getattr(args, f"{zone}_root") for zone in ZONES_WRITTEN},
        settle_seconds=args.settle_seconds,
    )


def read_salt(parameter: str, ssm: Any = None) -> str:
    if not parameter:
        log.warning("no --salt-parameter: using the local demo salt (never for production data)")
        return LOCAL_DEFAULT_SALT
    if ssm is None:
        import boto3

        ssm = boto3.client("ssm")
    return str(ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"])


def enable_optimizers(glue: Any, args: argparse.Namespace, database: str, table: str) -> list[str]:
    """Glue's table optimizers for one Iceberg table (compaction, snapshot retention, orphan-file deletion).

    Maintenance is the managed service's job, not ours; an optimizer needs its table to exist, so the step that
    creates the table enables them, once: later runs find them there (AlreadyExistsException) and go on.
    """
    if not args.optimizer_role_arn:
        return []
    enabled = []
    configurations: dict[str, dict[str, Any]] = {
        "compaction": {},
        "retention": {"retentionConfiguration": {"icebergConfiguration": {
            "snapshotRetentionPeriodInDays": args.snapshot_retention_days,
            "numberOfSnapshotsToRetain": args.snapshots_to_retain,
            "cleanExpiredFiles": True,
        }}},
        "orphan_file_deletion": {"orphanFileDeletionConfiguration": {"icebergConfiguration": {
            "orphanFileRetentionPeriodInDays": args.orphan_file_retention_days,
        }}},
    }
    for kind, extra in configurations.items():
        try:
            glue.create_table_optimizer(
                CatalogId=args.catalog_id, DatabaseName=database, TableName=table, Type=kind,
                TableOptimizerConfiguration={"roleArn": args.optimizer_role_arn, "enabled": True, **extra},
            )
            enabled.append(kind)
        except glue.exceptions.AlreadyExistsException:
            continue
    return enabled


def main(argv: Sequence[str], *, spark: Any = None, pipelines_dir: str | None = None, glue: Any = None,
         out: TextIO | None = None) -> int:
    """Run one step as the Glue job does. Prints a one-line JSON summary to ``out`` (stdout: the job's log on
    Glue), also on failure, then re-raises, so Glue marks the run FAILED with the exception's message."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    started = time.monotonic()
    result = StepResult(args.pipeline, args.step)
    try:
        import boto3

        glue = glue or boto3.client("glue")
        lake = Lake.load(args.pipelines_dir or pipelines_dir or "pipelines")
        deployment = deployment_from(args)
        run = StepRun(spark or spark_session(args.JOB_NAME), lake, deployment, pipeline=args.pipeline,
                      step=args.step, run_id=args.JOB_RUN_ID or f"local{int(time.time() * 1000)}", glue=glue,
                      full_refresh=args.full_refresh.lower() == "true", salt=lambda: read_salt(args.salt_parameter))
        result = run.result
        run.run()
        step = run.step
        enable_optimizers(glue, args, deployment.databases[step.zone], step.name)
    except Exception as exc:
        result.status, result.error = "FAILED", f"{type(exc).__name__}: {exc}"
        result.seconds = round(time.monotonic() - started, 3)
        print(result.to_json(), file=out or sys.stdout, flush=True)
        raise
    print(result.to_json(), file=out or sys.stdout, flush=True)
    return 0
