"""A quiet console: progress lines and reports on the terminal, everything else in a log file.

The function's JSON log lines, Spark's and the JVM's banners, Python warnings and library logging all go to
``.lakehouse/logs/<command>-<time>.log``, whose path is printed first; ``--verbose`` leaves them on the terminal.
The redirection is of the process's file descriptor 2, so output of the JVM (Spark) and of native libraries is
caught too, not only Python's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TextIO

from .home import home, shown

KEEP_LOGS = 50  # the newest log files kept in .lakehouse/logs


def log_dir() -> Path:
    return home() / "logs"


def _configure_logging(stream: TextIO, verbose: bool, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("botocore", "boto3", "urllib3", "werkzeug", "py4j", "s3transfer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not verbose:  # moto logs every caught state failure at ERROR; the report shows the failure instead
        logging.getLogger("moto").setLevel(logging.CRITICAL)


def _prune(folder: Path) -> None:
    logs = sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime)
    for old in logs[:-KEEP_LOGS]:
        old.unlink(missing_ok=True)


@contextlib.contextmanager
def quiet(command: str, verbose: bool, out: TextIO | None = None,
          announce: bool = True) -> Iterator[tuple[Callable[[str], None], TextIO | None]]:
    """Yields ``(say, log)``: ``say`` prints a progress line on the terminal (``out``: stdout, or stderr when
    stdout carries JSON), ``log`` is where the function's log lines go: the log file, or stderr when verbose.

    ``announce``: print the log file's path first (long commands, whose log one may follow); otherwise it is
    printed at the end, and only when something was logged (a short command that logged nothing leaves no file).
    """
    terminal = out or sys.stdout
    with contextlib.ExitStack() as stack:
        stack.callback(_restore_logging, *_saved_logging())  # later logging must not write to a closed stream
        if verbose:  # the function's log lines, library logging and the JVM's output stay on the terminal (stderr)
            _configure_logging(sys.stderr, verbose=True)
            yield (lambda text: print(text, file=terminal, flush=True)), sys.stderr
            return
        if terminal is sys.stderr:  # descriptor 2 is about to become the log file: keep the terminal's own
            sys.stderr.flush()
            terminal = stack.enter_context(os.fdopen(os.dup(2), "w", buffering=1))
        yield from _to_log_file(command, terminal, announce)


def _saved_logging() -> tuple[list[logging.Handler], int]:
    root = logging.getLogger()
    return list(root.handlers), root.level


def _restore_logging(handlers: list[logging.Handler], level: int) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _to_log_file(command: str, terminal: TextIO, announce: bool) -> Iterator[tuple[Callable[[str], None], TextIO]]:
    def say(text: str) -> None:
        print(text, file=terminal, flush=True)

    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    _prune(folder)
    path = folder / f"{command}-{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    log = path.open("a", encoding="utf-8", buffering=1)
    if announce:
        say(f"logs: {shown(path)}")
    sys.stderr.flush()
    saved_fd = os.dup(2)
    saved_stderr = sys.stderr
    os.dup2(log.fileno(), 2)
    sys.stderr = log
    # a short command's log file is shown only when it holds something: libraries' INFO lines are not that
    _configure_logging(log, verbose=False, level=logging.INFO if announce else logging.WARNING)
    try:
        with warnings.catch_warnings():
            def to_log(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                       file: TextIO | None = None, line: str | None = None) -> None:
                log.write(warnings.formatwarning(message, category, filename, lineno, line))

            warnings.showwarning = to_log
            yield say, log
    except BaseException:
        import traceback

        traceback.print_exc(file=log)
        say(f"failed: see {shown(path)}")
        raise
    finally:
        log.flush()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        sys.stderr = saved_stderr
        log.close()
        if not announce:
            if path.stat().st_size:
                say(f"logs: {shown(path)}")
            else:
                path.unlink(missing_ok=True)
