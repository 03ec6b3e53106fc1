"""Every value a contract admits survives the converter (issue 13, Build): property-based, on generated files.

For files drawn by ``strategies.landing_cases`` (every type over its whole domain, every format, encoding,
compression and line ending a contract can declare), the converter must either write the Parquet with every
value exactly as drawn, read back with pyarrow, or reject the file with the specific reason the case expects.
"""

from __future__ import annotations

import io
import math
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given, note
from lakehouse.convert import convert
from lakehouse.outcomes import FileRejected, Lineage

from .strategies import LandingCase, landing_cases


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, float):
        if math.isnan(expected):
            return isinstance(got, float) and math.isnan(got)
        return got == expected and math.copysign(1, got) == math.copysign(1, expected)
    return type(got) is type(expected) and got == expected if expected is not None else got is None


def _convert(case: LandingCase) -> tuple[pa.Table | None, FileRejected | None]:
    with tempfile.TemporaryDirectory() as tmp:
        out, work = Path(tmp, "out"), Path(tmp, "work")
        work.mkdir()
        try:
            result = convert(lambda: io.BytesIO(case.body), case.contract, key=case.key, out_dir=out, work_dir=work,
                             lineage=Lineage(case.key, "v1", datetime(2026, 11, 22, tzinfo=UTC)))
        except FileRejected as rejected:
            return None, rejected
        assert result.rows_rejected == 0, result.row_errors.kept
        # one file per partition: read each as it is (its folder names are the raw table's partition keys)
        return pa.concat_tables(pq.ParquetFile(out / o.path).read() for o in result.outputs), None


def check(case: LandingCase) -> None:
    note(f"shape {case.shape}; columns {[(c.name, c.type, c.format, c.nullable) for c in case.contract.columns]}")
    note(f"body {case.body[:600]!r}")
    table, rejected = _convert(case)
    if case.rejection is not None:
        assert rejected is not None and rejected.code == case.rejection, rejected and rejected.reason()
        return
    assert rejected is None, rejected.reason()
    assert table is not None and table.num_rows == len(case.rows)
    # rows keep their order within a partition's file, not across partitions: compare in the order of every value
    def key(row: dict[str, Any]) -> str:
        return repr(sorted((k, repr(v)) for k, v in row.items()))

    written = [{name: row[name] for name in case.rows[0]} for row in table.to_pylist()]
    for index, (expected_row, got_row) in enumerate(zip(sorted(case.rows, key=key), sorted(written, key=key))):
        for name, expected in expected_row.items():
            assert _same(expected, got_row[name]), (index, name, expected, got_row[name])


@given(landing_cases(file_types=("csv", "tsv")))
def test_every_admitted_value_round_trips_through_csv_and_tsv(case):
    check(case)


@given(landing_cases(file_types=("jsonl",)))
def test_every_admitted_value_round_trips_through_json_lines(case):
    check(case)


@given(landing_cases(file_types=("json_array",)))
def test_every_admitted_value_round_trips_through_a_json_array_or_is_a_parse_error(case):
    check(case)
