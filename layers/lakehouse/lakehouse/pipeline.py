"""The one model of the lake's definition: every pipeline folder under ``pipelines/``, loaded and checked once.

A pipeline is a folder: ``contracts/*.yaml`` (its data sets, the raw zone), ``pipeline.yaml`` (its SQL steps) and
``steps/*.sql``. A step writes one table named after it in its zone and may read any table of any pipeline that
the lake defines: the raw table of any contract, or any step's table. The dependencies between the steps of one
pipeline come from the tables each step's SQL reads (as dbt does with ``ref``); ``depends_on`` only adds to them.

The converter, the Glue job, the state-machine generator and the local runner all read this model, so a name,
a zone or a type means the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .contracts import Contract, ContractError, ContractRegistry
from .sql import Dialect, SqlError, TableName, referenced_tables

ZONES = ("raw", "trusted", "curated", "presentation")
StepZone = Literal["trusted", "curated", "presentation"]
SALT_VIEW = "pipeline_salt"  # a one-row view (column ``salt``) the Glue job provides to steps that hash PII
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IDENTIFIER = r"^[a-z][a-z0-9_]*$"  # Glue lower-cases table and column names


class PipelineError(ValueError):
    """The lake's definition is inconsistent; the message names the file, the step and what to change."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------------------------ expectations
class RowCount(_Strict):
    type: Literal["row_count"]
    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _bounded(self) -> RowCount:
        if self.min is None and self.max is None:
            raise ValueError("row_count needs min and/or max")
        return self


class NotNull(_Strict):
    type: Literal["not_null"]
    columns: list[str] = Field(min_length=1)


class Unique(_Strict):
    type: Literal["unique"]
    columns: list[str] = Field(min_length=1)


class AcceptedValues(_Strict):
    type: Literal["accepted_values"]
    column: str
    values: list[str | int | float | bool] = Field(min_length=1)


class Range(_Strict):
    type: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> Range:
        if self.min is None and self.max is None:
            raise ValueError("range needs min and/or max")
        return self


class KeysExist(_Strict):
    type: Literal["keys_exist"]
    columns: list[str] = Field(min_length=1)
    in_table: str
    in_columns: list[str] = Field(default_factory=list)  # default: the same names as ``columns``

    @model_validator(mode="after")
    def _same_width(self) -> KeysExist:
        if self.in_columns and len(self.in_columns) != len(self.columns):
            raise ValueError("keys_exist: columns and in_columns differ in length")
        return self

    @property
    def target_columns(self) -> list[str]:
        return self.in_columns or self.columns


Expectation = Annotated[
    RowCount | NotNull | Unique | AcceptedValues | Range | KeysExist, Field(discriminator="type")
]


def describe_expectation(e: Expectation) -> str:
    """Short form for messages and graphs, e.g. ``unique(email)`` or ``row_count(min=1)``."""
    if isinstance(e, (RowCount, Range)):
        bounds = ", ".join(f"{k}={getattr(e, k):g}" for k in ("min", "max") if getattr(e, k) is not None)
        return f"{e.type}({e.column + ', ' if isinstance(e, Range) else ''}{bounds})"
    if isinstance(e, AcceptedValues):
        return f"accepted_values({e.column} in [{', '.join(map(str, e.values))}])"
    if isinstance(e, KeysExist):
        return f"keys_exist({', '.join(e.columns)} in {e.in_table}({', '.join(e.target_columns)}))"
    return f"{e.type}({', '.join(e.columns)})"


# ------------------------------------------------------------------------------------------------ steps
class Step(_Strict):
    """One SQL step: it (re)builds the table named after it in its zone."""

    name: str = Field(pattern=_IDENTIFIER)
    zone: StepZone
    description: str = ""
    engine: Literal["glue", "athena"] | None = Field(
        default=None, description="glue (Spark, Iceberg) for trusted/curated; athena for presentation"
    )
    sql: str = Field(default="", description="SQL file relative to the pipeline folder (default steps/<name>.sql)")
    write: Literal["overwrite", "append", "merge"] = "overwrite"
    keys: list[str] = Field(default_factory=list, description="the columns that identify a row (merge, presentation)")
    incremental: bool = Field(default=False, description="read only raw rows landed since the last run")
    materialize: Literal["table", "view"] = Field(default="table", description="athena steps: Iceberg table or view")
    partition_by: list[str] = Field(default_factory=list)
    depends_on: list[str] = Field(default_factory=list, description="extra dependencies beyond the SQL's tables")
    expectations: list[Expectation] = Field(default_factory=list)
    grants: list[Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]{0,62}$")]] = Field(
        default_factory=list,
        description="Lake Formation mode: names of stack parameters (e.g. MlPrincipalArn) holding principals that "
                    "may SELECT this table",
    )
    text: str = Field(default="", exclude=True, description="the SQL text, read by the loader")

    @model_validator(mode="before")
    @classmethod
    def _default_engine(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("engine") is None:
            data = {**data, "engine": "athena" if data.get("zone") == "presentation" else "glue"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Step:
        engine = self.engine
        if (engine == "athena") != (self.zone == "presentation"):
            raise ValueError("the presentation zone is built by athena steps, trusted and curated by glue steps")
        if self.write == "merge" and not self.keys:
            raise ValueError("write: merge needs keys (the columns that identify a row)")
        if self.keys and self.write != "merge" and engine != "athena":
            raise ValueError("keys are for write: merge (and presentation tables)")
        if engine == "athena" and self.materialize == "table" and not self.keys:
            raise ValueError("a presentation table needs keys (the columns that identify a row): a rerun replaces "
                             "it with one MERGE on them; or use materialize: view")
        if self.incremental and self.write == "overwrite":
            raise ValueError("incremental steps add to their table: use write: append or write: merge")
        if engine == "athena" and (self.write != "overwrite" or self.incremental):
            raise ValueError("athena steps replace their table or view on each run (no write mode, no incremental)")
        if engine == "athena" and self.expectations:
            raise ValueError("expectations are the quality gate of glue steps (checked before the table is "
                             "published); an athena step has none: check its inputs in the curated step it reads")
        if self.materialize == "view" and (self.partition_by or engine != "athena"):
            raise ValueError("materialize: view is for athena steps, without partition_by")
        return self

    @property
    def dialect(self) -> Dialect:
        return "athena" if self.engine == "athena" else "spark"

    @property
    def sql_path(self) -> str:
        return self.sql or f"steps/{self.name}.sql"

    @property
    def table(self) -> TableName:
        return TableName(self.zone, self.name)


class Pipeline(_Strict):
    name: str = Field(pattern=_IDENTIFIER)
    description: str = ""
    schedule: str | None = Field(default=None, description="EventBridge Scheduler expression, e.g. rate(1 day)")
    steps: list[Step] = Field(default_factory=list)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise PipelineError(f"pipeline {self.name!r} has no step {name!r} (steps: {[s.name for s in self.steps]})")


# ------------------------------------------------------------------------------------------------ the lake
@dataclass(frozen=True)
class Table:
    """A table the lake defines: the raw table of a contract, or the table of a step."""

    zone: str
    name: str
    pipeline: str
    contract: Contract | None = None
    step: Step | None = None

    @property
    def ref(self) -> TableName:
        return TableName(self.zone, self.name)


@dataclass(frozen=True)
class Source:
    """A table a step reads: as the SQL writes it (``written``) and what it resolves to."""

    written: TableName
    table: Table

    @property
    def view(self) -> str:
        """The name the Glue job registers the source under (bare, as most steps write it)."""
        return self.table.name


class Lake:
    """Every contract and pipeline under one ``pipelines/`` folder, with all table references resolved."""

    def __init__(self, root: Path, contracts: ContractRegistry, pipelines: dict[str, Pipeline]):
        self.root = root
        self.contracts = contracts
        self.pipelines = dict(sorted(pipelines.items()))
        self.tables: dict[TableName, Table] = {}
        for contract in contracts.contracts:
            self._add(Table("raw", contract.table, contract.pipeline, contract=contract), contract.pipeline)
        for pipeline in self.pipelines.values():
            for step in pipeline.steps:
                self._add(Table(step.zone, step.name, pipeline.name, step=step), f"{pipeline.name}/pipeline.yaml")
        self._sources = {
            (p.name, s.name): self._resolve(p, s) for p in self.pipelines.values() for s in p.steps
        }
        for pipeline in self.pipelines.values():
            self.stages(pipeline)  # cycles fail at load

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, root: Path | str) -> Lake:
        root = Path(root)
        try:
            contracts = ContractRegistry.from_directory(root)
        except ContractError as exc:
            raise PipelineError(str(exc)) from exc
        names = sorted({p.parent.name for p in root.glob("*/pipeline.y*ml")} | {c.pipeline for c in contracts.contracts})
        return cls(root, contracts, {name: load_pipeline(root / name) for name in names})

    def _add(self, table: Table, where: str) -> None:
        existing = self.tables.get(table.ref)
        if existing is not None:
            raise PipelineError(
                f"{where}: {table.zone} table {table.name!r} is already defined by pipeline {existing.pipeline!r}; "
                "table names are unique within a zone: rename one of them"
            )
        self.tables[table.ref] = table

    def _resolve(self, pipeline: Pipeline, step: Step) -> list[Source]:
        where = f"pipelines/{pipeline.name}/{step.sql_path} (step {step.name})"
        try:
            written = referenced_tables(step.text, step.dialect)
        except SqlError as exc:
            raise PipelineError(f"{where}: the SQL does not parse as {step.dialect} SQL: {exc}") from exc
        checked = [_table_name(e.in_table) for e in step.expectations if isinstance(e, KeysExist)]
        sources: dict[TableName, Source] = {}
        for name in written + checked:
            if name == TableName("", SALT_VIEW):
                continue
            table = self.find(name, where)
            if name in checked and name not in written and table.step is step:
                continue  # keys_exist against the step's own table checks the audited rows: no source to register
            sources.setdefault(table.ref, Source(name, table))
        views = [s.view for s in sources.values()]
        clashes = sorted({v for v in views if views.count(v) > 1})
        if clashes:
            raise PipelineError(f"{where}: reads tables of the same name from two zones ({clashes}); a step may read "
                                "one table of each name: rename one of them")
        return list(sources.values())

    def find(self, name: TableName, where: str = "") -> Table:
        """The table a (possibly bare) name refers to; raises naming the candidates and the fix."""
        if name.zone:
            if name.zone not in ZONES:
                raise PipelineError(f"{where}: {name} names zone {name.zone!r}; zones are {', '.join(ZONES)}")
            table = self.tables.get(name)
            if table is None:
                raise PipelineError(f"{where}: unknown table {name}. {self._known(name.name)}")
            return table
        matches = [t for ref, t in self.tables.items() if ref.name == name.name]
        if not matches:
            raise PipelineError(f"{where}: unknown table {name.name!r}. {self._known(name.name)}")
        if len(matches) > 1:
            options = " or ".join(str(t.ref) for t in matches)
            raise PipelineError(f"{where}: {name.name!r} is ambiguous: write {options}")
        return matches[0]

    def _known(self, name: str) -> str:
        import difflib

        names = [str(ref) for ref in self.tables]
        close = difflib.get_close_matches(name, [ref.name for ref in self.tables], n=3)
        hint = f"Did you mean {', '.join(close)}? " if close else ""
        return (f"{hint}Known tables: {', '.join(sorted(names))}. A raw table comes from a contract "
                "(pipelines/<p>/contracts/), any other from a step (pipelines/<p>/pipeline.yaml).")

    # ---------------------------------------------------------------- queries
    def pipeline(self, name: str) -> Pipeline:
        if name not in self.pipelines:
            known = ", ".join(self.pipelines) or "none"
            raise PipelineError(f"no pipeline {name!r} under {self.root} (known: {known}); "
                                f"create one with `lakehouse new pipeline {name}`")
        return self.pipelines[name]

    def sources(self, pipeline: str, step: str) -> list[Source]:
        return self._sources[(pipeline, step)]

    def dependencies(self, pipeline: Pipeline, step: Step) -> list[str]:
        """Steps of the same pipeline that must run before ``step``: those whose tables it reads, and depends_on."""
        names = {s.name for s in pipeline.steps}
        found = [
            s.table.name for s in self.sources(pipeline.name, step.name)
            if s.table.pipeline == pipeline.name and s.table.step is not None and s.table.name != step.name
        ]
        for extra in step.depends_on:
            if extra not in names:
                raise PipelineError(f"pipelines/{pipeline.name}/pipeline.yaml: step {step.name!r} depends_on unknown "
                                    f"step {extra!r} (steps: {sorted(names)})")
            found.append(extra)
        return list(dict.fromkeys(found))

    def stages(self, pipeline: Pipeline) -> list[list[Step]]:
        """Steps in waves: each step runs in the wave after the last of its dependencies (declaration order kept)."""
        level: dict[str, int] = {}
        remaining = list(pipeline.steps)
        while remaining:
            ready = [s for s in remaining if all(d in level for d in self.dependencies(pipeline, s))]
            if not ready:
                cycle = ", ".join(f"{s.name} <- {self.dependencies(pipeline, s)}" for s in remaining)
                raise PipelineError(f"pipelines/{pipeline.name}: the steps read each other in a cycle: {cycle}")
            for step in ready:
                level[step.name] = 1 + max((level[d] for d in self.dependencies(pipeline, step)), default=-1)
            remaining = [s for s in remaining if s.name not in level]
        waves: list[list[Step]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
        for step in pipeline.steps:
            waves[level[step.name]].append(step)
        return waves

    def upstream(self, pipeline: Pipeline, step: str) -> set[str]:
        """Every step ``step`` depends on, directly or not."""
        seen: set[str] = set()
        todo = list(self.dependencies(pipeline, pipeline.step(step)))
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(self.dependencies(pipeline, pipeline.step(name)))
        return seen

    def contracts_of(self, pipeline: str) -> list[Contract]:
        return [c for c in self.contracts.contracts if c.pipeline == pipeline]

    def all_steps(self) -> Iterator[tuple[Pipeline, Step]]:
        for pipeline in self.pipelines.values():
            for step in pipeline.steps:
                yield pipeline, step


def _table_name(text: str) -> TableName:
    zone, _, name = text.rpartition(".")
    return TableName(zone.lower(), name.lower())


def load_pipeline(folder: Path) -> Pipeline:
    """``<folder>/pipeline.yaml`` with each step's SQL text; a folder without one is a pipeline without steps."""
    path = next((p for p in (folder / "pipeline.yaml", folder / "pipeline.yml") if p.is_file()), None)
    if path is None:
        return Pipeline(name=folder.name)
    try:
        raw: Any = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER) or {}
    except yaml.YAMLError as exc:
        raise PipelineError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: a pipeline is a YAML mapping with name and steps")
    if raw.get("name", folder.name) != folder.name:
        raise PipelineError(f"{path}: name {raw.get('name')!r} differs from its folder {folder.name!r}; "
                            "a pipeline is named by its folder (remove name or make them equal)")
    try:
        pipeline = Pipeline.model_validate({**raw, "name": folder.name})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise PipelineError(f"{path}: invalid pipeline: {problems}") from exc
    names = [s.name for s in pipeline.steps]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PipelineError(f"{path}: steps {duplicates} are declared twice; each step builds one table")
    steps = []
    for step in pipeline.steps:
        sql_file = folder / step.sql_path
        if not sql_file.is_file():
            raise PipelineError(f"{path}: step {step.name!r}: SQL file {sql_file} not found; write the step's "
                                f"SELECT there (or set sql: to its path)")
        steps.append(step.model_copy(update={"text": sql_file.read_text(encoding="utf-8")}))
    return pipeline.model_copy(update={"steps": steps})
