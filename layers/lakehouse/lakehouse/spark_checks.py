"""What a Glue step checks before it publishes: its output's schema against its table, and its expectations.

Both run on Spark DataFrames; pyspark is imported by the caller's session (the Glue job), never by the converter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .pipeline import (
    AcceptedValues,
    Expectation,
    KeysExist,
    NotNull,
    Range,
    RowCount,
    Unique,
    describe_expectation,
)


class ExpectationFailed(RuntimeError):
    """One or more expectations failed; nothing was published. ``str()`` lists each failure."""

    def __init__(self, failures: Sequence[str]) -> None:
        super().__init__("; ".join(failures))
        self.failures = list(failures)


class BreakingSchemaChange(RuntimeError):
    """The step's output cannot be written to its table without losing or reinterpreting data."""


def quote(name: str) -> str:
    """A column or table name as a Spark SQL identifier."""
    return "`" + name.replace("`", "``") + "`"


# ------------------------------------------------------------------------------------------------ schema
# Iceberg's allowed promotions (spec: "Schema Evolution"): a reader of the old files still reads them exactly.
_WIDENINGS = {("int", "bigint"), ("float", "double")}


@dataclass
class SchemaPlan:
    """How a table's schema must change to take the step's output."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (column, Spark type), appended as nullable
    widened: list[tuple[str, str, str]] = field(default_factory=list)  # (column, from, to)

    @property
    def empty(self) -> bool:
        return not self.added and not self.widened


def plan_schema(table: str, current: list[tuple[str, str]], output: list[tuple[str, str]]) -> SchemaPlan:
    """Compare the table's columns with the output's (name, simple type string); raise on a breaking change.

    Additive changes evolve the table: new columns, and the widenings Iceberg allows. A column the table has and
    the output lacks, or a type that narrows or changes kind, fails the step before it writes anything.
    """
    have = {name.lower(): (name, kind) for name, kind in current}
    want = {name.lower(): (name, kind) for name, kind in output}
    problems = []
    plan = SchemaPlan()
    for key, (name, kind) in have.items():
        if key not in want:
            problems.append(f"column {name!r} ({kind}) is no longer in the output")
            continue
        new_kind = want[key][1]
        if new_kind == kind:
            continue
        if (kind, new_kind) in _WIDENINGS or _wider_decimal(kind, new_kind):
            plan.widened.append((name, kind, new_kind))
        else:
            problems.append(f"column {name!r} changes type from {kind} to {new_kind}")
    for key, (name, kind) in want.items():
        if key not in have:
            plan.added.append((name, kind))
    if problems:
        raise BreakingSchemaChange(
            f"breaking schema change for table {table}: {'; '.join(problems)}. Nothing was written. Keep the "
            "column (cast it to its old type, or select NULL for a dropped one), or rebuild the table from scratch "
            "with a full refresh (execution input {\"full_refresh\": true})"
        )
    return plan


def _wider_decimal(old: str, new: str) -> bool:
    if not (old.startswith("decimal(") and new.startswith("decimal(")):
        return False
    (p1, s1), (p2, s2) = ([int(x) for x in t[8:-1].split(",")] for t in (old, new))
    return s1 == s2 and p2 >= p1


def simple_schema(df: Any) -> list[tuple[str, str]]:
    return [(f.name, f.dataType.simpleString()) for f in df.schema.fields]


# ------------------------------------------------------------------------------------------------ expectations
@dataclass
class CheckResult:
    rows: int
    passed: int
    failures: list[str]


def evaluate(spark: Any, table: str, df: Any, expectations: Sequence[Expectation], views: dict[str, str],
             pii_columns: frozenset[str] = frozenset()) -> CheckResult:
    """Evaluate ``expectations`` on ``df`` (the step's table as it would be published).

    NULLs are not violations of accepted_values, range or keys_exist (not_null is the rule for those). One pass over
    ``df`` counts the rows and every row-wise rule; unique and keys_exist need their own aggregation or join.
    ``views`` maps an expectation's table name (as written) to the Spark view holding it.
    """
    from pyspark.sql import functions as F

    def col(name: str) -> Any:
        return F.col(quote(name))

    def violation(e: Expectation) -> Any:
        if isinstance(e, NotNull):
            condition = F.lit(False)
            for name in e.columns:
                condition = condition | col(name).isNull()
            return condition
        if isinstance(e, AcceptedValues):
            return col(e.column).isNotNull() & ~col(e.column).isin(list(e.values))
        if isinstance(e, Range):
            condition = F.lit(False)
            if e.min is not None:
                condition = condition | (col(e.column) < F.lit(e.min))
            if e.max is not None:
                condition = condition | (col(e.column) > F.lit(e.max))
            return col(e.column).isNotNull() & condition
        return None

    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for index, e in enumerate(expectations):
        condition = violation(e)
        if condition is not None:
            aggregates.append(F.sum(F.when(condition, 1).otherwise(0)).alias(f"_e{index}"))
    counts = df.agg(*aggregates).first()
    rows = int(counts["_rows"])
    failures = []
    for index, e in enumerate(expectations):
        message = None
        bad = int(counts[f"_e{index}"] or 0) if violation(e) is not None else 0
        if isinstance(e, RowCount):
            if (e.min is not None and rows < e.min) or (e.max is not None and rows > e.max):
                message = f"{rows} rows"
        elif isinstance(e, NotNull) and bad:
            message = f"{bad} rows with nulls"
        elif isinstance(e, AcceptedValues) and bad and e.column.lower() in pii_columns:
            message = f"{bad} rows with other values (not quoted: {e.column} is the name of a pii column)"
        elif isinstance(e, AcceptedValues) and bad:
            examples = [str(r[0])[:40] for r in df.filter(violation(e)).select(col(e.column)).distinct().limit(3).collect()]
            message = f"{bad} rows with other values (e.g. {', '.join(examples)})"
        elif isinstance(e, Range) and bad:
            message = f"{bad} rows out of range"
        elif isinstance(e, Unique):
            groups = df.groupBy(*[col(c) for c in e.columns]).count().filter(F.col("count") > 1)
            summary = groups.agg(F.count(F.lit(1)).alias("keys"), F.sum("count").alias("rows")).first()
            if summary["keys"]:
                message = f"{summary['keys']} duplicate keys in {summary['rows']} rows"
        elif isinstance(e, KeysExist):
            keys = df.select(*[col(c).alias(f"_k{j}") for j, c in enumerate(e.columns)]).dropna()
            other = df if e.in_table.rsplit(".", 1)[-1] == table else spark.table(views[e.in_table])
            reference = other.select(*[col(c).alias(f"_k{j}") for j, c in enumerate(e.target_columns)])
            missing = keys.join(reference, on=[f"_k{j}" for j in range(len(e.columns))], how="left_anti").count()
            if missing:
                message = f"{missing} rows with keys missing from {e.in_table}"
        if message:
            failures.append(f"expectation failed: {table} {describe_expectation(e)}: {message}")
    return CheckResult(rows, len(expectations) - len(failures), failures)
