"""What a SQL step reads, and the same SQL with its table references renamed: sqlglot, not regular expressions.

Steps name tables as ``name`` or ``zone.name`` (``raw.orders``, ``trusted.customer_trusted``); common table
expressions are not tables. The Glue job runs Spark SQL, the Athena steps Trino SQL (Athena's engine v3), so each
step is parsed in its engine's dialect.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["spark", "athena", "duckdb"]


class SqlError(ValueError):
    """The SQL text does not parse; the message says where."""


@dataclass(frozen=True, order=True)
class TableName:
    """A table as a SQL text names it: ``zone`` is empty when the name is bare."""

    zone: str
    name: str

    def __str__(self) -> str:
        return f"{self.zone}.{self.name}" if self.zone else self.name


def _parse(sql: str, dialect: Dialect):
    import sqlglot
    from sqlglot.errors import ParseError

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except ParseError as exc:
        raise SqlError(str(exc).splitlines()[0]) from exc
    if len(statements) != 1:
        raise SqlError(f"a step holds exactly one statement, found {len(statements)}")
    return statements[0]


def table_nodes(tree: Any) -> Iterator[Any]:
    """The table nodes of a parsed statement that name tables (not its CTEs)."""
    from sqlglot import exp

    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.name or (not table.db and table.name.lower() in ctes):
            continue
        yield table


def referenced_tables(sql: str, dialect: Dialect) -> list[TableName]:
    """Every table the statement reads, in order of first mention, without duplicates."""
    seen: dict[TableName, None] = {}
    for table in table_nodes(_parse(sql, dialect)):
        name = table.name.split("$", 1)[0]  # Athena's metadata tables: "orders$snapshots" reads orders
        seen.setdefault(TableName(table.db.lower(), name.lower()), None)
    return list(seen)


def rename_tables(sql: str, dialect: Dialect, names: Mapping[TableName, tuple[str, ...]]) -> str:
    """The statement with each table reference in ``names`` replaced by the given parts (e.g. ``(database, table)``
    or ``(view,)``). Returns ``sql`` unchanged when nothing is renamed, so plain steps run exactly as written."""
    from sqlglot import exp

    tree = _parse(sql, dialect)
    changed = False
    for table in list(table_nodes(tree)):
        base, _, suffix = table.name.partition("$")
        parts = names.get(TableName(table.db.lower(), base.lower()))
        if parts is None:
            continue
        *prefix, last = parts
        if suffix:
            last = f"{last}${suffix}"
        replacement = exp.to_table(".".join(["x"] * len(parts)))  # shape only; parts set below keep their quoting
        replacement.set("this", exp.to_identifier(last, quoted=bool(suffix) or None))
        replacement.set("db", exp.to_identifier(prefix[-1]) if prefix else None)
        replacement.set("catalog", exp.to_identifier(prefix[-2]) if len(prefix) > 1 else None)
        for key in ("alias", "version", "when", "joins", "laterals", "pivots", "hints", "sample"):
            if table.args.get(key) is not None:
                replacement.set(key, table.args[key])
        if not table.alias and parts[-1] != base:
            replacement.set("alias", exp.TableAlias(this=exp.to_identifier(base)))  # keeps `orders.id` valid
        table.replace(replacement)
        changed = True
    return tree.sql(dialect=dialect, pretty=True) if changed else sql
