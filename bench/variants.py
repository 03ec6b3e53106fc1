"""The real-world shapes of each benchmark input (no heavy imports: bench/run.py reads this in its own process,
which must stay small, see run.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quirks:
    """File-level traits of one real-world shape of a source's files."""

    crlf: bool = False  # CRLF line endings (exported on Windows)
    quote_request: bool = False  # the request field in double quotes, as the workshop's log writer emits it
    final_newline: bool = True  # False: the last line has no terminator


# Per generator kind, the shapes a landing folder really mixes (bench/generate.py says where each comes from).
# bench/run.py rotates them over its rounds, so a share of the runs converts each one; the first is the workshop
# extract as its instructions show it.
VARIANTS: dict[str, dict[str, Quirks]] = {
    "weblogs": {
        "lf": Quirks(),
        "crlf-quoted": Quirks(crlf=True, quote_request=True, final_newline=False),
    },
    "accelerometer": {"lf": Quirks()},
}
