"""Deterministic, vectorised generation of the benchmark inputs in their sources' real formats.

Each file is built in chunks of rows: numpy draws integer codes from a seeded generator, pyarrow turns them
into strings and joins them into lines, and the raw bytes of the joined string array are written as they are.
No Python loop runs per row. Same seed, size and variant => byte-for-byte the same file.

    python bench/generate.py weblogs 250 /tmp/useractivity.csv [SEED] [VARIANT]
    python bench/generate.py accelerometer 250 /tmp/accelerometer.jsonl

The shapes follow the public sources, not the contracts (a benchmark input written to fit its contract proves
nothing about real files):

- weblogs ``useractivity``: the AWS serverless data lake workshop (aws-samples/amazon-serverless-datalake-workshop).
  Its instructions show ``29.152.175.209,nealaoaaoc9,6/Jan/2018:06:51:54,GET /petstore/Bird/Treats,200,419`` and
  its Glue lab parses the timestamp with ``d/MMM/yyyy:HH:mm:ss``: the day of month is NOT zero-padded, the time
  is. IPv4 addresses over the whole range (``0.32.193.205`` appears), 1,000 users with one fixed address each
  (sample-data/profile.csv), usernames of ten lowercase letters and a digit as in its extract, GET/POST/PUT/DELETE on /petstore/<Bird|Cats|Dogs|Fish>/<page>, status 200
  and 500 among others, 300-1000 bytes, years 2017-2018. The workshop's own log writer (src/writelogs.py) quotes
  the request field (``...,"GET /petstore/Cats/Treats",200,314``). The source has no IPv6 addresses, so none are
  generated. Real landing folders mix files of more than one shape, hence the variants (bench/variants.py).
- STEDI ``accelerometer``: Udacity's nd027 project landing files (``accelerometer-1691348231445.json``):
  ``{"user":"Santosh.Clayton@test.com","timestamp":1655564444103,"x":1.0,"y":-1.0,"z":-1.0}``, one object per
  LF-terminated line; rows come in runs per user with timestamps (epoch ms) going back a few seconds at a
  time, often repeated; x and y are each -1.0, 0.0 or 1.0, z -1.0 or 0.0. The source's files are uniform, so there is one
  variant.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from variants import VARIANTS, Quirks

SEED = 20261122
CHUNK_ROWS = 500_000
MB = 1_000_000


_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]  # 2017 and 2018 are not leap years
# Day of month unpadded (6/Jan/2018), as the workshop's files and its Glue lab's d/MMM/yyyy pattern have it.
_DATES = pa.array([f"{d}/{m}/{y}" for y in (2017, 2018) for m, n in zip(_MONTHS, _DAYS_IN_MONTH) for d in range(1, n + 1)])
_TIMES = pa.array([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])
_METHODS = ["GET", "POST", "PUT", "DELETE"]
_METHOD_P = [0.70, 0.15, 0.10, 0.05]
_ANIMALS = ["Bird", "Cats", "Dogs", "Fish"]
_PAGES = ["Food", "Treats", "DryFood", "WetFood", "CannedFood", "FoodToppers", "Feeders", "PlantCare", "Etc"]
_REQUESTS = [f"{m} /petstore/{a}/{p}" for m in _METHODS for a in _ANIMALS for p in _PAGES]
_STATUS = pa.array(["200", "304", "404", "500"])
_STATUS_P = [0.86, 0.04, 0.04, 0.06]
# The workshop's user base: sample-data/profile.csv holds 1,000 profiles, each with one IP address, and its log
# writer draws every request from such a list. (The previous generator's 100,000 users, with addresses drawn
# per row, made the log far less compressible than the source's: 0.29x instead of ~0.2x in Parquet.)
WEBLOG_USERS = 1_000

_FIRST = ["Santosh", "Ben", "Frank", "David", "Edward", "Jane", "Jaya", "Jerry", "Jacob", "Neeraj", "Sarah",
          "Chris", "Eric", "Christina", "Craig", "Jason", "Senthil", "Anna", "Lyn", "Liz"]
_LAST = ["Clayton", "Khatib", "Hansen", "Jones", "Staples", "Gonzalez", "Jackson", "Jefferson", "Habschied",
         "Olson", "Smith", "Anandh", "Davis", "Doshi", "Howard", "Phillips", "Wu", "Lincoln", "Mitra", "Taylor"]
_EMAILS = pa.array([f"{f}.{last}@test.com" for f in _FIRST for last in _LAST])
_AXIS = pa.array(["-1.0", "0.0", "1.0"])
_Z_AXIS = pa.array(["-1.0", "0.0"])  # the source's z is never 1.0
_EPOCH_MS = 1_655_564_000_000  # June 2022, where the STEDI landing files are
_SPREAD_MS = 30 * 86_400_000


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _pick(pool: pa.Array, rng: np.random.Generator, n: int, p: list[float] | None = None) -> pa.Array:
    return pool.take(pa.array(rng.choice(len(pool), size=n, p=p)))


@dataclass(frozen=True)
class WeblogUsers:
    """The site's users: a username and the one address it logs from (the workshop's log writer pairs them)."""

    names: pa.Array
    ips: pa.Array

    @classmethod
    def draw(cls, rng: np.random.Generator, count: int = WEBLOG_USERS) -> WeblogUsers:
        letters = rng.integers(ord("a"), ord("z") + 1, (count, 11), dtype=np.uint8)
        letters[:, 10] = rng.integers(ord("0"), ord("9") + 1, count, dtype=np.uint8)
        names = pa.array(letters.view("S11").ravel().astype("U11"))
        octets = [_str(rng.integers(0, 256, count)) for _ in range(4)]
        ips = pc.binary_join_element_wise(*octets, ".")
        return cls(names, ips)


def weblogs_chunk(rng: np.random.Generator, n: int, users: WeblogUsers, quirks: Quirks) -> pa.Array:
    """Lines of the workshop's ``useractivity`` CSV, each ending in the variant's line terminator."""
    who = pa.array(rng.integers(0, len(users.names), n))
    ts = _join(_DATES.take(pa.array(rng.integers(0, len(_DATES), n))), ":",
               _TIMES.take(pa.array(rng.integers(0, len(_TIMES), n))))
    method = rng.choice(len(_METHODS), size=n, p=_METHOD_P)
    page = rng.integers(0, len(_ANIMALS) * len(_PAGES), n)
    requests = pa.array([f'"{r}"' for r in _REQUESTS] if quirks.quote_request else _REQUESTS)
    request = requests.take(pa.array(method * len(_ANIMALS) * len(_PAGES) + page))
    size = _str(rng.integers(300, 1001, n))
    end = "\r\n" if quirks.crlf else "\n"
    return pc.binary_join_element_wise(users.ips.take(who), users.names.take(who), ts, request,
                                       _pick(_STATUS, rng, n, _STATUS_P), _join(size, end), ",")


def accelerometer_chunk(rng: np.random.Generator, n: int, quirks: Quirks) -> pa.Array:
    """Lines of a STEDI ``accelerometer`` landing file: runs of readings per user, timestamps stepping back."""
    lengths = rng.integers(3, 30, n // 3 + 1)  # a run per user session; enough runs to cover n rows
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), n)) + 1]
    run = np.repeat(np.arange(len(lengths)), lengths)[:n]
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    # Each reading is 0 ms (a repeated timestamp, as in the source) or 2-30 s before the previous one.
    steps = np.where(rng.random(n) < 0.3, 0, rng.integers(2_000, 30_000, n))
    steps[starts] = 0  # every run starts at its own timestamp
    back = np.cumsum(steps) - np.cumsum(steps)[starts][run]
    ts = _EPOCH_MS + rng.integers(0, _SPREAD_MS, len(lengths))[run] - back
    user = _EMAILS.take(pa.array(rng.integers(0, len(_EMAILS), len(lengths))[run]))
    x, y, z = (axis.take(pa.array(rng.integers(0, len(axis), n))) for axis in (_AXIS, _AXIS, _Z_AXIS))
    end = "}\r\n" if quirks.crlf else "}\n"
    return _join('{"user":"', user, '","timestamp":', _str(ts), ',"x":', x, ',"y":', y, ',"z":', z, end)


HEADERS = {"weblogs": "ip_address,username,timestamp,request,http,bytes", "accelerometer": None}


def _raw_bytes(lines: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array (its data buffer between the first and last offset)."""
    lines = lines.cast(pa.large_string()) if lines.type != pa.large_string() else lines
    _, offsets, data = lines.buffers()
    off = np.frombuffer(offsets, dtype=np.int64, count=len(lines) + 1, offset=lines.offset * 8)
    return memoryview(data)[int(off[0]) : int(off[-1])]


def generate(kind: str, size_mb: float, path: Path, seed: int = SEED, variant: str | None = None) -> dict:
    """Write about ``size_mb`` MB (10^6 bytes) of ``kind`` rows to ``path``; returns rows, bytes and variant."""
    variant = variant or next(iter(VARIANTS[kind]))
    quirks = VARIANTS[kind][variant]
    rng = np.random.default_rng(seed)
    users = WeblogUsers.draw(rng) if kind == "weblogs" else None
    target = int(size_mb * MB)
    rows = 0
    written = 0
    end = b"\r\n" if quirks.crlf else b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        if header := HEADERS[kind]:
            written += out.write(header.encode() + end)
        while written < target:
            n = min(CHUNK_ROWS, max(1_000, target // 100))  # first chunk: lines are ~60-90 bytes
            if rows:  # last chunk: only as many rows as the size still needs
                n = max(1, min(n, int((target - written) / (written / rows)) + 1))
            lines = weblogs_chunk(rng, n, users, quirks) if users else accelerometer_chunk(rng, n, quirks)
            written += out.write(_raw_bytes(lines))
            rows += n
        if not quirks.final_newline:
            written -= len(end)
            out.truncate(written)
    return {"kind": kind, "variant": variant, "path": str(path), "rows": rows, "bytes": written}


if __name__ == "__main__":
    import json

    kind, size, target = sys.argv[1], float(sys.argv[2]), Path(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else SEED
    print(json.dumps(generate(kind, size, target, seed, sys.argv[5] if len(sys.argv) > 5 else None)))
