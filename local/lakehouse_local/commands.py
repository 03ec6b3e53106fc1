"""Commands of the local emulation (`lakehouse demo`, `lakehouse up`); registered by cli.build_parser."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001 - argparse's own type
    """Adds the local-emulation subcommands; none yet."""
