"""One benchmark contender, run in a fresh interpreter by bench/run.py (which measures it from outside).

    python bench/contenders.py CONTENDER FORMAT INPUT OUTPUT_DIR PIPELINE DATASET PIPELINES_DIR

CONTENDER: lakehouse | book | polars | pyarrow | duckdb   (``lakehouse-venv`` is the console script, run by
           bench/run.py)
FORMAT:    csv | jsonl

- lakehouse: `lakehouse convert` (validation on) with the Lambda layer's dependency set: pandas and numpy are
           not in layers/dependencies/requirements.txt, so they are made unimportable here. (pyarrow imports
           numpy at import when it is installed, +0.1 s, and pandas the first time pa.array/pa.scalar runs,
           +0.3 s and +35 MB RSS: costs of the dev venv only, which `lakehouse-venv` shows.)

- book:    the book's approach: pandas read_csv / read_json(lines=True) of the whole file, then to_parquet.
- polars:  pl.scan_csv / pl.scan_ndjson with the schema the contract implies (read from the contract file at
           run time, so it follows any change to the contract), then sink_parquet: polars' streaming engine,
           its defaults otherwise (zstd). No value checks: the peer on speed, not on validation.
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


# Contract types -> polars dtypes (names, as the contract spells them; the mapping mirrors the type table).
POLARS_TYPES = {"string": "String", "int": "Int32", "bigint": "Int64", "double": "Float64", "boolean": "Boolean",
                "date": "Date", "timestamp": "Datetime"}


def contract_of(pipelines_dir: Path, pipeline: str, dataset: str) -> dict:
    """The data set's contract as written (YAML), found by its ``dataset`` field, as the product finds it."""
    import yaml

    for path in sorted((pipelines_dir / pipeline / "contracts").glob("*.y*ml")):
        contract = yaml.safe_load(path.read_text())
        if isinstance(contract, dict) and contract.get("dataset") == dataset:
            return contract
    raise SystemExit(f"no contract for data set {dataset!r} under {pipelines_dir / pipeline / 'contracts'}")


def polars_sink(fmt: str, source: Path, out: Path, contract: dict) -> None:
    import polars as pl

    schema = {c["name"]: getattr(pl, POLARS_TYPES[c["type"]]) for c in contract["columns"]}
    options = contract.get("format") or {}
    if fmt == "csv":
        frame = pl.scan_csv(source, schema=schema, has_header=options.get("header", True),
                            separator=options.get("delimiter", ","), quote_char=options.get("quote_char", '"'))
    else:
        frame = pl.scan_ndjson(source, schema=schema)
    frame.sink_parquet(out / "part-0.parquet")


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


NOT_IN_LAYER = ("pandas", "numpy")  # installed in the dev venv, absent from the Lambda dependencies layer


class _AsInTheLayer:
    """Meta-path finder that makes the packages the Lambda layer lacks unimportable, as in the deployed function."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".", 1)[0] in NOT_IN_LAYER:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden: not in the Lambda layer)", name=name)


def lakehouse(fmt: str, source: Path, out: Path, pipeline: str, dataset: str, pipelines_dir: str) -> int:
    sys.meta_path.insert(0, _AsInTheLayer)
    from lakehouse_local.cli import run as cli  # the console script's entry point

    return cli(["convert", "--pipeline", pipeline, "--dataset", dataset, "--input", str(source), "--output",
                str(out), "--pipelines-dir", pipelines_dir])


CONTENDERS = {"book": book, "pyarrow": bare_pyarrow, "duckdb": duckdb_copy}


def main(argv: list[str]) -> int:
    name, fmt, source, out, pipeline, dataset, pipelines_dir = argv
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    if name == "lakehouse":
        return lakehouse(fmt, Path(source), out_dir, pipeline, dataset, pipelines_dir)
    if name == "polars":
        polars_sink(fmt, Path(source), out_dir, contract_of(Path(pipelines_dir), pipeline, dataset))
        return 0
    CONTENDERS[name](fmt, Path(source), out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
