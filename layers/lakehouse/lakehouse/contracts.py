"""Data set contracts: what a landing file must look like, loaded from YAML and validated once.

A contract lives in ``pipelines/<pipeline>/contracts/<dataset>.yaml``. One contract has three uses: the
converter enforces it, the Glue table is created from it, and the docs can list it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .types import LINEAGE_COLUMNS, TYPES, ColumnType

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when the wheel has it: 10x faster

FormatType = Literal["csv", "tsv", "jsonl", "json_array"]

class ContractError(ValueError):
    """A contract file is missing, unreadable or invalid; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Checks(_Strict):
    allowed_values: list[str | int | float | bool] | None = None
    min: float | None = None
    max: float | None = None
    regex: str | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        """The converter matches with RE2 (Arrow's engine), which lacks look-around and backreferences."""
        if value is not None:
            import pyarrow as pa
            import pyarrow.compute as pc

            try:
                pc.match_substring_regex(pa.array([""], pa.string()), value)
            except pa.ArrowInvalid as exc:
                reason = str(exc).removeprefix("Invalid regular expression: ")
                raise ValueError(f"regex {value!r} does not compile with RE2: {reason}") from exc
        return value


class Column(_Strict):
    name: str = Field(min_length=1)
    type: ColumnType = "string"
    nullable: bool = True
    format: str | None = Field(
        default=None, description="strptime format for date/timestamp columns (CSV), e.g. '%d/%m/%Y'"
    )
    pii: bool = False
    description: str | None = None
    checks: Checks = Checks()

    @field_validator("format")
    @classmethod
    def _offset_last(cls, value: str | None) -> str | None:
        """A zone offset (%z) is read only at the end, where the converter can check the fields before it."""
        if value is not None and "%z" in value and not value.endswith("%z"):
            raise ValueError(f"format {value!r}: %z (a zone offset) may only come last")
        return value

    @property
    def glue_type(self) -> str:
        return TYPES[self.type].glue


class FileFormat(_Strict):
    type: FormatType
    compression: Literal["auto", "none", "gzip"] = Field(
        default="auto", description="auto: gzip when the key ends in .gz"
    )
    encoding: str = "utf-8"
    delimiter: str | None = Field(default=None, description="CSV/TSV field delimiter (default ',' or tab)")
    quote_char: str = '"'
    header: bool = True
    null_values: list[str] = [""]
    true_values: list[str] = ["true", "True", "TRUE", "1", "t", "T", "yes", "Y"]
    false_values: list[str] = ["false", "False", "FALSE", "0", "f", "F", "no", "N"]
    newlines_in_values: bool = Field(
        default=True,
        description="a quoted value may span lines; false makes such a value a row error (never a parse error that "
        "depends on where the parser's blocks happen to fall)",
    )

    @field_validator("delimiter", "quote_char")
    @classmethod
    def _single_char(cls, value: str | None) -> str | None:
        if value is not None and len(value) != 1:
            raise ValueError(f"must be a single character, got {value!r}")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            return codecs.lookup(value).name
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc

    @model_validator(mode="after")
    def _json_is_utf8(self) -> FileFormat:
        """JSON exchanged between systems is UTF-8 (RFC 8259), and pyarrow's JSON reader reads nothing else."""
        if self.type in ("jsonl", "json_array") and self.encoding not in ("utf-8", "utf-8-sig"):
            raise ValueError(f"JSON is read as UTF-8 (RFC 8259); encoding {self.encoding!r} is for CSV/TSV only")
        return self

    @property
    def field_delimiter(self) -> str:
        if self.delimiter:
            return self.delimiter
        return "\t" if self.type == "tsv" else ","

    @property
    def is_delimited(self) -> bool:
        return self.type in ("csv", "tsv")


class Partition(_Strict):
    """A partition of the raw table: derived from ingestion, or from a column of the data."""

    # not "_...": Spark, Hive and Athena skip paths whose name starts with "_" or "." as hidden (silent row loss)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    source: Literal["ingest_date", "column"] = "column"
    column: str | None = None
    transform: Literal["identity", "year", "month", "day"] = "identity"

    @model_validator(mode="after")
    def _column_when_needed(self) -> Partition:
        if self.source == "column" and not self.column:
            raise ValueError(f"partition {self.name!r}: source 'column' needs 'column'")
        return self


DEFAULT_PARTITIONS = (Partition(name="ingest_date", source="ingest_date"),)


class Contract(_Strict):
    dataset: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    table: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    landing_prefix: str = Field(min_length=1)
    format: FileFormat
    extensions: list[str] | None = Field(
        default=None, description="accepted key suffixes (case-insensitive); other keys are rejected"
    )
    columns: list[Column] = Field(min_length=1)
    unknown_columns: Literal["ignore", "reject"] = "reject"
    on_bad_rows: Literal["reject_file", "quarantine_rows"] = "reject_file"
    max_reported_errors: int = Field(default=100, ge=1, le=10_000)
    key: list[str] = Field(default_factory=list, description="columns whose values must be unique in a file")
    partitions: list[Partition] = Field(default_factory=lambda: list(DEFAULT_PARTITIONS))
    freshness: str | None = Field(
        default=None, pattern=r"^[1-9][0-9]*[mhd]$",
        description="alert when nothing has landed for this long, e.g. 30m, 24h, 7d (at most 7d)",
    )
    pipeline: str = Field(default="", description="set by the loader from the folder")

    @field_validator("freshness")
    @classmethod
    def _at_most_a_week(cls, value: str | None) -> str | None:
        if value is not None and _seconds(value) > 7 * 86400:
            raise ValueError("freshness is at most 7d (CloudWatch alarms look back a week at most)")
        if value is not None and _seconds(value) < 600:
            raise ValueError("freshness is at least 10m (the alarm evaluates in whole periods)")
        return value

    @property
    def freshness_seconds(self) -> int | None:
        return _seconds(self.freshness) if self.freshness else None

    @field_validator("landing_prefix")
    @classmethod
    def _prefix_is_folder(cls, value: str) -> str:
        if value.startswith("/") or not value.endswith("/"):
            raise ValueError(f"must be a key prefix ending in '/' without a leading '/', got {value!r}")
        return value

    @model_validator(mode="after")
    def _names_consistent(self) -> Contract:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate column names: {duplicates}")
        lowered = [n.lower() for n in names]
        if len(set(lowered)) != len(lowered):
            raise ValueError("column names must be unique case-insensitively (Glue lower-cases them)")
        reserved = sorted({n for n in names + [p.name for p in self.partitions] if n.lower() in LINEAGE_COLUMNS})
        if reserved:
            raise ValueError(f"{reserved} are the lineage columns the converter adds to every row: rename them")
        for column in self.key:
            if column not in names:
                raise ValueError(f"key column {column!r} is not a declared column")
        for part in self.partitions:
            if part.source == "column":
                if part.column not in names:
                    raise ValueError(f"partition {part.name!r} uses undeclared column {part.column!r}")
                declared = self.column(part.column).type
                if self.column(part.column).pii:
                    raise ValueError(f"partition {part.name!r} uses pii column {part.column!r}: its values would be "
                                     f"folder names in S3 keys and partition values in the catalog")
                if part.transform != "identity" and declared not in ("date", "timestamp"):
                    raise ValueError(f"partition {part.name!r}: transform {part.transform} needs a date/timestamp")
            if part.name.lower() in lowered:
                raise ValueError(f"partition {part.name!r} has the name of a column; every column stays in the "
                                 f"files with its type, and a partition is a text key beside them: name it "
                                 f"differently, e.g. {part.name}_part")
        return self

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def has_pii(self) -> bool:
        """Some column is ``pii: true``: file text of unknown column is then never quoted in a reason."""
        return any(c.pii for c in self.columns)

    def header_column(self, name: str) -> Column | None:
        """The declared column a header name stands for: the same name up to case and surrounding whitespace.

        Column names are unique case-insensitively (Glue lower-cases them), so at most one matches.
        """
        wanted = name.strip().lower()
        for column in self.columns:
            if column.name.lower() == wanted:
                return column
        return None

    @property
    def qualified_name(self) -> str:
        return f"{self.pipeline}.{self.dataset}"

    def compression_for(self, key: str) -> str:
        if self.format.compression != "auto":
            return self.format.compression
        return "gzip" if key.lower().endswith(".gz") else "none"

    def accepts_extension(self, key: str) -> bool:
        if not self.extensions:
            return True
        lowered = key.lower()
        return any(lowered.endswith(ext.lower()) for ext in self.extensions)


def _seconds(duration: str) -> int:
    return int(duration[:-1]) * {"m": 60, "h": 3600, "d": 86400}[duration[-1]]


def load_contract(path: Path, pipeline: str) -> Contract:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as exc:
        raise ContractError(f"{path}: cannot read contract: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: a contract is a YAML mapping, got {type(raw).__name__}")
    try:
        return Contract.model_validate({**raw, "pipeline": pipeline})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
        )
        raise ContractError(f"{path}: invalid contract: {problems}") from exc


class ContractRegistry:
    """Every contract of every pipeline under one folder, resolvable by landing key."""

    def __init__(self, contracts: list[Contract]):
        self.contracts = sorted(contracts, key=lambda c: len(c.landing_prefix), reverse=True)
        seen: dict[str, str] = {}
        tables: dict[str, str] = {}
        for contract in self.contracts:
            for other_prefix, owner in seen.items():
                if contract.landing_prefix == other_prefix:
                    raise ContractError(
                        f"{contract.qualified_name} and {owner} share landing_prefix {other_prefix!r}"
                    )
            seen[contract.landing_prefix] = contract.qualified_name
            if contract.table in tables:
                raise ContractError(
                    f"{contract.qualified_name} and {tables[contract.table]} both write raw table {contract.table!r}"
                )
            tables[contract.table] = contract.qualified_name

    @classmethod
    def from_directory(cls, root: Path | str) -> ContractRegistry:
        root = Path(root)
        if not root.is_dir():
            raise ContractError(f"pipelines folder {root} does not exist")
        contracts = [
            load_contract(path, pipeline=path.parent.parent.name)
            for path in sorted(root.glob("*/contracts/*.y*ml"))
        ]
        if not contracts:
            raise ContractError(f"no contracts found under {root}/*/contracts/")
        return cls(contracts)

    def resolve(self, key: str) -> Contract | None:
        """The contract whose landing prefix is the longest prefix of ``key``."""
        for contract in self.contracts:
            if key.startswith(contract.landing_prefix):
                return contract
        return None

    def get(self, pipeline: str, dataset: str) -> Contract:
        for contract in self.contracts:
            if contract.pipeline == pipeline and contract.dataset == dataset:
                return contract
        known = ", ".join(sorted(c.qualified_name for c in self.contracts))
        raise ContractError(f"no contract {pipeline}.{dataset}; known: {known}")
