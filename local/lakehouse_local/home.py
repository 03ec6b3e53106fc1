"""Where the local lake keeps its files, and which pipelines folder the commands use.

``.lakehouse/`` (or ``$LAKEHOUSE_HOME``) holds ``state/`` (the saved lake), ``up.json`` (the running `lakehouse up`),
``lake.lock`` (held by the one process that runs the lake), ``logs/`` and the generated files that `up` prints.
Tests point ``LAKEHOUSE_HOME`` at a temporary folder, so they never touch a developer's lake.
"""

from __future__ import annotations

import os
from pathlib import Path

from .stack import REPO


def home() -> Path:
    """``$LAKEHOUSE_HOME``, else ``.lakehouse/`` in this checkout."""
    value = os.environ.get("LAKEHOUSE_HOME")
    return Path(value).resolve() if value else REPO / ".lakehouse"


def default_pipelines() -> Path:
    """``$LAKEHOUSE_PIPELINES_DIR``, else ``./pipelines``, else this checkout's ``pipelines/`` (commands work from
    any folder)."""
    if os.environ.get("LAKEHOUSE_PIPELINES_DIR"):
        return Path(os.environ["LAKEHOUSE_PIPELINES_DIR"]).resolve()
    here = Path("pipelines")
    return here.resolve() if here.is_dir() else REPO / "pipelines"


def shown(path: Path) -> str:
    """A path as printed: relative to the checkout when inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
