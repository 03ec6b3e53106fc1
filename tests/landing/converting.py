"""Converting bytes in memory with the shipped test contracts: the helpers the converter's tests share."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lakehouse.contracts import Contract, ContractRegistry
from lakehouse.convert import ConversionResult, convert
from lakehouse.outcomes import FileRejected, Lineage

REGISTRY = ContractRegistry.from_directory(Path(__file__).resolve().parent / "pipelines")  # see conftest
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)

ACTIVITY_HEADER = b"ip_address,username,timestamp,request,http,bytes\n"
CUSTOMER = {
    "customerName": "Santosh Clayton", "email": "Santosh.Clayton@test.com", "phone": "8015551212",
    "birthDay": "1900-01-01", "serialNumber": "50f7b4f3-7af5-4b07-a421-7b902c8d2b7c",
    "registrationDate": 1655564376361, "lastUpdateDate": 1655564376361,
}


def rebuilt(c: Contract, **changes: Any) -> Contract:
    """A validated copy: model_copy would skip the contract's validators."""
    return Contract.model_validate({**c.model_dump(), **changes})


def contract(qualified: str, **changes: Any) -> Contract:
    pipeline, dataset = qualified.split(".")
    base = REGISTRY.get(pipeline, dataset)
    return rebuilt(base, **changes) if changes else base


def with_format(c: Contract, **changes: Any) -> Contract:
    return rebuilt(c, format={**c.format.model_dump(), **changes})


def with_column(c: Contract, name: str, **changes: Any) -> Contract:
    return rebuilt(c, columns=[{**col.model_dump(), **changes} if col.name == name else col.model_dump()
                               for col in c.columns])


def run(tmp_path: Path, c: Contract, body: bytes, name: str = "file.csv",
        block_size: int | None = None) -> tuple[ConversionResult, pa.Table]:
    """Converts ``body`` as the object ``<landing prefix><name>``; the result and every row written."""
    key = f"{c.landing_prefix}{name}"
    out, work = tmp_path / "out", tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    options = {"block_size": block_size} if block_size else {}
    result = convert(lambda: io.BytesIO(body), c, key=key, lineage=Lineage(key, "v1", NOW), out_dir=out,
                     work_dir=work, **options)
    table = pa.concat_tables(pq.ParquetFile(out / o.path).read() for o in result.outputs)
    return result, table


def rejected(tmp_path: Path, c: Contract, body: bytes, name: str = "file.csv", **kw: Any) -> FileRejected:
    with pytest.raises(FileRejected) as raised:
        run(tmp_path, c, body, name, **kw)
    return raised.value


def jsonl(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)
