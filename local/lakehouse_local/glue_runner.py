"""Glue, locally: a job run executes the real job script in local Spark, against the local S3 and Glue catalog.

Emulation only. moto's Glue records job runs but never runs a script and never fails a run. This module patches
moto's Glue models (in this process, where the moto server runs) so that ``StartJobRun`` (e.g. from the state
machine's ``glue:startJobRun.sync`` task) queues the run on one worker thread, and the run stays RUNNING until the
script returns. The worker downloads the job's ``Command.ScriptLocation`` from the local S3 and calls the script's
``main(argv, spark=..., pipelines_dir=...)`` with the run's arguments (DefaultArguments + run Arguments, merged by
moto) unchanged: ``s3://`` paths and Glue databases are the local stack's own, reached through the same Iceberg
GlueCatalog and S3FileIO as on Glue, and through Hadoop's S3A for plain Parquet (see lakehouse.glue_job). The run
ends SUCCEEDED, or FAILED with ``ErrorMessage`` = ``"<ExceptionType>: <message>"`` of the script's exception, as
Glue reports a Python error.

Differences from Glue (docs/local.md): one Spark session in this process (local[2]) serves every run, one run at a
time; the library and the pipelines are the working tree's, not downloaded layers; worker types, capacity, job
bookmarks, timeouts and Glue's "Job State Change" events are not emulated. The job's table optimizers are recorded
by the local Glue (moto_patches) but never run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.glue import models as glue_models

from .patching import ClassPatches, emulated_status
from .server import LocalAws
from .stack import REPO


@dataclass
class GlueEvent:
    """What the runner reports to the progress output."""

    name: str  # job name
    state: str  # SUCCEEDED | FAILED
    arguments: dict[str, str] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # the script's JSON summary line
    error: str | None = None


def local_spark(aws: LocalAws) -> Any:
    """The job's own SparkSession (lakehouse.glue_job.spark_session) pointed at this local AWS.

    One JVM serves a whole process; a later local AWS (a new port) re-points the running session: catalog settings
    are per session (the job opens a new one per step) and S3A's settings live in the shared Hadoop configuration.
    """
    from lakehouse.glue_job import local_conf, spark_session

    from .jars import classpath

    os.environ.setdefault("LAKEHOUSE_SPARK_JARS", classpath())
    session = spark_session("lakehouse-local")
    settings = local_conf(aws.endpoint, aws.region)
    hadoop = session.sparkContext._jsc.hadoopConfiguration()
    for key, value in settings.items():
        if key.startswith("spark.hadoop."):
            hadoop.set(key.removeprefix("spark.hadoop."), value)
        else:
            session.conf.set(key, value)
    hadoop.set("fs.s3.impl.disable.cache", "true")  # a cached file system would keep the previous endpoint
    hadoop.set("fs.s3a.impl.disable.cache", "true")
    return session


# What runs a job run: (job name, argv) -> None; raises to fail the run. The default runs the job's script.
Executor = Callable[[str, list[str]], None]


class GlueRunner:
    def __init__(self, aws: LocalAws, work_dir: Path, on_event: Callable[[GlueEvent], None] | None = None,
                 pipelines_dir: Path = REPO / "pipelines", executor: Executor | None = None) -> None:
        self.aws = aws
        self.work_dir = work_dir
        self.pipelines_dir = pipelines_dir
        self.on_event = on_event or (lambda event: None)
        self.executor = executor  # None: the job's own script in local Spark
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-glue")
        self._spark: Any = None
        self._scripts: dict[str, Any] = {}
        self._patches = ClassPatches()

    def install(self) -> None:
        runner = self
        original_start_job_run = glue_models.FakeJob.start_job_run
        original_run_as_dict = glue_models.FakeJobRun.as_dict

        def start_job_run(job: Any, *args: Any, **kwargs: Any) -> str:
            run_id = original_start_job_run(job, *args, **kwargs)
            run = next(r for r in job.job_runs if r.job_run_id == run_id)
            run.emulated_state = "RUNNING"
            runner._worker.submit(runner._job_run, job, run)
            return str(run_id)

        def run_as_dict(run: Any) -> dict[str, Any]:
            data: dict[str, Any] = original_run_as_dict(run)
            if getattr(run, "error_message", None) and data["JobRunState"] == "FAILED":
                data["ErrorMessage"] = run.error_message
            return data

        self._patches.set(glue_models.FakeJob, "start_job_run", start_job_run)
        self._patches.set(glue_models.FakeJobRun, "as_dict", run_as_dict)
        self._patches.set(glue_models.FakeJobRun, "status", emulated_status(glue_models.FakeJobRun.status))

    def uninstall(self) -> None:
        self._patches.undo()
        self._worker.shutdown(wait=True, cancel_futures=True)

    def spark(self) -> Any:
        if self._spark is None:
            self._spark = local_spark(self.aws)
        return self._spark

    def _script(self, location: str) -> Any:
        """The job's script module, downloaded from its ScriptLocation (re-imported when its content changes)."""
        bucket, _, key = location.removeprefix("s3://").partition("/")
        body = self.aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        digest = hashlib.sha256(body).hexdigest()[:16]
        if digest not in self._scripts:
            path = self.work_dir / "scripts" / digest / Path(key).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
            spec = importlib.util.spec_from_file_location(f"glue_script_{digest}", path)
            if spec is None or spec.loader is None:
                raise RuntimeError(f"cannot load the job script {location}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # dataclasses look their module up
            spec.loader.exec_module(module)
            self._scripts[digest] = module
        return self._scripts[digest]

    def _job_run(self, job: Any, run: Any) -> None:
        arguments = dict(run.arguments or {})
        summary: dict[str, Any] = {}
        error = None
        try:
            argv = ["--JOB_NAME", job.name, "--JOB_RUN_ID", run.job_run_id]
            for name, value in arguments.items():  # the job enables the table optimizers (moto_patches, patch 9)
                argv += [name, str(value)]
            out = io.StringIO()  # the script's JSON summary line, which Glue would log
            try:
                if self.executor is not None:
                    self.executor(job.name, argv)
                else:
                    module = self._script(job.command["ScriptLocation"])
                    module.main(argv, spark=self.spark(), pipelines_dir=str(self.pipelines_dir), out=out)
            finally:
                lines = [line for line in out.getvalue().splitlines() if line.startswith("{")]
                summary = json.loads(lines[-1]) if lines else {}
        except Exception as exc:  # noqa: BLE001 - the script's failure is the run's failure
            error = f"{type(exc).__name__}: {exc}"
            if not summary:
                traceback.print_exc()
        run.error_message = error
        run.emulated_state = "FAILED" if error else "SUCCEEDED"
        self.on_event(GlueEvent(job.name, run.emulated_state, arguments, summary, error))
