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

from .stack import REPO

LOG_DIR = REPO / ".lakehouse" / "logs"


def _configure_logging(stream: TextIO, verbose: bool) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in ("botocore", "boto3", "urllib3", "werkzeug", "py4j", "s3transfer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if not verbose:  # moto logs every caught state failure at ERROR; the report shows the failure instead
        logging.getLogger("moto").setLevel(logging.CRITICAL)


@contextlib.contextmanager
def quiet(command: str, verbose: bool, out: TextIO | None = None) -> Iterator[tuple[Callable[[str], None], TextIO | None]]:
    """Yields ``(say, log)``: ``say`` prints a progress line on the terminal, ``log`` is the log file (None when
    verbose: then everything stays on the terminal)."""
    terminal = out or sys.stdout

    def say(text: str) -> None:
        print(text, file=terminal, flush=True)

    if verbose:
        _configure_logging(sys.stderr, verbose=True)
        yield say, None
        return
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / f"{command}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.log"
    log = path.open("a", encoding="utf-8", buffering=1)
    say(f"logs: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    sys.stderr.flush()
    saved_fd = os.dup(2)
    saved_stderr = sys.stderr
    os.dup2(log.fileno(), 2)
    sys.stderr = log
    _configure_logging(log, verbose=False)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: log.write(
                warnings.formatwarning(message, category, filename, lineno, line))
            yield say, log
    except BaseException:
        import traceback

        traceback.print_exc(file=log)
        say(f"failed: see {path}")
        raise
    finally:
        log.flush()
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        sys.stderr = saved_stderr
        log.close()
