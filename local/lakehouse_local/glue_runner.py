"""Glue, locally: job runs execute the real job script in local Spark; crawls build catalog tables from Parquet.

Emulation only. moto's Glue records job runs and crawls but never runs a script, never fails a run and never creates a
table. This module patches moto's Glue models (in this process, where the moto server runs) so that:

- ``StartJobRun`` (e.g. from the state machine's ``glue:startJobRun.sync`` task) queues the run on one worker thread
  and the run stays RUNNING until the script returns. The worker downloads the job's ``Command.ScriptLocation`` from
  S3, mirrors every bucket named by an ``s3://`` job argument (DefaultArguments + run Arguments) into
  ``<work dir>/zones/<bucket>/``, calls the script's ``main(argv, spark=...)`` with those arguments rewritten to the
  local mirror paths (one SparkSession for the process; no s3a connector is available locally), then uploads what the
  script added, changed or deleted in the mirrors back to S3. The run ends SUCCEEDED, or FAILED with
  ``ErrorMessage`` = ``"<ExceptionType>: <message>"`` of the script's exception (as Glue reports a Python error).
- ``StartCrawler`` queues a crawl on the same worker (job runs and crawls never overlap locally); the crawl reads
  the Parquet under each S3 target, groups files into tables by the first folder under the target path (the layout
  ``TableLevelConfiguration`` in template.yaml asks for), takes the schema of the newest file (pyarrow) and Hive
  partitions (``k=v`` folders, typed string), creates or updates the table in the crawler's ``DatabaseName`` and adds
  missing partitions, then ends with ``LastCrawl.Status`` SUCCEEDED (FAILED with the error otherwise).

Not emulated: worker types and capacity, job bookmarks, timeouts, Glue's "Job State Change" / "Crawler State Change"
EventBridge events, crawler classifiers other than Parquet, schema-change policies (tables are always updated).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from moto.glue import models as glue_models

from .server import LocalAws

_INHERITED = object()  # marks a patched attribute that the class inherited (restored by deleting the override)

# ------------------------------------------------------------------------------------------------ stdout per thread
_local = threading.local()


class _ThreadStdout(io.TextIOBase):
    """sys.stdout that sends what one thread prints to that thread's buffer (the script's JSON summary line)."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def write(self, text: str) -> int:
        buffer = getattr(_local, "buffer", None)
        return (buffer or self.original).write(text)

    def flush(self) -> None:
        (getattr(_local, "buffer", None) or self.original).flush()


@contextlib.contextmanager
def _capture_stdout() -> Any:
    previous = sys.stdout
    sys.stdout = _ThreadStdout(previous)
    _local.buffer = io.StringIO()
    try:
        yield _local.buffer
    finally:
        _local.buffer = None
        if isinstance(sys.stdout, _ThreadStdout) and sys.stdout.original is previous:
            sys.stdout = previous


# ------------------------------------------------------------------------------------------------ events
@dataclass
class GlueEvent:
    """What the runner reports to the demo's progress output."""

    kind: str  # "job_run" | "crawl"
    name: str  # job or crawler name
    state: str  # SUCCEEDED | FAILED
    arguments: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # the script's JSON summary, or crawl details
    error: str | None = None


# ------------------------------------------------------------------------------------------------ S3 mirrors
def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class Mirrors:
    """Local copies of S3 buckets: download before a run, upload what the run changed afterwards."""

    def __init__(self, s3: Any, root: Path) -> None:
        self.s3 = s3
        self.root = root

    def path(self, uri: str) -> str:
        bucket, key = _split(uri)
        return str(self.root / bucket / key) + ("/" if uri.endswith("/") and key else "")

    def download(self, bucket: str) -> dict[str, tuple[int, int]]:
        """Make <root>/<bucket> equal to the bucket; return a snapshot of the local files."""
        local = self.root / bucket
        local.mkdir(parents=True, exist_ok=True)
        remote: dict[str, str] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                remote[obj["Key"]] = obj["ETag"].strip('"')
        for path in [p for p in local.rglob("*") if p.is_file()]:
            rel = path.relative_to(local).as_posix()
            if rel not in remote and not path.name.startswith("."):
                path.unlink()
        for key, etag in remote.items():
            path = local / key
            if key.endswith("/"):
                continue
            if not path.is_file() or hashlib.md5(path.read_bytes()).hexdigest() != etag:  # noqa: S324 - S3 ETag
                path.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, key, str(path))
        return self._snapshot(bucket)

    def upload_changes(self, bucket: str, before: dict[str, tuple[int, int]]) -> int:
        after = self._snapshot(bucket)
        changed = [rel for rel, stat in after.items() if before.get(rel) != stat]
        for rel in changed:
            self.s3.upload_file(str(self.root / bucket / rel), bucket, rel)
        removed = [rel for rel in before if rel not in after]
        for start in range(0, len(removed), 1000):
            self.s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in removed[start:start + 1000]], "Quiet": True}
            )
        return len(changed) + len(removed)

    def _snapshot(self, bucket: str) -> dict[str, tuple[int, int]]:
        local = self.root / bucket
        return {
            p.relative_to(local).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in local.rglob("*")
            if p.is_file() and not p.name.startswith(".")  # Hadoop's local .crc side files
        }


# ------------------------------------------------------------------------------------------------ the runner
class GlueRunner:
    def __init__(self, aws: LocalAws, work_dir: Path, on_event: Callable[[GlueEvent], None] | None = None) -> None:
        self.aws = aws
        self.work_dir = work_dir
        self.on_event = on_event or (lambda event: None)
        self.mirrors = Mirrors(aws.client("s3"), work_dir / "zones")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-glue")
        self._spark: Any = None
        self._scripts: dict[str, Any] = {}
        self._restore: list[tuple[Any, str, Any]] = []

    # -------------------------------------------------------------------- patches of moto's Glue models
    def install(self) -> None:
        runner = self
        original_start_job_run = glue_models.FakeJob.start_job_run
        original_start_crawler = glue_models.FakeCrawler.start_crawler
        original_run_as_dict = glue_models.FakeJobRun.as_dict

        def start_job_run(job: Any, *args: Any, **kwargs: Any) -> str:
            run_id = original_start_job_run(job, *args, **kwargs)
            run = next(r for r in job.job_runs if r.job_run_id == run_id)
            run.emulated_state = "RUNNING"
            runner._worker.submit(runner._job_run, job, run)
            return run_id

        def run_as_dict(run: Any) -> dict[str, Any]:
            data = original_run_as_dict(run)
            if getattr(run, "error_message", None) and data["JobRunState"] == "FAILED":
                data["ErrorMessage"] = run.error_message
            return data

        def start_crawler(crawler: Any) -> None:
            original_start_crawler(crawler)
            crawl = crawler.crawls[-1]
            crawl.emulated_state = "RUNNING"
            runner._worker.submit(runner._crawl, crawler, crawl)

        for owner, attribute, value in (
            (glue_models.FakeJob, "start_job_run", start_job_run),
            (glue_models.FakeJobRun, "as_dict", run_as_dict),
            (glue_models.FakeJobRun, "status", _emulated_status(glue_models.FakeJobRun.status)),
            (glue_models.FakeCrawler, "start_crawler", start_crawler),
            (glue_models.FakeCrawl, "status", _emulated_status(glue_models.FakeCrawl.status)),
        ):
            self._restore.append((owner, attribute, owner.__dict__.get(attribute, _INHERITED)))
            setattr(owner, attribute, value)

    def uninstall(self) -> None:
        for owner, attribute, original in reversed(self._restore):
            if original is _INHERITED:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)
        self._restore.clear()
        self._worker.shutdown(wait=True, cancel_futures=True)

    # -------------------------------------------------------------------- job runs
    def spark(self, module: Any) -> Any:
        if self._spark is None:
            self._spark = module.spark_session("lakehouse-local")
        return self._spark

    def _script(self, location: str) -> Any:
        """The job's script module, downloaded from its ScriptLocation (re-imported when its content changes)."""
        bucket, key = _split(location)
        body = self.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        digest = hashlib.sha256(body).hexdigest()[:16]
        if digest not in self._scripts:
            path = self.work_dir / "scripts" / digest / Path(key).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            spec = importlib.util.spec_from_file_location(f"glue_script_{digest}", path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            sys.modules[spec.name] = module  # type: ignore[union-attr] - dataclasses look their module up
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            self._scripts[digest] = module
        return self._scripts[digest]

    def _job_run(self, job: Any, run: Any) -> None:
        arguments = dict(run.arguments or {})
        summary: dict[str, Any] = {}
        error = None
        try:
            module = self._script(job.command["ScriptLocation"])
            buckets = sorted({_split(v)[0] for v in arguments.values() if isinstance(v, str) and v.startswith("s3://")})
            snapshots = {bucket: self.mirrors.download(bucket) for bucket in buckets}
            argv = ["--JOB_NAME", job.name, "--JOB_RUN_ID", run.job_run_id]
            for name, value in arguments.items():
                argv += [name, self.mirrors.path(value) if str(value).startswith("s3://") else str(value)]
            with _capture_stdout() as out:
                try:
                    module.main(argv, spark=self.spark(module))
                finally:
                    lines = [line for line in out.getvalue().splitlines() if line.startswith("{")]
                    summary = json.loads(lines[-1]) if lines else {}
            for bucket, before in snapshots.items():
                self.mirrors.upload_changes(bucket, before)
        except Exception as exc:  # the script's failure is the run's failure
            error = f"{type(exc).__name__}: {exc}"
            if not summary:
                traceback.print_exc()
        run.error_message = error
        run.emulated_state = "FAILED" if error else "SUCCEEDED"
        self.on_event(GlueEvent("job_run", job.name, run.emulated_state, arguments, summary, error))

    # -------------------------------------------------------------------- crawls
    def _crawl(self, crawler: Any, crawl: Any) -> None:
        tables: dict[str, int] = {}
        error = None
        try:
            for target in crawler.targets.get("S3Targets", []):
                tables.update(crawl_s3_target(self.aws, crawler.database_name, target["Path"]))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
        crawl.error_message = error
        crawl.end_time = glue_models.utcnow()
        crawl.emulated_state = "FAILED" if error else "COMPLETED"
        self.on_event(GlueEvent("crawl", crawler.name, "FAILED" if error else "SUCCEEDED",
                                summary={"database": crawler.database_name, "tables": tables}, error=error))


def _emulated_status(original: property) -> property:
    """``status`` that reports the local run's state while one is attached, moto's state machine otherwise."""

    def fget(self: Any) -> Any:
        state = getattr(self, "emulated_state", None)
        return state if state is not None else original.fget(self)  # type: ignore[misc]

    return property(fget, original.fset)


# ------------------------------------------------------------------------------------------------ crawler
_HIVE_TYPES = {"int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint", "float": "float",
               "double": "double", "bool": "boolean", "string": "string", "large_string": "string",
               "date32[day]": "date", "binary": "binary"}


def _hive_type(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    if pa.types.is_decimal(arrow_type):
        return f"decimal({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_list(arrow_type):
        return f"array<{_hive_type(arrow_type.value_type)}>"
    if pa.types.is_struct(arrow_type):
        return "struct<" + ",".join(f"{f.name}:{_hive_type(f.type)}" for f in arrow_type) + ">"
    return _HIVE_TYPES.get(str(arrow_type), "string")


_PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


def crawl_s3_target(aws: LocalAws, database: str, path: str) -> dict[str, int]:
    """Create/update one table per first-level folder under ``path``; returns table -> number of Parquet files."""
    import pyarrow.parquet as pq

    s3, glue = aws.client("s3"), aws.client("glue")
    bucket, prefix = _split(path)
    files: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix):].lstrip("/")
            parts = rel.split("/")
            if len(parts) < 2 or any(p.startswith(("_", ".")) for p in parts) or not rel.endswith(".parquet"):
                continue
            files.setdefault(parts[0], []).append(obj)
    found: dict[str, int] = {}
    for table, objects in sorted(files.items()):
        newest = max(objects, key=lambda o: o["LastModified"])
        body = s3.get_object(Bucket=bucket, Key=newest["Key"])["Body"].read()
        schema = pq.read_schema(io.BytesIO(body))
        location = f"s3://{bucket}/{prefix.rstrip('/') + '/' if prefix.strip('/') else ''}{table}/"
        partition_values: set[tuple[str, ...]] = set()
        keys: list[str] = []
        for obj in objects:
            folders = obj["Key"][len(prefix):].lstrip("/").split("/")[1:-1]
            pairs = [f.split("=", 1) for f in folders if "=" in f]
            keys = keys or [k for k, _ in pairs]
            partition_values.add(tuple(v for _, v in pairs))
        columns = [{"Name": f.name, "Type": _hive_type(f.type)} for f in schema if f.name not in keys]
        table_input = {
            "Name": table,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "crawled_by": "lakehouse-local"},
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in keys],
            "StorageDescriptor": {"Columns": columns, "Location": location, **_PARQUET},
        }
        try:
            glue.update_table(DatabaseName=database, TableInput=table_input)
        except glue.exceptions.EntityNotFoundException:
            glue.create_table(DatabaseName=database, TableInput=table_input)
        existing = set()
        for page in glue.get_paginator("get_partitions").paginate(DatabaseName=database, TableName=table):
            existing |= {tuple(p["Values"]) for p in page["Partitions"]}
        new = [v for v in sorted(partition_values) if keys and v not in existing]
        for start in range(0, len(new), 100):
            glue.batch_create_partition(DatabaseName=database, TableName=table, PartitionInputList=[
                {"Values": list(values), "StorageDescriptor": {
                    "Columns": columns, **_PARQUET,
                    "Location": location + "/".join(f"{k}={v}" for k, v in zip(keys, values)) + "/"}}
                for values in new[start:start + 100]
            ])
        found[table] = len(objects)
    return found
