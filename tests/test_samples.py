"""The generated samples of the STEDI and weblogs pipelines are what tests/samples/generate.py writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import PIPELINES, REPO


def test_samples_are_generated_deterministically(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "tests" / "samples" / "generate.py"), str(tmp_path)], check=True,
                   capture_output=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert {p.parts[0] for p in generated} == {"stedi", "weblogs"}
    for relative in generated:
        assert (tmp_path / relative).read_bytes() == (PIPELINES / relative).read_bytes(), \
            f"{relative} is stale: run python tests/samples/generate.py"
