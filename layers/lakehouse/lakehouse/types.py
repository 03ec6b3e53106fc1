"""The one type table: each contract type and the lineage columns, as every engine of the lake names them.

A contract's column types are written once, in this vocabulary; the converter (Arrow/Parquet), the raw table in
the Glue catalog (Hive/Athena), the Glue job (Spark) and the local query engine all map them through here.
Arrow types are built on demand, so importing this module does not import pyarrow (ConvertFunction's cold start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

ColumnType = Literal["string", "int", "bigint", "double", "boolean", "date", "timestamp"]


@dataclass(frozen=True)
class LakeType:
    name: ColumnType
    glue: str  # Glue Data Catalog / Hive / Athena DDL
    spark: str  # Spark SQL DDL
    arrow_name: str  # the pyarrow factory and its arguments, e.g. "timestamp:ms"

    def arrow(self, *, tz: str | None = None) -> pa.DataType:
        import pyarrow as pa

        factory, _, unit = self.arrow_name.partition(":")
        if factory == "timestamp":
            return pa.timestamp(unit, tz=tz)
        data_type: pa.DataType = getattr(pa, factory)()
        return data_type


TYPES: dict[str, LakeType] = {
    t.name: t
    for t in (
        LakeType("string", "string", "string", "string"),
        LakeType("int", "int", "int", "int32"),
        LakeType("bigint", "bigint", "bigint", "int64"),
        LakeType("double", "double", "double", "float64"),
        LakeType("boolean", "boolean", "boolean", "bool_"),
        LakeType("date", "date", "date", "date32"),
        # Naive (wall-clock) milliseconds: a contract's timestamps carry no zone (Spark's timestamp_ntz, Iceberg's
        # timestamp); _ingested_at is a UTC instant instead (see LINEAGE).
        LakeType("timestamp", "timestamp", "timestamp_ntz", "timestamp:ms"),
    )
}


def arrow_type(name: str) -> pa.DataType:
    return TYPES[name].arrow()


@dataclass(frozen=True)
class LineageColumn:
    name: str
    type: ColumnType
    tz: str | None = None  # Arrow's zone for timestamps
    constant_per_object: bool = False  # the same value on every row of one landing object

    @property
    def spark(self) -> str:
        return "timestamp" if self.tz else TYPES[self.type].spark  # Spark's timestamp is an instant (UTC here)


# Columns the converter adds to every raw row, in this order: where the row came from and when it landed.
LINEAGE: tuple[LineageColumn, ...] = (
    LineageColumn("_source_key", "string", constant_per_object=True),
    LineageColumn("_source_version", "string", constant_per_object=True),
    LineageColumn("_ingested_at", "timestamp", tz="UTC"),
)
LINEAGE_COLUMNS: dict[str, str] = {c.name: c.type for c in LINEAGE}  # name -> contract type
INGESTED_AT = "_ingested_at"
