"""The quiet console: progress on the terminal, everything written to descriptor 2 (a JVM banner, a library's warning,
a log line) in the log file whose path is printed; --verbose leaves it all on the terminal."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest
from lakehouse_local.console import quiet


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    return tmp_path


def _noise() -> None:
    os.write(2, b"SLF4J: a banner from native code\n")
    logging.getLogger("py4j").warning("a library warning")
    warnings.warn("a Python warning", UserWarning, stacklevel=1)


def test_progress_on_the_terminal_and_the_rest_in_the_log_file(home: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with quiet("demo", verbose=False) as (say, log):
        say("batch 1: uploaded 6 files")
        _noise()
        assert log is not None
        log.write('{"level": "INFO", "message": "a function log line"}\n')
    out, err = capfd.readouterr()
    assert out.splitlines()[1:] == ["batch 1: uploaded 6 files"] and err == ""
    path = home / "logs" / out.splitlines()[0].removeprefix("logs: ").split("/logs/")[-1]
    logged = path.read_text()
    for text in ("SLF4J: a banner", "a library warning", "a Python warning", "a function log line"):
        assert text in logged


def test_verbose_leaves_everything_on_the_terminal(home: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with quiet("demo", verbose=True) as (say, log):
        say("progress")
        os.write(2, b"SLF4J: a banner\n")
        assert log is not None
        log.write("a function log line\n")
    out, err = capfd.readouterr()
    assert out == "progress\n" and "SLF4J: a banner" in err and "a function log line" in err
    assert not (home / "logs").exists()


def test_a_short_command_shows_its_log_only_when_something_was_logged(home: Path,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    with quiet("status", verbose=False, announce=False):
        logging.getLogger("pyiceberg.io").info("Loaded FileIO")  # below WARNING: not worth a log file
    assert capfd.readouterr().out == "" and not list((home / "logs").glob("*.log"))
    with quiet("status", verbose=False, announce=False):
        logging.getLogger("moto").critical("something went wrong")
    assert capfd.readouterr().out.startswith("logs: ")


def test_logging_after_the_command_does_not_write_to_its_closed_log_file(home: Path,
                                                                         capfd: pytest.CaptureFixture[str]) -> None:
    """A later command in the same process (a query after a demo) logged '--- Logging error --- I/O operation on
    closed file' on every library log line: the log file's handler outlived the command."""
    root = logging.getLogger()
    before = list(root.handlers)
    with quiet("demo", verbose=False):
        logging.getLogger("pyiceberg.io").warning("during the command")
    assert root.handlers == before
    logging.getLogger("pyiceberg.io").warning("after the command")
    assert "Logging error" not in capfd.readouterr().err
