from pathlib import Path

import pytest
from lakehouse.contracts import ContractError, ContractRegistry, load_contract

GOOD = """
dataset: things
table: things
landing_prefix: demo/things/
format: {type: csv}
columns:
  - {name: id, type: bigint, nullable: false}
"""


def write(tmp_path: Path, text: str, pipeline: str = "demo", name: str = "things.yaml") -> Path:
    path = tmp_path / pipeline / "contracts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_every_shipped_contract_loads(pipelines_dir):
    registry = ContractRegistry.from_directory(pipelines_dir)
    names = {c.qualified_name for c in registry.contracts}
    assert {
        "stedi.customer", "stedi.accelerometer", "stedi.step_trainer",
        "weblogs.useractivity", "weblogs.userprofile", "weblogs.zipcodes", "retail.orders",
    } <= names


def test_resolves_the_longest_matching_prefix(pipelines_dir):
    registry = ContractRegistry.from_directory(pipelines_dir)
    assert registry.resolve("stedi/customer/2026/a.json").table == "customer_landing"
    assert registry.resolve("stedi/customers.json") is None
    assert registry.resolve("elsewhere/a.csv") is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("dataset: [unclosed", "not valid YAML"),
        ("- a list", "a contract is a YAML mapping"),
        (GOOD + "surprise: 1\n", "surprise: Extra inputs are not permitted"),
        (GOOD.replace("bigint", "integer"), "columns.0.type"),
        (GOOD.replace("demo/things/", "demo/things"), "landing_prefix"),
        (GOOD + "key: [nope]\n", "key column 'nope' is not a declared column"),
        (GOOD.replace("nullable: false}", "nullable: false, checks: {regex: '('}}"), "does not compile with RE2"),
        # Python's re takes look-behind, RE2 (what the converter runs) does not: the contract says so at load
        (GOOD.replace("nullable: false}", "nullable: false, checks: {regex: '(?<=a)b'}}"), "invalid perl operator"),
        (GOOD.replace("{type: csv}", "{type: csv, delimiter: ';;'}"), "single character"),
        (GOOD.replace("{type: csv}", "{type: csv, encoding: klingon}"), "unknown encoding"),
        # the converter adds _source_key, _source_version and _ingested_at to every row
        (GOOD + "  - {name: _source_key}\n", "['_source_key'] are the lineage columns"),
        (GOOD + "  - {name: _Ingested_At, type: timestamp}\n", "['_Ingested_At'] are the lineage columns"),
        # finding 5 of issue 13: a directory "_x=..." is hidden from Spark, Hive and Athena (lineage names start so too)
        (GOOD + "partitions: [{name: _source_version, source: ingest_date}]\n", "partitions.0.name: String should match"),
        (GOOD + "partitions: [{name: _day, source: ingest_date}]\n", "partitions.0.name: String should match"),
        (GOOD.replace("{type: csv}", "{type: jsonl, encoding: latin-1}"), "JSON is read as UTF-8"),
    ],
)
def test_a_broken_contract_names_its_file_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ContractError) as raised:
        load_contract(path, pipeline="demo")
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_two_contracts_cannot_share_a_prefix_or_a_table(tmp_path):
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace("dataset: things", "dataset: other"), name="other.yaml")
    with pytest.raises(ContractError, match="share landing_prefix"):
        ContractRegistry.from_directory(tmp_path)


def test_an_empty_pipelines_folder_is_an_error(tmp_path):
    with pytest.raises(ContractError, match="no contracts found"):
        ContractRegistry.from_directory(tmp_path)


@pytest.mark.parametrize("value, seconds", [("30m", 1800), ("24h", 86400), ("7d", 604800)])
def test_freshness_is_a_duration_of_at_most_a_week(tmp_path, value, seconds):
    path = tmp_path / "c.yaml"
    path.write_text(f"dataset: d\ntable: t\nlanding_prefix: p/\nformat: {{type: csv}}\ncolumns: [{{name: a}}]\n"
                    f"freshness: {value}\n")
    assert load_contract(path, "x").freshness_seconds == seconds


@pytest.mark.parametrize("value", ["8d", "5m", "24", "1w", "0h"])
def test_a_freshness_cloudwatch_cannot_watch_is_refused_at_load(tmp_path, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"dataset: d\ntable: t\nlanding_prefix: p/\nformat: {{type: csv}}\ncolumns: [{{name: a}}]\n"
                    f"freshness: {value}\n")
    with pytest.raises(ContractError, match="freshness"):
        load_contract(path, "x")
