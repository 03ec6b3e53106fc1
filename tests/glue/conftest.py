"""The Glue job on local Spark, inside the local stack (the harness `lakehouse demo` uses): landing files go through
the real converter into the raw zone, steps run as Glue job runs of the real job against the local S3 and Glue
catalog through Iceberg's GlueCatalog and S3FileIO, and tables are read back with the local query engine."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lakehouse.ledger import now
from lakehouse_local.lake import ZONE_DATABASES, LocalLake
from lakehouse_local.query import LocalQuery

REPO = Path(__file__).resolve().parents[2]
PIPELINES = REPO / "pipelines"


@dataclass
class GlueLake:
    lake: LocalLake
    pipelines: Path  # the copy the converter and the job read; tests may change it

    @property
    def job(self) -> str:
        return str(self.lake.stack.outputs["PipelineStepJobName"])

    def land(self, files: dict[str, bytes]) -> dict[str, Any]:
        """Upload files under their landing keys and wait until each has an outcome."""
        s3 = self.lake.aws.client("s3")
        since = now()
        for key, body in files.items():
            s3.put_object(Bucket=self.lake.landing_bucket, Key=key, Body=body)
        entries = self.lake.wait_for_objects(list(files), since)
        return {key: entries[key] for key in files}

    def land_folder(self, folder: Path) -> dict[str, Any]:
        return self.land({p.relative_to(folder).as_posix(): p.read_bytes()
                          for p in sorted(folder.rglob("*")) if p.is_file()})

    def run_step(self, pipeline: str, step: str, *, full_refresh: bool = False) -> dict[str, Any]:
        """One Glue job run of the step, as the state machine starts it; returns the job's JSON summary."""
        glue = self.lake.aws.client("glue")
        run_id = glue.start_job_run(JobName=self.job, Arguments={
            "--pipeline": pipeline, "--step": step, "--full-refresh": str(full_refresh).lower()})["JobRunId"]
        deadline = time.monotonic() + 300
        while True:
            run = glue.get_job_run(JobName=self.job, RunId=run_id)["JobRun"]
            if run["JobRunState"] not in ("STARTING", "RUNNING"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{step}: job run still {run['JobRunState']}")
            time.sleep(0.2)
        summary = next(e.summary for e in reversed(self.lake.glue_events) if e.arguments.get("--step") == step)
        return {**summary, "state": run["JobRunState"], "error": run.get("ErrorMessage")}

    def query(self, sql: str) -> list[dict[str, Any]]:
        engine = LocalQuery(self.lake.aws.client, self.lake.aws.endpoint,
                            {z: str(self.lake.stack.outputs[k]) for z, k in ZONE_DATABASES.items()})
        return list(engine.run(sql).to_pylist())

    def write(self, relative: str, text: str) -> None:
        """Change a file of the lake's pipelines (a new contract or SQL, as a new deployment would bring)."""
        path = self.pipelines / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        reload = getattr(self.lake.poller.invoke if self.lake.poller else None, "reload", None)
        if reload is not None:
            reload()  # the converter reads contracts at its cold start: a new deployment starts a new container


@pytest.fixture(scope="module")
def glue_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlueLake]:
    pipelines = tmp_path_factory.mktemp("lake") / "pipelines"
    shutil.copytree(PIPELINES, pipelines)
    lake = LocalLake.start(pipelines_dir=pipelines)
    yield GlueLake(lake, pipelines)
    lake.stop()
