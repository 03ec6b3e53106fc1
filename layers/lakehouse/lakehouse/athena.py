"""The Athena statements of a presentation step, generated from its SQL (Athena's dialect, Trino).

A step's SQL is one SELECT that names tables as ``zone.table`` (or a bare name found in one zone). Here each table
becomes ``"<database>"."<table>"`` with the database a DefinitionSubstitution (``${CuratedDatabase}``...), filled by
the template for the stack being deployed. A presentation step materializes as:

- a view: ``CREATE OR REPLACE VIEW`` (Athena replaces a view atomically);
- an Iceberg table: ``CREATE TABLE ... WITH (table_type = 'ICEBERG') AS`` on the first run, and on every later run
  one ``MERGE INTO`` that updates the rows whose ``keys`` are still in the result, inserts the new ones and deletes
  the rest. Athena has no INSERT OVERWRITE for Iceberg and no multi-statement transactions; a single MERGE is a
  single Iceberg commit, so readers see the old table or the new one, never an empty or half-built one.
"""

from __future__ import annotations

from .pipeline import Lake, Pipeline, PipelineError, Step
from .sql import rename_tables

DATABASE_SUBSTITUTIONS = {zone: f"${{{zone.capitalize()}Database}}" for zone in
                          ("raw", "trusted", "curated", "presentation")}
LOCATION_SUBSTITUTION = "${PresentationBucket}"
GONE = "__lakehouse_gone"  # marks the rows of the old table that the new result no longer has


def _placeholder(zone: str) -> str:
    return f"lakehouse_zone_{zone}"


def _with_databases(text: str) -> str:
    for zone, substitution in DATABASE_SUBSTITUTIONS.items():
        text = text.replace(_placeholder(zone), substitution)
    return text


def resolved_select(lake: Lake, pipeline: Pipeline, step: Step) -> str:
    """The step's SELECT with every table as "<database substitution>"."<table>"."""
    renames = {source.written: (_placeholder(source.table.zone), source.table.name)
               for source in lake.sources(pipeline.name, step.name)}
    return _with_databases(rename_tables(step.text, "athena", renames)).strip().rstrip(";")


def output_columns(step: Step) -> list[str]:
    """The names of the SELECT's columns, which a MERGE must list; ``*`` cannot be listed, so it is refused."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(step.text, read="athena")
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        raise PipelineError(f"step {step.name!r}: a presentation step is one SELECT")
    names = []
    for column in select.expressions:
        if isinstance(column, exp.Star) or (isinstance(column, exp.Column) and isinstance(column.this, exp.Star)):
            raise PipelineError(f"step {step.name!r}: name every column of a presentation table's SELECT (no *): "
                                "a rerun merges into the table column by column")
        if not column.alias_or_name:
            raise PipelineError(f"step {step.name!r}: give the expression {column.sql(dialect='athena')!r} a name "
                                "(AS ...)")
        names.append(column.alias_or_name)
    return names


def _name(step: Step) -> str:
    return f'"{DATABASE_SUBSTITUTIONS["presentation"]}"."{step.name}"'


def create_view(lake: Lake, pipeline: Pipeline, step: Step) -> str:
    return f"CREATE OR REPLACE VIEW {_name(step)} AS\n{resolved_select(lake, pipeline, step)}"


def create_table(lake: Lake, pipeline: Pipeline, step: Step) -> str:
    properties = [
        "table_type = 'ICEBERG'",
        "is_external = false",
        "format = 'PARQUET'",
        f"location = 's3://{LOCATION_SUBSTITUTION}/{step.name}/'",
    ]
    if step.partition_by:
        properties.append("partitioning = ARRAY[" + ", ".join(f"'{p}'" for p in step.partition_by) + "]")
    return (f"CREATE TABLE {_name(step)}\nWITH ({', '.join(properties)})\nAS\n"
            f"{resolved_select(lake, pipeline, step)}")


def replace_table(lake: Lake, pipeline: Pipeline, step: Step) -> str:
    """One MERGE that makes the table equal to the SELECT's result, keyed on the step's keys."""
    if not step.keys:
        raise PipelineError(f"step {step.name!r}: a presentation table is replaced by a MERGE on its keys: set keys "
                            "(the columns that identify a row), or use materialize: view")
    columns = output_columns(step)
    missing = [k for k in step.keys if k not in columns]
    if missing:
        raise PipelineError(f"step {step.name!r}: keys {missing} are not columns of its SELECT ({columns})")
    select = resolved_select(lake, pipeline, step)
    # IS NOT DISTINCT FROM: a row whose key is NULL matches itself (with =, every rerun would insert it again)
    on = " AND ".join(f't."{k}" IS NOT DISTINCT FROM s."{k}"' for k in step.keys)
    kept = " AND ".join(f'n."{k}" IS NOT DISTINCT FROM o."{k}"' for k in step.keys)
    listed = ", ".join(f'"{c}"' for c in columns)
    old = ", ".join(f'o."{c}"' for c in columns)
    values = ", ".join(f's."{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = s."{c}"' for c in columns if c not in step.keys) or \
        f'"{step.keys[0]}" = s."{step.keys[0]}"'
    return (
        f"MERGE INTO {_name(step)} AS t\n"
        "USING (\n"
        f"  SELECT {listed}, false AS {GONE} FROM (\n{select}\n  ) AS n\n"
        "  UNION ALL\n"
        f"  SELECT {old}, true AS {GONE} FROM {_name(step)} AS o\n"
        f"  WHERE NOT EXISTS (SELECT 1 FROM (\n{select}\n  ) AS n WHERE {kept})\n"
        ") AS s\n"
        f"ON {on}\n"
        f"WHEN MATCHED AND s.{GONE} THEN DELETE\n"
        f"WHEN MATCHED THEN UPDATE SET {updates}\n"
        f"WHEN NOT MATCHED THEN INSERT ({listed}) VALUES ({values})"
    )


def athena_query(lake: Lake, pipeline: Pipeline, step: Step) -> str:
    """The statement of a view step (tables have two: create_table and replace_table)."""
    return create_view(lake, pipeline, step)

