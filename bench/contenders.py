"""One benchmark contender, run in a fresh interpreter by bench/run.py (which measures it from outside).

    python bench/contenders.py CONTENDER FORMAT INPUT OUTPUT_DIR

CONTENDER: book | pyarrow | duckdb   (``lakehouse`` is run through its own console script, not from here)
FORMAT:    csv | jsonl

- book:    the book's approach: pandas read_csv / read_json(lines=True) of the whole file, then to_parquet.
- pyarrow: a bare pyarrow streaming loop, no validation: open_csv / open_json (8 MiB blocks, as the converter)
           -> ParquetWriter.write_batch, library defaults otherwise (snappy).
- duckdb:  COPY (SELECT * FROM read_csv/read_json(...)) TO ... (FORMAT parquet), DuckDB's defaults.
Imports happen inside each function, so every contender pays only for its own libraries.
"""

from __future__ import annotations

import sys
from pathlib import Path

BLOCK_SIZE = 8 << 20


def book(fmt: str, source: Path, out: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(source) if fmt == "csv" else pd.read_json(source, lines=True)
    frame.to_parquet(out / "part-0.parquet", index=False)


def bare_pyarrow(fmt: str, source: Path, out: Path) -> None:
    import pyarrow.parquet as pq

    if fmt == "csv":
        import pyarrow.csv as pacsv

        reader = pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE))
    else:
        import pyarrow.json as pajson

        reader = pajson.open_json(source, read_options=pajson.ReadOptions(block_size=BLOCK_SIZE))
    with pq.ParquetWriter(out / "part-0.parquet", reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def duckdb_copy(fmt: str, source: Path, out: Path) -> None:
    import duckdb

    read = "read_csv" if fmt == "csv" else "read_json"
    target = out / "part-0.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT * FROM {read}(?)) TO '{target}' (FORMAT parquet)", [str(source)])


CONTENDERS = {"book": book, "pyarrow": bare_pyarrow, "duckdb": duckdb_copy}


def main(argv: list[str]) -> int:
    name, fmt, source, out = argv
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    CONTENDERS[name](fmt, Path(source), out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
