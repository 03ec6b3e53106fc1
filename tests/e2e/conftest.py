"""End-to-end fixtures: landing folders shaped like a user's, built from the bundled samples."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "pipelines"


def landing_folder(root: Path, pipeline: str, datasets: list[str] | None = None, rename: bool = False) -> Path:
    """A folder whose relative paths are landing keys (<pipeline>/<dataset>/<file>), from the bundled samples."""
    source = SAMPLES / pipeline / "samples" / pipeline
    for dataset_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        if datasets is not None and dataset_dir.name not in datasets:
            continue
        target = root / pipeline / dataset_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for file in sorted(dataset_dir.iterdir()):
            shutil.copy(file, target / (f"user-{file.name}" if rename else file.name))
    return root


@pytest.fixture
def stedi_landing(tmp_path: Path) -> Path:
    """A user's folder of STEDI-shaped files (the sample files under other names)."""
    return landing_folder(tmp_path / "landing", "stedi", rename=True)


@pytest.fixture
def accelerometer_only_landing(tmp_path: Path) -> Path:
    return landing_folder(tmp_path / "landing", "stedi", ["accelerometer"])
