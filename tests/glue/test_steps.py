"""Both example pipelines on their samples, through the converter and the real Glue job on local Spark: every
table has the rows an independent computation from the sample files gives, the columns the steps select, hashed
PII, and every expectation kind fails with its precise message."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from .conftest import PIPELINES, GlueLake

pytestmark = [pytest.mark.spark, pytest.mark.slow]
SALT = "lakehouse-local-demo-salt"  # the local stack's PII salt parameter


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(path.glob("*.json")) for line in f.read_text().splitlines() if line]


def _csv(path: Path) -> list[dict]:
    return [r for f in sorted(path.glob("*.csv")) for r in csv.DictReader(f.open(newline=""))]


def stedi_expected() -> dict[str, int]:
    """Row counts of the STEDI tables computed in plain Python from the sample files."""
    samples = PIPELINES / "stedi" / "samples" / "stedi"
    latest: dict[str, dict] = {}
    for c in _jsonl(samples / "customer"):
        if c["email"] not in latest or c["lastUpdateDate"] >= latest[c["email"]]["lastUpdateDate"]:
            latest[c["email"]] = c
    trusted = {e: c for e, c in latest.items() if c.get("shareWithResearchAsOfDate") is not None}
    accel = {(a["user"], a["timestamp"]) for a in _jsonl(samples / "accelerometer") if a["user"] in trusted}
    curated = {e for e in trusted if any(u == e for u, _ in accel)}
    serials = {trusted[e]["serialNumber"] for e in curated}
    steps = {(s["serialNumber"], s["sensorReadingTime"]) for s in _jsonl(samples / "step_trainer")
             if s["serialNumber"] in serials}
    times = [t for _, t in accel]
    return {"customer_trusted": len(trusted), "accelerometer_trusted": len(accel), "customer_curated": len(curated),
            "step_trainer_trusted": len(steps), "machine_learning_curated": sum(times.count(t) for _, t in steps)}


def weblogs_expected() -> dict[str, int]:
    samples = PIPELINES / "weblogs" / "samples" / "weblogs"
    activity = _csv(samples / "useractivity")
    profiles = {p["username"]: p for p in _csv(samples / "userprofile")}
    zips = {z["Zipcode"].zfill(5): z["State"] for z in _csv(samples / "zipcodes")}  # the file drops leading 0s
    joined = [a for a in activity if a["username"] in profiles]
    by_state = {(zips[profiles[a["username"]]["zip"]], a["request"].split()[1].split("/")[2])
                for a in joined if profiles[a["username"]]["zip"] in zips}
    return {"useractivity_flat": len(activity), "userprofile_secure": len(profiles),
            "activity_by_profile": len(joined), "page_views_by_state": len(by_state)}


CUSTOMER_COLUMNS = ["customerName", "email", "phone", "birthDay", "serialNumber", "registrationDate",
                    "lastUpdateDate", "shareWithResearchAsOfDate", "shareWithPublicAsOfDate",
                    "shareWithFriendsAsOfDate"]
COLUMNS = {
    "customer_trusted": CUSTOMER_COLUMNS,
    "accelerometer_trusted": ["user", "timestamp", "x", "y", "z"],
    "customer_curated": CUSTOMER_COLUMNS,
    "step_trainer_trusted": ["sensorReadingTime", "serialNumber", "distanceFromObject"],
    "machine_learning_curated": ["sensorReadingTime", "serialNumber", "distanceFromObject", "x", "y", "z"],
    "useractivity_flat": ["ip_address", "username", "http", "bytes", "requesttype", "topdomain", "toppage", "subpage",
                          "date", "time", "year", "month"],
    "userprofile_secure": ["first_name", "last_name", "username", "email", "gender", "phone", "zip", "cc", "ssn",
                           "age"],
    "activity_by_profile": ["username", "requesttype", "topdomain", "toppage", "subpage", "http", "bytes", "date",
                            "time", "gender", "age", "zip", "year", "month"],
    "page_views_by_state": ["state", "toppage", "views", "users"],
}
ZONES = {"customer_curated": "curated", "machine_learning_curated": "curated", "activity_by_profile": "curated",
         "page_views_by_state": "curated"}


@pytest.fixture(scope="module")
def built(glue_lake: GlueLake) -> dict[str, dict]:
    """Both pipelines' samples landed and both state machines run once."""
    outcomes = {}
    for pipeline in ("stedi", "weblogs"):
        entries = glue_lake.land_folder(PIPELINES / pipeline / "samples")
        assert {e.state for e in entries.values()} == {"converted"}, entries
        execution = glue_lake.lake.run_pipeline(pipeline)
        assert execution["status"] == "SUCCEEDED", execution
        outcomes[pipeline] = execution
    return outcomes


@pytest.mark.parametrize("table, rows", sorted({**stedi_expected(), **weblogs_expected()}.items()))
def test_every_table_has_the_rows_the_samples_imply(glue_lake: GlueLake, built: dict, table: str, rows: int) -> None:
    zone = ZONES.get(table, "trusted")
    found = glue_lake.query(f"SELECT * FROM {zone}.{table}")
    assert len(found) == rows > 0
    assert list(found[0]) == COLUMNS[table]
    assert not [c for c in found[0] if c.startswith("_")], "the raw lineage columns stay in the raw zone"


def test_tables_are_iceberg_v2_in_the_glue_catalog(glue_lake: GlueLake, built: dict) -> None:
    glue = glue_lake.lake.aws.client("glue")
    table = glue.get_table(DatabaseName="lakehouse_local_trusted", Name="customer_trusted")["Table"]
    assert table["Parameters"]["table_type"].upper() == "ICEBERG"
    assert table["Parameters"]["metadata_location"].startswith("s3://lakehouse-local-trusted-123456789012/"
                                                               "customer_trusted/metadata/")
    snapshots = glue_lake.query('SELECT operation FROM trusted."customer_trusted$snapshots"')
    assert snapshots == [{"operation": "overwrite"}]  # one published snapshot; the audit branch is gone
    assert glue_lake.query('SELECT name FROM trusted."customer_trusted$refs"') == [{"name": "main"}]


def test_userprofile_secure_hashes_pii_with_the_salt(glue_lake: GlueLake, built: dict) -> None:
    raw = {r["username"]: r for r in _csv(PIPELINES / "weblogs" / "samples" / "weblogs" / "userprofile")}
    for row in glue_lake.query("SELECT * FROM trusted.userprofile_secure"):
        source = raw[row["username"]]
        assert "password" not in row
        assert row["ssn"] == hashlib.sha256((SALT + source["ssn"]).encode()).hexdigest()
        assert row["cc"] == hashlib.sha256((SALT + source["cc"]).encode()).hexdigest()


def test_machine_learning_curated_has_no_direct_identifier(glue_lake: GlueLake, built: dict) -> None:
    row = glue_lake.query("SELECT * FROM curated.machine_learning_curated LIMIT 1")[0]
    assert not {c.lower() for c in row} & {"email", "user", "customername", "phone", "birthday"}


def test_useractivity_flat_is_partitioned_by_toppage(glue_lake: GlueLake, built: dict) -> None:
    activity = _csv(PIPELINES / "weblogs" / "samples" / "weblogs" / "useractivity")
    pages = {a["request"].split()[1].split("/")[2] for a in activity}
    partitions = glue_lake.query('SELECT "partition" FROM trusted."useractivity_flat$partitions"')
    assert {p["partition"]["toppage"] for p in partitions} == pages and len(pages) > 1


# ------------------------------------------------------------------------------------------------ expectations
VALUES = "SELECT * FROM VALUES (1, 'a', 'F', 30), (2, NULL, 'X', 140), (2, 'c', 'M', -1) AS v(id, email, gender, age)"
FAILURES = {
    "row_count": ("{type: row_count, min: 5}", "row_count(min=5): 3 rows"),
    "row_count_max": ("{type: row_count, min: 1, max: 2}", "row_count(min=1, max=2): 3 rows"),
    "not_null": ("{type: not_null, columns: [id, email]}", "not_null(id, email): 1 rows with nulls"),
    "unique": ("{type: unique, columns: [id]}", "unique(id): 1 duplicate keys in 2 rows"),
    "accepted_values": ("{type: accepted_values, column: gender, values: [F, M]}",
                        "accepted_values(gender in [F, M]): 1 rows with other values (e.g. X)"),
    "range": ("{type: range, column: age, min: 0, max: 130}", "range(age, min=0, max=130): 2 rows out of range"),
    "keys_exist": ("{type: keys_exist, columns: [id], in_table: checks_ref, in_columns: [ref_id]}",
                   "keys_exist(id in checks_ref(ref_id)): 2 rows with keys missing from checks_ref"),
}


@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_a_failing_expectation_fails_the_run_with_its_message_and_publishes_nothing(
        glue_lake: GlueLake, kind: str) -> None:
    expectation, message = FAILURES[kind]
    glue_lake.write("checks/steps/checks_ref.sql", "SELECT * FROM VALUES (1) AS r(ref_id)")
    glue_lake.write("checks/steps/checked.sql", VALUES)
    glue_lake.write("checks/pipeline.yaml", "steps:\n  - {name: checks_ref, zone: trusted}\n"
                    f"  - {{name: checked, zone: trusted, expectations: [{expectation}]}}\n")
    assert glue_lake.run_step("checks", "checks_ref")["state"] == "SUCCEEDED"
    before = glue_lake.lake.table_rows([("trusted", "checked")])["checked"]["rows"]
    result = glue_lake.run_step("checks", "checked")
    assert result["state"] == "FAILED"
    assert result["error"] == f"ExpectationFailed: expectation failed: checked {message}"
    assert result["rows_written"] == 3 and result["expectations_passed"] == 0
    # write-audit-publish: the failing rows stayed on the audit branch, which is dropped
    assert glue_lake.lake.table_rows([("trusted", "checked")])["checked"]["rows"] == (before or 0)
    assert {r["name"] for r in glue_lake.query('SELECT name FROM trusted."checked$refs"')} <= {"main"}


def test_keys_exist_against_the_steps_own_table_checks_its_new_rows_from_the_first_run(glue_lake: GlueLake) -> None:
    """A hierarchy (classicmodels' employees.reportsTo -> employeeNumber) is checked against the rows being
    published; the first run used to fail asking to run the step itself first."""
    expectation = "[{type: keys_exist, columns: [boss], in_table: trusted.staff, in_columns: [id]}]"
    glue_lake.write("selfref/pipeline.yaml", f"steps:\n  - {{name: staff, zone: trusted, expectations: {expectation}}}\n")
    glue_lake.write("selfref/steps/staff.sql", "SELECT * FROM VALUES (1, NULL), (2, 1), (3, 2) AS v(id, boss)")
    assert glue_lake.run_step("selfref", "staff")["state"] == "SUCCEEDED"
    glue_lake.write("selfref/steps/staff.sql", "SELECT * FROM VALUES (1, NULL), (2, 1), (4, 9) AS v(id, boss)")
    result = glue_lake.run_step("selfref", "staff")
    assert result["error"] == ("ExpectationFailed: expectation failed: staff keys_exist(boss in trusted.staff(id)): "
                               "1 rows with keys missing from trusted.staff")


def test_a_failed_accepted_values_check_on_a_pii_column_quotes_no_value(glue_lake: GlueLake) -> None:
    """The failure goes to the alert and the logs: a column named like a pii column (weblogs' ssn) is counted,
    never quoted."""
    glue_lake.write("piicheck/steps/pii_checked.sql", "SELECT * FROM VALUES ('151-70-4854'), ('000-00-0000') AS v(ssn)")
    glue_lake.write("piicheck/pipeline.yaml", "steps:\n  - {name: pii_checked, zone: trusted, expectations: "
                    "[{type: accepted_values, column: ssn, values: ['000-00-0000']}]}\n")
    result = glue_lake.run_step("piicheck", "pii_checked")
    assert result["error"] == ("ExpectationFailed: expectation failed: pii_checked accepted_values(ssn in "
                               "[000-00-0000]): 1 rows with other values (not quoted: ssn is the name of a pii "
                               "column)"), result["error"]


def test_missing_landing_data_fails_at_the_quality_gate(glue_lake: GlueLake) -> None:
    glue_lake.write("empty/contracts/nothing.yaml", "dataset: nothing\ntable: nothing_landed\n"
                    "landing_prefix: empty/nothing/\nformat: {type: jsonl}\ncolumns: [{name: id, type: bigint}]\n")
    glue_lake.write("empty/steps/from_nothing.sql", "SELECT id FROM nothing_landed")
    glue_lake.write("empty/pipeline.yaml", "steps:\n  - name: from_nothing\n    zone: trusted\n"
                    "    expectations: [{type: row_count, min: 1}]\n")
    result = glue_lake.run_step("empty", "from_nothing")
    assert result["error"] == "ExpectationFailed: expectation failed: from_nothing row_count(min=1): 0 rows"
