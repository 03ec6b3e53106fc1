"""`lakehouse new dataset` / `lakehouse new pipeline`: the files of a data set or a pipeline, with working defaults.

A data set is one contract (``contracts/<dataset>.yaml``) plus sample files under ``samples/`` (paths below it are
landing keys). Its columns come from a sample file when one is given (CSV/TSV header and values, or JSON lines'
keys and values), else from a small example. A pipeline is a folder: a data set, ``pipeline.yaml`` with one step
reading it, and the step's SQL, so that ``lakehouse demo --pipeline <name>`` runs at once; the step's SQL is the
file to rewrite.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
EXAMPLE_CSV = "id,name,amount,created_on\n1,first,10.5,2026-11-01\n2,second,20,2026-11-02\n3,third,7.25,2026-11-03\n"
_FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "jsonl", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class ScaffoldError(ValueError):
    """The files cannot be written as asked; the message says why."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str


def check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise ScaffoldError(f"{kind} name {name!r}: use lower-case letters, digits and _ (starting with a letter), "
                            "as Glue names tables")
    return name


# ------------------------------------------------------------------------------------------------ inference
def _is_int(value: str) -> bool:
    return re.fullmatch(r"[+-]?\d{1,18}", value) is not None


def _is_float(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _is_date(value: str) -> bool:
    try:
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None and bool(date.fromisoformat(value))
    except ValueError:
        return False


def _is_timestamp(value: str) -> bool:
    try:
        return re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?", value) is not None \
            and bool(datetime.fromisoformat(value))
    except ValueError:
        return False


def _is_boolean(value: str) -> bool:
    return value.lower() in ("true", "false")


_CHECKS = (("bigint", _is_int), ("double", _is_float), ("date", _is_date), ("timestamp", _is_timestamp),
           ("boolean", _is_boolean))


def _type_of(values: list[str]) -> str:
    """The narrowest contract type every non-empty value parses as."""
    present = [v for v in values if v != ""]
    if not present:
        return "string"
    for name, check in _CHECKS:
        if all(check(v) for v in present):
            return name
    return "string"


def _json_type(values: list[object]) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return "string"
    if all(isinstance(v, bool) for v in present):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "bigint"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return "double"
    if all(isinstance(v, str) for v in present):
        return _type_of([str(v) for v in present])
    return "string"


def infer(sample: Path, rows: int = 1000) -> tuple[str, list[Column]]:
    """(format, columns) of a sample file: its extension names the format, its first rows the columns."""
    suffixes = [s for s in sample.suffixes if s != ".gz"]
    kind = _FORMATS.get(suffixes[-1].lower() if suffixes else "")
    if kind is None:
        raise ScaffoldError(f"{sample}: cannot tell its format from the extension (known: {', '.join(_FORMATS)})")
    text = sample.read_text(encoding="utf-8-sig", errors="replace")
    if kind == "jsonl":
        records = [json.loads(line) for line in text.splitlines()[:rows] if line.strip()]
        names = list(dict.fromkeys(k for r in records if isinstance(r, dict) for k in r))
        return kind, [Column(n, _json_type([r.get(n) for r in records])) for n in names]
    reader = csv.reader(io.StringIO(text), delimiter="\t" if kind == "tsv" else ",")
    header = next(reader, None)
    if not header:
        raise ScaffoldError(f"{sample}: no header line to name the columns")
    body = [row for _, row in zip(range(rows), reader)]
    columns = []
    for index, name in enumerate(header):
        values = [row[index] if index < len(row) else "" for row in body]
        columns.append(Column(name.strip(), _type_of(values)))
    return kind, columns


# ------------------------------------------------------------------------------------------------ data set
def contract_text(pipeline: str, dataset: str, table: str, kind: str, columns: list[Column], sample: str) -> str:
    lines = [
        f"# Data set {dataset} of pipeline {pipeline}: `lakehouse new dataset` inferred it from {sample}.",
        "# Review the types, nullability and checks, then drop files under the landing prefix.",
        f"dataset: {dataset}",
        f"table: {table}",
        f"description: {dataset} files of the {pipeline} pipeline.",
        f"landing_prefix: {pipeline}/{dataset}/",
        "format:",
        f"  type: {kind}",
        "columns:  # types inferred from the sample; add nullable: false, pii: true, checks: {...} where they hold",
    ]
    # Every column nullable: a sample where a column is always filled does not show that it must be
    lines += [f"  - {{name: {json.dumps(c.name)}, type: {c.type}}}" for c in columns]
    lines += ["unknown_columns: reject  # a file with another column is quarantined; `ignore` drops such columns",
              "on_bad_rows: reject_file  # or quarantine_rows: load the good rows, set the bad ones aside"]
    return "\n".join(lines) + "\n"


def new_dataset(pipelines_dir: Path, pipeline: str, dataset: str, sample: Path | None = None,
                table: str | None = None) -> list[Path]:
    """Write ``<pipeline>/contracts/<dataset>.yaml`` and a sample file; returns the files written."""
    from lakehouse.contracts import ContractRegistry

    check_name("pipeline", pipeline)
    check_name("data set", dataset)
    folder = pipelines_dir / pipeline
    path = folder / "contracts" / f"{dataset}.yaml"
    if path.exists():
        raise ScaffoldError(f"{path} exists already")
    tables = set()
    if any(pipelines_dir.glob("*/contracts/*.y*ml")):
        tables = {c.table for c in ContractRegistry.from_directory(pipelines_dir).contracts}
    table = check_name("table", table) if table else (dataset if dataset not in tables else f"{pipeline}_{dataset}")
    if table in tables:
        raise ScaffoldError(f"raw table {table!r} exists already: pass --table with another name")
    samples = folder / "samples" / pipeline / dataset
    if sample is None:
        source_name, target, body = "an example (replace it with your files)", samples / f"{dataset}-example.csv", \
            EXAMPLE_CSV.encode()
        kind, columns = "csv", _columns_of_text(EXAMPLE_CSV)
    else:
        if not sample.is_file():
            raise ScaffoldError(f"no such file: {sample}")
        kind, columns = infer(sample)
        source_name, target, body = sample.name, samples / sample.name, sample.read_bytes()
    if not columns:
        raise ScaffoldError(f"{sample}: found no columns")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(contract_text(pipeline, dataset, table, kind, columns, source_name), encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    ContractRegistry.from_directory(pipelines_dir)  # the new contract loads, or this raises naming the problem
    return [path, target]


def _columns_of_text(text: str) -> list[Column]:
    rows = list(csv.reader(io.StringIO(text)))
    return [Column(name, _type_of([r[i] for r in rows[1:]])) for i, name in enumerate(rows[0])]


# ------------------------------------------------------------------------------------------------ pipeline
def new_pipeline(pipelines_dir: Path, pipeline: str, dataset: str | None = None, sample: Path | None = None,
                 step: str | None = None) -> list[Path]:
    """A pipeline folder that runs as it is: a data set, one step reading it, pipeline.yaml."""
    from lakehouse.pipeline import Lake, PipelineError

    check_name("pipeline", pipeline)
    folder = pipelines_dir / pipeline
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already: `lakehouse new dataset {pipeline} <name>` adds a data set")
    dataset = check_name("data set", dataset or (sample.name.split(".")[0].lower() if sample else "records"))
    step = check_name("step", step or f"{dataset}_trusted")
    try:
        written = new_dataset(pipelines_dir, pipeline, dataset, sample)
        contract_path = written[0]
        from lakehouse.contracts import load_contract

        contract = load_contract(contract_path, pipeline)
        columns = ",\n".join(f"    {_sql_name(c.name)}" for c in contract.columns)
        sql = folder / "steps" / f"{step}.sql"
        sql.parent.mkdir(parents=True, exist_ok=True)
        sql.write_text(
            f"-- {step}: the rows of raw.{contract.table} as the trusted zone keeps them. Rewrite this SELECT (Spark\n"
            "-- SQL); any table of any pipeline can be read as zone.table. The lineage columns (_source_key,\n"
            "-- _source_version, _ingested_at) stay in the raw zone unless selected.\n"
            f"SELECT\n{columns}\nFROM raw.{contract.table}\n", encoding="utf-8")
        yaml_path = folder / "pipeline.yaml"
        yaml_path.write_text(
            f"# Pipeline {pipeline}: `lakehouse new pipeline` wrote it. Each step builds the table named after it in\n"
            "# its zone from its SQL (steps/<name>.sql); dependencies come from the tables the SQL reads.\n"
            "# Write modes: overwrite (default), append, merge (with keys); incremental: true reads only new raw\n"
            "# files. Expectations are checked before the table is published.\n"
            f"description: {pipeline} data, validated and typed.\n"
            "steps:\n"
            f"  - name: {step}\n"
            "    zone: trusted\n"
            "    expectations:\n"
            "      - {type: row_count, min: 1}\n", encoding="utf-8")
        Lake.load(pipelines_dir).pipeline(pipeline)  # it loads, with its SQL resolved, or this raises
    except (ScaffoldError, PipelineError):
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return [*written, sql, yaml_path]


def _sql_name(name: str) -> str:
    return name if _NAME.match(name) else f"`{name}`"
