"""The README's tour of the retail lake ("Try it" and "The examples"), run as written on the lake the retail demo
saved: every command of those sections in one bash session (the time-travel example sets a shell variable), from a
folder with the checkout's `.venv`, against the saved lake without a running `lakehouse up`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.test_readme import README, bash_commands

from .conftest import REPO, RetailDemo

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def _section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    return README[start:README.index("\n## ", start + 1)]


def test_the_tour_runs_as_written_and_prints_what_the_readme_shows(retail_demo: RetailDemo, tmp_path: Path) -> None:
    assert retail_demo.code == 0, retail_demo.printed
    commands = bash_commands(_section("Try it") + _section("The examples"))
    assert len(commands) >= 6 and all(c.startswith((".venv/bin/lakehouse ", "FIRST=$(")) for c in commands), commands
    (tmp_path / ".venv").symlink_to(REPO / ".venv")
    markers = [f'echo "=== {i}"\n{command}' for i, command in enumerate(commands)]
    done = subprocess.run(
        ["bash", "-ec", "\n".join(markers)], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=600,
        env={"PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
             "LAKEHOUSE_HOME": str(retail_demo.home), "LAKEHOUSE_PIPELINES_DIR": str(retail_demo.pipelines)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    parts = re.split(r"^=== (\d+)$", done.stdout, flags=re.MULTILINE)[1:]
    printed = {commands[int(i)]: text for i, text in zip(parts[::2], parts[1::2])}

    # the sales report as the README prints it: its first and last months, 29 in all
    report = next(text for command, text in printed.items()
                  if "FROM presentation.sales_report" in command and "--json" not in command)
    shown = re.search(r"```\n(sales_year .*?)```", _section("Try it"), re.DOTALL)
    assert shown is not None
    for line in shown.group(1).splitlines():
        if line != "...":
            assert line.rstrip() in [row.rstrip() for row in report.splitlines()], line
    # time travel: the first snapshot has batch 1's ratings, none with a time
    travelled = next(text for command, text in printed.items() if "FOR VERSION AS OF $FIRST" in command)
    assert re.search(r"^420\s+0\s*$", travelled, re.MULTILINE), travelled
    assert "flowchart LR" in next(text for command, text in printed.items() if "graph --pipeline retail" in command)
