"""The real-format corpus (issue 13, Build): tests/corpus/files/, one small file per trait real sources carry.

tests/corpus/cases.yaml gives each file's contract and decided outcome (converted with its row count and some
values read back, or the specific reason code); this test converts every case and checks it. The README's outcome
table ("What happens to every landing object") lists the same cases.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from lakehouse.contracts import Contract, ContractRegistry, load_contract
from lakehouse.convert import convert
from lakehouse.outcomes import FileRejected, Lineage, ObjectIgnored

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "tests" / "corpus"
CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text())["cases"]
SHIPPED = ContractRegistry.from_directory(REPO / "pipelines")
CORPUS_CONTRACTS = {
    path.stem: load_contract(path, pipeline="corpus") for path in sorted((CORPUS / "contracts").glob("*.yaml"))
}
PII_VALUES = ("6835-5177-8166-5873", "ettttoette6", "116-48-1824")


def contract_of(name: str) -> Contract:
    pipeline, dataset = name.split(".")
    return CORPUS_CONTRACTS[dataset] if pipeline == "corpus" else SHIPPED.get(pipeline, dataset)


def test_every_corpus_file_has_a_case_and_every_case_a_file():
    listed = {case["file"] for case in CASES}
    assert listed == {p.name for p in (CORPUS / "files").iterdir()}
    assert all(case["outcome"] in ("converted", "quarantined", "ignored") for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_each_real_format_case_gets_its_decided_outcome(case, tmp_path):
    c = contract_of(case["contract"])
    body = (CORPUS / "files" / case["file"]).read_bytes()
    key = f"{c.landing_prefix}{case['file']}"
    work = tmp_path / "work"
    work.mkdir()
    try:
        result = convert(lambda: io.BytesIO(body), c, key=key, out_dir=tmp_path / "out", work_dir=work,
                         lineage=Lineage(key, "v1", datetime(2026, 11, 22, tzinfo=UTC)))
    except FileRejected as rejected:
        assert (case["outcome"], case.get("code")) == ("quarantined", rejected.code), rejected.reason()
        reason = json.dumps(rejected.reason(), default=str)
        assert all(secret not in reason for secret in PII_VALUES)
        return
    except ObjectIgnored as ignored:
        assert (case["outcome"], case.get("code")) == ("ignored", ignored.code), ignored.message
        return
    assert case["outcome"] == "converted", f"converted, but decided: {case['outcome']} {case.get('code')}"
    assert (result.rows_written, result.rows_rejected) == (case["rows"], 0)
    table = pa.concat_tables(pq.read_table(tmp_path / "out" / o.path) for o in result.outputs)
    for column, expected in (case.get("values") or {}).items():
        got = [None if v is None else str(v) for v in table.column(column).to_pylist()]
        assert got == expected, column
