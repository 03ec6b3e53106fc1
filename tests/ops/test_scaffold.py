"""`lakehouse new dataset` / `new pipeline`: files that load as they are, columns inferred from a sample."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lakehouse.contracts import ContractRegistry
from lakehouse.pipeline import Lake
from lakehouse.statemachine import build_definition
from lakehouse_local.cli import main
from lakehouse_local.scaffold import ScaffoldError, infer, new_dataset, new_pipeline

from .conftest import REPO


@pytest.fixture
def pipelines(tmp_path: Path) -> Path:
    copy = tmp_path / "pipelines"
    shutil.copytree(REPO / "pipelines", copy, ignore=shutil.ignore_patterns("samples"))
    return copy


def test_columns_and_format_are_inferred_from_a_csv_sample(tmp_path: Path) -> None:
    sample = tmp_path / "orders.csv"
    sample.write_text("id,price,day,at,flag,note\n1,2.5,2026-11-01,2026-11-01T10:00:00,true,x\n"
                      "2,3,2026-11-02,2026-11-02 11:30,false,\n")
    kind, columns = infer(sample)
    assert kind == "csv"
    assert [(c.name, c.type) for c in columns] == [("id", "bigint"), ("price", "double"), ("day", "date"),
                                                   ("at", "timestamp"), ("flag", "boolean"), ("note", "string")]


def test_columns_are_inferred_from_json_lines_keys(tmp_path: Path) -> None:
    sample = tmp_path / "events.jsonl"
    sample.write_text('{"user": "a", "n": 1, "score": 0.5}\n{"user": "b", "n": 2, "ok": true}\n')
    assert [(c.name, c.type) for c in infer(sample)[1]] == [("user", "string"), ("n", "bigint"),
                                                            ("score", "double"), ("ok", "boolean")]


def test_new_dataset_writes_a_contract_that_routes_its_folder(pipelines: Path, tmp_path: Path) -> None:
    sample = tmp_path / "returns-2026-11.csv"
    sample.write_text("order_id,order_date,reason\n10100,2026-11-03,damaged\n10101,2026-11-04,\n")
    contract_path, copied = new_dataset(pipelines, "retail", "returns", sample)
    assert contract_path == pipelines / "retail" / "contracts" / "returns.yaml"
    assert copied == pipelines / "retail" / "samples" / "retail" / "returns" / sample.name
    contract = ContractRegistry.from_directory(pipelines).resolve("retail/returns/2026-11.csv")
    assert contract is not None and contract.table == "returns" and contract.format.type == "csv"
    assert [(c.name, c.type) for c in contract.columns] == [("order_id", "bigint"), ("order_date", "date"),
                                                            ("reason", "string")]
    with pytest.raises(ScaffoldError, match="exists already"):
        new_dataset(pipelines, "retail", "returns", sample)


def test_a_taken_table_name_gets_the_pipeline_prefix(pipelines: Path) -> None:
    new_dataset(pipelines, "sales", "customer_landing")  # stedi.customer already writes raw table "customer_landing"
    contract = ContractRegistry.from_directory(pipelines).get("sales", "customer_landing")
    assert contract.table == "sales_customer_landing"


def test_new_pipeline_loads_and_generates_a_state_machine(pipelines: Path) -> None:
    written = new_pipeline(pipelines, "sales")
    assert [p.relative_to(pipelines).as_posix() for p in written] == [
        "sales/contracts/records.yaml", "sales/samples/sales/records/records-example.csv",
        "sales/steps/records_trusted.sql", "sales/pipeline.yaml"]
    lake = Lake.load(pipelines)
    pipeline = lake.pipeline("sales")
    assert [s.name for s in pipeline.steps] == ["records_trusted"]
    assert [s.table.name for s in lake.sources("sales", "records_trusted")] == ["records"]
    assert "records_trusted" in build_definition(lake, pipeline)["States"]
    with pytest.raises(ScaffoldError, match="exists already"):
        new_pipeline(pipelines, "sales")


def test_the_commands_write_under_the_pipelines_folder(pipelines: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "pipeline", "shop", "--dataset", "baskets", "--pipelines-dir", str(pipelines)]) == 0
    assert (pipelines / "shop" / "steps" / "baskets_trusted.sql").is_file()
    assert main(["new", "dataset", "shop", "Bad-Name", "--pipelines-dir", str(pipelines)]) == 2
    assert "lower-case letters" in capsys.readouterr().err
