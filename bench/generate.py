"""Deterministic, vectorised generation of the benchmark inputs (no Python loop per row).

Each file is built in chunks of rows: numpy draws integer codes from a seeded generator, pyarrow turns them
into strings and joins them into lines, and the raw bytes of the joined string array are written as they are
(every line already ends in "\\n"). Same seed and size => byte-for-byte the same file.

    python bench/generate.py weblogs 250 /tmp/useractivity.csv [SEED]
    python bench/generate.py accelerometer 250 /tmp/accelerometer.jsonl
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

SEED = 20261122
CHUNK_ROWS = 500_000
MB = 1_000_000

_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DATES = pa.array([f"{d:02d}/{m}/2018" for m in _MONTHS for d in range(1, 29)])
_TIMES = pa.array([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])
_METHODS = ["GET", "GET", "GET", "POST", "PUT", "DELETE"]
_ANIMALS = ["Cats", "Dogs", "Fish", "Birds", "Reptiles", "Small_Pets"]
_THINGS = ["Food", "Treats", "Toys", "Tanks", "Beds", "Collars", "Cages", "Bowls", "Health", "Grooming"]
_REQUESTS = pa.array([f"{m} /petstore/{a}/{t}" for m in _METHODS for a in _ANIMALS for t in _THINGS])
_STATUS = pa.array([200, 200, 200, 200, 200, 200, 304, 304, 404, 500], pa.int32())
_FIRST = ["ana", "ben", "chloe", "dev", "eva", "farid", "grace", "hiro", "ines", "jon", "kemi", "luca"]
_LAST = ["abbott", "baker", "castro", "diaz", "evans", "fischer", "garcia", "huang", "ivanova", "jensen"]
_EMAILS = pa.array([f"{f}.{l}{i}@example.com" for f in _FIRST for l in _LAST for i in range(10)])


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def weblogs_chunk(rng: np.random.Generator, n: int) -> pa.Array:
    """Lines of the weblogs ``useractivity`` CSV (valid against its contract)."""
    ip = _join("10.", _str(rng.integers(0, 256, n)), ".", _str(rng.integers(0, 256, n)), ".",
               _str(rng.integers(1, 255, n)))
    user = _join("user", _str(rng.integers(0, 100_000, n)))
    ts = _join(_DATES.take(pa.array(rng.integers(0, len(_DATES), n))), ":",
               _TIMES.take(pa.array(rng.integers(0, len(_TIMES), n))))
    request = _REQUESTS.take(pa.array(rng.integers(0, len(_REQUESTS), n)))
    http = pc.cast(_STATUS.take(pa.array(rng.integers(0, len(_STATUS), n))), pa.string())
    size = _str(rng.integers(0, 60_000, n))
    return pc.binary_join_element_wise(ip, user, ts, request, http, _join(size, "\n"), ",")


def accelerometer_chunk(rng: np.random.Generator, n: int, start: int) -> pa.Array:
    """Lines of the STEDI ``accelerometer`` JSON-lines file (valid against its contract)."""
    user = _EMAILS.take(pa.array(rng.integers(0, len(_EMAILS), n)))
    ts = _str(1767225600000 + (np.arange(start, start + n, dtype=np.int64) * 200))
    x, y, z = (_str(np.round(rng.uniform(-1.5, 1.5, n), 3)) for _ in range(3))
    return _join('{"user":"', user, '","timestamp":', ts, ',"x":', x, ',"y":', y, ',"z":', z, "}\n")


HEADERS = {"weblogs": b"ip_address,username,timestamp,request,http,bytes\n", "accelerometer": b""}


def _raw_bytes(lines: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array (its data buffer between the first and last offset)."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    _, offsets, data = lines.buffers()
    off = np.frombuffer(offsets, dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    return memoryview(data)[int(off[0]) : int(off[-1])]


def generate(kind: str, size_mb: float, path: Path, seed: int = SEED) -> dict:
    """Write about ``size_mb`` MB (10^6 bytes) of ``kind`` rows to ``path``; returns rows and bytes."""
    rng = np.random.default_rng(seed)
    target = int(size_mb * MB)
    rows = 0
    written = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        written += out.write(HEADERS[kind])
        while written < target:
            n = min(CHUNK_ROWS, max(1_000, target // 100))  # first chunk: lines are ~80-100 bytes
            if rows:  # last chunk: only as many rows as the size still needs
                n = max(1, min(n, int((target - written) / (written / rows)) + 1))
            lines = weblogs_chunk(rng, n) if kind == "weblogs" else accelerometer_chunk(rng, n, rows)
            written += out.write(_raw_bytes(lines))
            rows += n
    return {"kind": kind, "path": str(path), "rows": rows, "bytes": written}


if __name__ == "__main__":
    import json

    kind, size, target = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else SEED
    print(json.dumps(generate(kind, size, target, seed)))
