"""Glue Data Catalog registration of raw tables and their partitions, derived from the contract.

Written against the Glue API directly rather than awswrangler's catalog functions: awswrangler needs
pandas and numpy (~150 MB unpacked, ~1.4 s import), which would break the bundle-size and cold-start
budgets of ConvertFunction; the three calls below are all the raw zone needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .types import LINEAGE, TYPES

if TYPE_CHECKING:
    from .contracts import Contract
    from .outcomes import OutputFile

PARQUET_STORAGE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}

_HIVE_SPECIAL = set('"#%\'*/:=?\\\x7f{[]^')


def hive_escape(value: str) -> str:
    """A partition value as Hive, Spark and Athena write it in a path: '/', '=', '%', ... as %XX."""
    return "".join(f"%{ord(c):02X}" if c in _HIVE_SPECIAL or ord(c) < 0x20 else c for c in value)


def partition_path(part: Mapping[str, str]) -> str:
    """A partition's folder under its table: name=value/... with the values escaped; the writer puts its files
    there and the catalog registers the same location."""
    return "/".join(f"{name}={hive_escape(value)}" for name, value in part.items())


def table_input(contract: Contract, location: str) -> dict[str, Any]:
    columns = [
        {"Name": c.name.lower(), "Type": c.glue_type, **({"Comment": c.description} if c.description else {})}
        for c in contract.columns
    ]
    columns += [{"Name": c.name, "Type": TYPES[c.type].glue, "Comment": "lineage"} for c in LINEAGE]
    return {
        "Name": contract.table,
        "Description": contract.description or f"{contract.qualified_name} landing data",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {
            "classification": "parquet",
            "EXTERNAL": "TRUE",
            "lakehouse:contract": contract.qualified_name,
            "lakehouse:landing_prefix": contract.landing_prefix,
        },
        "PartitionKeys": [{"Name": p.name, "Type": "string"} for p in contract.partitions],
        "StorageDescriptor": {"Columns": columns, "Location": location, **PARQUET_STORAGE},
    }


class Catalog:
    def __init__(self, glue: Any, database: str, bucket: str):
        self.glue = glue
        self.database = database
        self.bucket = bucket
        self._current: set[str] = set()  # tables known to match their contract in this container

    def location(self, contract: Contract) -> str:
        return f"s3://{self.bucket}/{contract.table}/"

    def ensure_table(self, contract: Contract) -> None:
        if contract.table in self._current:
            return
        wanted = table_input(contract, self.location(contract))
        try:
            existing = self.glue.get_table(DatabaseName=self.database, Name=contract.table)["Table"]
        except self.glue.exceptions.EntityNotFoundException:
            try:
                self.glue.create_table(DatabaseName=self.database, TableInput=wanted)
            except self.glue.exceptions.AlreadyExistsException:
                pass  # a concurrent invocation created it
        else:
            same = (
                existing.get("StorageDescriptor", {}).get("Columns") == wanted["StorageDescriptor"]["Columns"]
                and existing.get("PartitionKeys") == wanted["PartitionKeys"]
                and existing.get("StorageDescriptor", {}).get("Location") == wanted["StorageDescriptor"]["Location"]
            )
            if not same:
                self.glue.update_table(DatabaseName=self.database, TableInput=wanted)
        self._current.add(contract.table)

    def add_partitions(self, contract: Contract, outputs: list[OutputFile]) -> list[list[str]]:
        """Registers the partitions the outputs landed in; existing ones are left as they are."""
        names = [p.name for p in contract.partitions]
        values = sorted({tuple(o.partition[n] for n in names) for o in outputs})
        if not values:
            return []
        storage = {"Location": "", **PARQUET_STORAGE}
        created: list[list[str]] = []
        for start in range(0, len(values), 100):  # the API takes 100 partitions per call
            chunk = values[start : start + 100]
            inputs = []
            for value in chunk:
                path = partition_path(dict(zip(names, value, strict=True)))
                inputs.append(
                    {"Values": list(value), "StorageDescriptor": {**storage, "Location": f"{self.location(contract)}{path}/"}}
                )
            response = self.glue.batch_create_partition(
                DatabaseName=self.database, TableName=contract.table, PartitionInputList=inputs
            )
            failed = {tuple(e["PartitionValues"]) for e in response.get("Errors", [])
                      if e.get("ErrorDetail", {}).get("ErrorCode") == "AlreadyExistsException"}
            others = [e for e in response.get("Errors", [])
                      if e.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException"]
            if others:
                detail = others[0].get("ErrorDetail", {})
                raise RuntimeError(
                    f"Glue BatchCreatePartition failed for {contract.table}: "
                    f"{detail.get('ErrorCode')}: {detail.get('ErrorMessage')}"
                )
            created += [list(v) for v in chunk if v not in failed]
        return created
