"""The README's commands as a user types them: every command it shows must work as written on a fresh clone.

Each command of the README's ``bash`` blocks is checked without an AWS account:
- ``make X``: X is a target of the Makefile;
- ``.venv/bin/lakehouse ...``: the arguments parse with the command's own parser, and the files they name exist;
- ``.venv/bin/aws``, ``.venv/bin/sam``: ``make setup`` installs the tool, and the local files they name exist.
The commands that need neither AWS nor a lake run here for real, in a scratch copy of pipelines/. The ones that need
the local lake run where one is built: the "Try it" queries in tests/retail/test_readme_tour.py on the retail lab's
lake, `lakehouse up` with the AWS CLI and the operator commands in tests/e2e/test_up.py, the demos in tests/e2e and
tests/retail. Commands with ``--stack`` need a deployed stack and are only parsed (tests/ops runs them on moto).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from lakehouse_local.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
TOOLS = {".venv/bin/lakehouse", ".venv/bin/aws", ".venv/bin/sam", "make"}


def bash_commands(text: str = README) -> list[str]:
    """Every command of the ``bash`` blocks, continuation lines joined, comments kept out."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        pending = ""
        for line in block.replace("\\\n", " ").splitlines():
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            pending = f"{pending}\n{line.strip()}" if pending else line.strip()
            try:
                shlex.split(pending, comments=True)
            except ValueError:  # a quoted string goes on over the next line
                continue
            commands.append(pending)
            pending = ""
        assert not pending, f"unterminated command in the README: {pending}"
    return commands


def invocations(command: str) -> list[list[str]]:
    """Each tool invocation inside a command line (after ``VAR=$(``, before ``|`` or ``#``), as argv."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    found, current = [], None
    for token in tokens:
        tool = token.rsplit("$", 1)[-1]
        if current is None and (tool in TOOLS or token in TOOLS):
            current = [tool]
        elif current is not None and set(token) <= set("|&;()<>"):
            found.append(current)
            current = None
        elif current is not None:
            current.append(token)
    if current is not None:
        found.append(current)
    return found


COMMANDS = bash_commands()
LAKEHOUSE = [argv[1:] for c in COMMANDS for argv in invocations(c) if argv[0] == ".venv/bin/lakehouse"]


def test_the_readme_starts_with_the_two_commands() -> None:
    assert COMMANDS[0].split("#")[0].strip() == "make demo" and COMMANDS[1].split("#")[0].strip() == "make test"


def test_every_make_target_exists() -> None:
    targets = set(re.findall(r"^([a-z][a-z-]*):", (REPO / "Makefile").read_text(encoding="utf-8"), re.MULTILINE))
    used = {argv[1] for c in COMMANDS for argv in invocations(c) if argv[0] == "make"}
    assert used and used <= targets, used - targets


@pytest.mark.parametrize("argv", LAKEHOUSE, ids=[" ".join(a)[:60] for a in LAKEHOUSE])
def test_every_lakehouse_command_parses_and_names_existing_files(argv: list[str]) -> None:
    build_parser().parse_args(argv)  # argparse exits (SystemExit) on an unknown flag or value
    for arg in argv:
        if re.match(r"^(pipelines|events|tests)/", arg):
            assert (REPO / arg).exists(), f"{' '.join(argv)}: {arg} does not exist"


def test_aws_and_sam_name_files_that_exist_and_come_with_make_setup() -> None:
    requirements = (REPO / "requirements-dev.txt").read_text(encoding="utf-8").lower()
    assert re.search(r"^awscli==", requirements, re.MULTILINE) and re.search(r"^aws-sam-cli==", requirements,
                                                                             re.MULTILINE)
    for command in COMMANDS:
        for argv in invocations(command):
            if argv[0] in (".venv/bin/aws", ".venv/bin/sam"):
                for arg in argv:
                    path = arg.removeprefix("file://")
                    if re.match(r"^(pipelines|events)/", path):
                        assert (REPO / path).exists(), f"{command}: {path} does not exist"


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / ".venv").exists() or (cwd / ".venv").symlink_to(REPO / ".venv")
    return subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True, check=False, timeout=300,
                          env={"PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin", "HOME": str(cwd),
                               "LAKEHOUSE_HOME": str(cwd / ".lakehouse")})


def test_convert_checks_a_sample_as_written(tmp_path: Path) -> None:
    (command,) = [c for c in COMMANDS if " convert " in c]
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    result = _run(command.replace("/tmp/out", str(tmp_path / "out")), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status": "converted"' in result.stdout
    assert list((tmp_path / "out").rglob("*.parquet"))


def test_graph_and_the_new_pipeline_walkthrough_run_as_written(tmp_path: Path) -> None:
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    (scaffold,) = [c for c in COMMANDS if "lakehouse new pipeline" in c]
    result = _run(scaffold, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    shop = tmp_path / "pipelines" / "shop"
    for written in ("contracts/payments.yaml", "steps/payments_trusted.sql", "pipeline.yaml",
                    "samples/shop/payments/payments-2003-2004.csv"):
        assert (shop / written).is_file(), written  # the README names these files
    assert "raw.shop_payments" in (shop / "steps" / "payments_trusted.sql").read_text(encoding="utf-8")
    for graph in [c for c in COMMANDS if "lakehouse graph" in c and "--output" not in c]:
        result = _run(graph, tmp_path)
        assert result.returncode == 0 and result.stdout.startswith("flowchart LR"), result.stderr
