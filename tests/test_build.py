"""The deployable artifacts: the template validates and lints, `sam build` works offline from AWS, and the
built function runs from its layers alone, inside Lambda's size limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lakehouse_local.bundle import LAMBDA_LIMIT_MB, bundle_sizes, lambda_pythonpath

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / ".aws-sam" / "build"
SAM = [str(Path(sys.executable).parent / "sam")]
ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0"}

pytestmark = pytest.mark.slow


def test_sam_validate_lint():
    result = subprocess.run(
        SAM + ["validate", "--lint", "--region", "us-east-1"], cwd=REPO, env=ENV, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def built() -> Path:
    result = subprocess.run(
        SAM + ["build", "--parallel", "--cached"], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return BUILD


def test_every_function_with_its_layers_fits_lambdas_limit(built):
    bundles = bundle_sizes(built)
    assert bundles, "sam build produced no function"
    for bundle in bundles:
        layers = ", ".join(f"{name} {mb:.1f} MB" for name, mb in bundle.layers_mb.items())
        print(f"{bundle.function}: {bundle.total_mb:.1f} MB unzipped (code {bundle.code_mb:.2f} MB; {layers})")
        assert bundle.total_mb < LAMBDA_LIMIT_MB, f"{bundle.function} is {bundle.total_mb:.0f} MB unzipped"


def test_the_built_function_converts_from_its_layers_alone(built, tmp_path):
    """Python without site-packages, with only the function, its layers and what the runtime ships."""
    path = lambda_pythonpath(built, "ConvertFunction", tmp_path)
    script = f"""
import io, json, datetime, pathlib
import app  # the handler module imports cleanly
from lakehouse.contracts import ContractRegistry
from lakehouse.convert import convert
from lakehouse.outcomes import Lineage
import pyarrow.parquet as pq
contract = ContractRegistry.from_directory({str(REPO / 'pipelines')!r}).get("weblogs", "useractivity")
body = b"ip_address,username,timestamp,request,http,bytes\\n10.0.0.1,a,17/Jan/2018:10:43:54,GET /x,200,5\\n"
out = pathlib.Path({str(tmp_path / 'out')!r})
result = convert(lambda: io.BytesIO(body), contract, key="weblogs/useractivity/a.csv",
                 lineage=Lineage("k", "v", datetime.datetime.now(datetime.timezone.utc)), out_dir=out, work_dir=out.parent)
print(json.dumps({{"rows": result.rows_written, "read_back": pq.read_table(out / result.outputs[0].path).num_rows}}))
"""
    result = subprocess.run(
        [sys.executable, "-S", "-c", script], env={"PYTHONPATH": path, "PATH": os.environ["PATH"]},
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"rows": 1, "read_back": 1}
