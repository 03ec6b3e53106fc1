"""glue/pipeline_step.py on local Spark: both example pipelines on their samples, every expectation kind failing
with its precise message, reruns, the CLI, and the pipeline model (stages, validation, S3 loading)."""
from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline_step as ps  # tests/glue/conftest.py puts glue/ on sys.path

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "pipelines"

SALT = "test-salt"


# ------------------------------------------------------------------------------------------------ oracles
def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(path.glob("*.json")) for line in f.read_text().splitlines() if line]


def _csv(path: Path) -> list[dict]:
    return [r for f in sorted(path.glob("*.csv")) for r in csv.DictReader(f.open())]


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
    ml = sum(times.count(t) for _, t in steps)
    return {"customer_trusted": len(trusted), "accelerometer_trusted": len(accel), "customer_curated": len(curated),
            "step_trainer_trusted": len(steps), "machine_learning_curated": ml}


def weblogs_expected() -> dict[str, int]:
    samples = PIPELINES / "weblogs" / "samples" / "weblogs"
    activity = _csv(samples / "useractivity")
    profiles = {p["username"]: p for p in _csv(samples / "userprofile")}
    zips = {z["Zipcode"]: z["State"] for z in _csv(samples / "zipcodes")}
    joined = [a for a in activity if a["username"] in profiles]
    by_state = {(zips[profiles[a["username"]]["zip"]], a["request"].split()[1].split("/")[2])
                for a in joined if profiles[a["username"]]["zip"] in zips}
    return {"useractivity_flat": len(activity), "userprofile_secure": len(profiles),
            "activity_by_profile": len(joined), "page_views_by_state": len(by_state)}


EXPECTED_ROWS = {**stedi_expected(), **weblogs_expected()}
CUSTOMER_COLUMNS = ["customerName", "email", "phone", "birthDay", "serialNumber", "registrationDate",
                    "lastUpdateDate", "shareWithResearchAsOfDate", "shareWithPublicAsOfDate",
                    "shareWithFriendsAsOfDate"]
EXPECTED_COLUMNS = {
    "customer_trusted": CUSTOMER_COLUMNS,
    "accelerometer_trusted": ["user", "timestamp", "x", "y", "z"],
    "customer_curated": CUSTOMER_COLUMNS,
    "step_trainer_trusted": ["sensorReadingTime", "serialNumber", "distanceFromObject"],
    "machine_learning_curated": ["sensorReadingTime", "serialNumber", "distanceFromObject", "x", "y", "z"],
    # partition columns come last when a partitioned table is read back
    "useractivity_flat": ["ip_address", "username", "http", "bytes", "requesttype", "topdomain", "subpage",
                          "date", "time", "year", "month", "toppage"],
    "userprofile_secure": ["first_name", "last_name", "username", "email", "gender", "phone", "zip", "cc", "ssn",
                           "age"],
    "activity_by_profile": ["username", "requesttype", "topdomain", "toppage", "subpage", "http", "bytes", "date",
                            "time", "gender", "age", "zip", "year", "month"],
    "page_views_by_state": ["state", "toppage", "views", "users"],
}
ALL_STEPS = [("stedi", s) for s in ("customer_trusted", "accelerometer_trusted", "customer_curated",
                                    "step_trainer_trusted", "machine_learning_curated")] + \
            [("weblogs", s) for s in ("useractivity_flat", "userprofile_secure", "activity_by_profile",
                                      "page_views_by_state")]


def test_sample_numbers_make_every_table_non_empty():
    assert EXPECTED_ROWS == {
        "customer_trusted": 15, "accelerometer_trusted": 56, "customer_curated": 7, "step_trainer_trusted": 70,
        "machine_learning_curated": 56, "useractivity_flat": 200, "userprofile_secure": 30,
        "activity_by_profile": EXPECTED_ROWS["activity_by_profile"],
        "page_views_by_state": EXPECTED_ROWS["page_views_by_state"]}
    assert 0 < EXPECTED_ROWS["activity_by_profile"] < 200
    assert EXPECTED_ROWS["page_views_by_state"] > 0


def test_samples_are_generated_deterministically(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tests" / "samples" / "generate.py"), str(tmp_path)], check=True,
                   capture_output=True)
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert generated, "the generator wrote nothing"
    for rel in generated:
        assert (tmp_path / rel).read_bytes() == (PIPELINES / rel).read_bytes(), f"{rel} is stale: rerun generate.py"


def test_sample_files_respect_contract_keys():
    """The converter rejects a file with duplicate keys, so the samples must not have any."""
    import yaml

    for contract_path in PIPELINES.glob("*/contracts/*.yaml"):
        contract = yaml.safe_load(contract_path.read_text())
        if not contract.get("key"):
            continue
        folder = contract_path.parents[1] / "samples" / contract["landing_prefix"]
        rows = _csv(folder) if contract["format"]["type"] == "csv" else _jsonl(folder)
        keys = [tuple(r[k] for k in contract["key"]) for r in rows]
        assert rows and len(keys) == len(set(keys)), f"duplicate {contract['key']} in {folder}"


# ------------------------------------------------------------------------------------------------ example pipelines
@pytest.fixture(scope="session")
def built(spark, lake) -> dict[str, ps.StepResult]:
    """Run every step of both example pipelines, stage by stage, on the shared lake."""
    roots = ps.ZoneRoots.local(str(lake))
    results = {}
    for name in ("stedi", "weblogs"):
        pipeline = ps.load_pipeline(PIPELINES, name)
        for stage in pipeline.stages():
            for step in stage:
                results[step.name] = ps.run_step(spark, pipeline, step.name, roots, salt=SALT)
    return results


@pytest.mark.spark
@pytest.mark.parametrize("pipeline,step", ALL_STEPS)
def test_step_builds_expected_table(spark, lake, built, pipeline, step):
    result = built[step]
    assert result.status == "SUCCEEDED"
    assert result.expectations_passed == result.expectations_total > 0
    assert result.rows == result.rows_written == EXPECTED_ROWS[step]
    zone = ps.load_pipeline(PIPELINES, pipeline).step(step).zone
    df = spark.read.parquet(str(lake / zone / step))
    assert df.count() == EXPECTED_ROWS[step]
    assert df.columns == EXPECTED_COLUMNS[step]
    assert not [c for c in df.columns if c.startswith("_")], "raw lineage columns stay in the raw zone"


@pytest.mark.spark
def test_machine_learning_curated_has_no_direct_identifier(spark, lake, built):
    cols = {c.lower() for c in spark.read.parquet(str(lake / "curated" / "machine_learning_curated")).columns}
    assert not cols & {"email", "user", "customername", "phone", "birthday"}


@pytest.mark.spark
def test_customer_curated_is_one_row_per_customer(spark, lake, built):
    df = spark.read.parquet(str(lake / "curated" / "customer_curated"))
    assert df.select("email").distinct().count() == df.count()


@pytest.mark.spark
def test_userprofile_secure_hashes_pii_with_the_salt(spark, lake, built):
    raw = {r["username"]: r for r in _csv(PIPELINES / "weblogs" / "samples" / "weblogs" / "userprofile")}
    rows = spark.read.parquet(str(lake / "trusted" / "userprofile_secure")).collect()
    assert "password" not in rows[0].asDict()
    for r in rows:
        src = raw[r["username"]]
        assert r["ssn"] == hashlib.sha256((SALT + src["ssn"]).encode()).hexdigest()
        assert r["cc"] == hashlib.sha256((SALT + src["cc"]).encode()).hexdigest()


@pytest.mark.spark
def test_useractivity_flat_is_partitioned_by_toppage(lake, built):
    parts = sorted(p.name for p in (lake / "trusted" / "useractivity_flat").glob("toppage=*"))
    assert parts == ["toppage=Birds", "toppage=Cats", "toppage=Dogs", "toppage=Fish"]


@pytest.mark.spark
def test_check_action_reevaluates_written_table(spark, lake, built):
    pipeline = ps.load_pipeline(PIPELINES, "stedi")
    r = ps.run_step(spark, pipeline, "customer_curated", ps.ZoneRoots.local(str(lake)), action="check")
    assert (r.rows, r.rows_written, r.expectations_passed) == (EXPECTED_ROWS["customer_curated"], None, 3)


# ------------------------------------------------------------------------------------------------ failures
def _pipeline(sql: str, expectation: dict, extra_steps: list[ps.Step] = ()) -> ps.Pipeline:
    steps = list(extra_steps) + [ps.Step(name="t", zone="trusted", sql=sql,
                                         depends_on=tuple(s.name for s in extra_steps),
                                         expectations=(ps._check_expectation("t", expectation),))]
    return ps.Pipeline(name="p", steps=steps)


VALUES = "SELECT * FROM VALUES (1, 'a', 'F', 30), (2, NULL, 'X', 140), (2, 'c', 'M', -1) AS v(id, email, gender, age)"
FAILURES = {
    "row_count": ({"type": "row_count", "min": 5}, "expectation failed: t row_count(min=5): 3 rows"),
    "row_count_max": ({"type": "row_count", "min": 1, "max": 2},
                      "expectation failed: t row_count(min=1, max=2): 3 rows"),
    "not_null": ({"type": "not_null", "columns": ["id", "email"]},
                 "expectation failed: t not_null(id, email): 1 rows with nulls"),
    "unique": ({"type": "unique", "columns": ["id"]},
               "expectation failed: t unique(id): 1 duplicate keys in 2 rows"),
    "accepted_values": ({"type": "accepted_values", "column": "gender", "values": ["F", "M"]},
                        "expectation failed: t accepted_values(gender in [F, M]): 1 rows with other values (e.g. X)"),
    "range": ({"type": "range", "column": "age", "min": 0, "max": 130},
              "expectation failed: t range(age, min=0, max=130): 2 rows out of range"),
    "keys_exist": ({"type": "keys_exist", "columns": ["id"], "in_table": "ref", "in_columns": ["ref_id"]},
                   "expectation failed: t keys_exist(id in ref(ref_id)): 2 rows with keys missing from ref"),
}


@pytest.mark.spark
@pytest.mark.parametrize("kind", sorted(FAILURES))
def test_failing_expectation_has_precise_message(spark, tmp_path, kind):
    expectation, message = FAILURES[kind]
    extra = [ps.Step(name="ref", zone="trusted", sql="SELECT * FROM VALUES (1) AS r(ref_id)")]
    pipeline = _pipeline(VALUES, expectation, extra)
    roots = ps.ZoneRoots.local(str(tmp_path))
    ps.run_step(spark, pipeline, "ref", roots)
    with pytest.raises(ps.ExpectationFailed) as err:
        ps.run_step(spark, pipeline, "t", roots)
    assert str(err.value) == message
    assert err.value.result.status == "FAILED" and err.value.result.expectations_passed == 0
    # build alone writes without judging; check alone judges what was written
    assert ps.run_step(spark, pipeline, "t", roots, action="build").rows_written == 3
    with pytest.raises(ps.ExpectationFailed, match=message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        ps.run_step(spark, pipeline, "t", roots, action="check")


@pytest.mark.spark
def test_missing_landing_data_fails_at_the_quality_gate(spark, tmp_path, raw_writer):
    raw_writer("stedi", tmp_path, skip=("customer_landing",))
    pipeline = ps.load_pipeline(PIPELINES, "stedi")
    with pytest.raises(ps.ExpectationFailed) as err:
        ps.run_step(spark, pipeline, "customer_trusted", ps.ZoneRoots.local(str(tmp_path)))
    assert "expectation failed: customer_trusted row_count(min=1): 0 rows" in str(err.value)


# ------------------------------------------------------------------------------------------------ reruns
@pytest.mark.spark
def test_rerun_does_not_duplicate(spark, fresh_lake):
    roots = ps.ZoneRoots.local(str(fresh_lake))
    stedi, weblogs = ps.load_pipeline(PIPELINES, "stedi"), ps.load_pipeline(PIPELINES, "weblogs")
    for _ in range(2):
        a = ps.run_step(spark, stedi, "customer_trusted", roots)
        b = ps.run_step(spark, weblogs, "useractivity_flat", roots)  # partitioned output
    assert a.rows == EXPECTED_ROWS["customer_trusted"]
    assert b.rows == EXPECTED_ROWS["useractivity_flat"]
    assert spark.read.parquet(str(fresh_lake / "trusted" / "useractivity_flat")).count() == b.rows


# ------------------------------------------------------------------------------------------------ CLI
@pytest.mark.spark
def test_cli_runs_a_step_in_a_subprocess(fresh_lake):
    cmd = [sys.executable, str(ROOT / "glue" / "pipeline_step.py"), "--JOB_NAME", "x", "--pipeline", "stedi",
           "--step", "customer_trusted", "--source-root", str(fresh_lake), "--target-root", str(fresh_lake),
           "--job-bookmark-option", "job-bookmark-disable"]  # unknown Glue arguments are ignored
    env = {k: v for k, v in os.environ.items() if k not in ("PYSPARK_GATEWAY_PORT", "SPARK_ENV_LOADED")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=str(fresh_lake))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["step"] == "customer_trusted" and summary["status"] == "SUCCEEDED"
    assert summary["rows_written"] == EXPECTED_ROWS["customer_trusted"]
    assert summary["expectations_passed"] == summary["expectations_total"] == 4
    assert (fresh_lake / "trusted" / "customer_trusted").is_dir()


def test_args_roots_and_unknown_arguments():
    args = ps.parse_args(["--JOB_NAME", "j", "--pipeline", "stedi", "--step", "s", "--TempDir", "s3://t/",
                          "--raw-root", "s3://raw-bucket", "--trusted-root", "s3://trusted-bucket/",
                          "--curated-root", "s3://curated-bucket", "--enable-metrics", "true"])
    roots = ps.roots_from_args(args)
    assert roots.read("raw", "orders") == "s3://raw-bucket/orders"
    assert roots.write("trusted", "x") == "s3://trusted-bucket/x"
    assert args.action == "run"
    local = ps.roots_from_args(ps.parse_args(["--pipeline", "p", "--step", "s", "--source-root", "/a",
                                              "--target-root", "/b"]))
    assert (local.read("trusted", "t"), local.write("trusted", "t")) == ("/a/trusted/t", "/b/trusted/t")


def test_read_salt_prefers_explicit_then_ssm_then_default():
    class FakeSSM:
        def get_parameter(self, Name, WithDecryption):
            assert WithDecryption is True
            return {"Parameter": {"Value": f"secret-of-{Name}"}}

    assert ps.read_salt("/p", "given") == "given"
    assert ps.read_salt("/p", None, ssm_client=FakeSSM()) == "secret-of-/p"
    assert ps.read_salt(None, None) == ps.LOCAL_DEFAULT_SALT


# ------------------------------------------------------------------------------------------------ model
def _step(name: str, *deps: str) -> ps.Step:
    return ps.Step(name=name, zone="trusted", sql="SELECT 1", depends_on=deps)


def test_stages_order_steps_by_dependency():
    p = ps.Pipeline("p", [_step("d", "b", "c"), _step("b", "a"), _step("a"), _step("c", "a"), _step("e")])
    assert [[s.name for s in level] for level in p.stages()] == [["a", "e"], ["b", "c"], ["d"]]
    stedi = ps.load_pipeline(PIPELINES, "stedi")
    assert [[s.name for s in level] for level in stedi.stages()] == [
        ["customer_trusted"], ["accelerometer_trusted"], ["customer_curated"], ["step_trainer_trusted"],
        ["machine_learning_curated"]]
    weblogs = ps.load_pipeline(PIPELINES, "weblogs")
    assert [[s.name for s in level] for level in weblogs.stages()] == [
        ["useractivity_flat", "userprofile_secure"], ["activity_by_profile"], ["page_views_by_state"]]
    assert set(weblogs.raw_tables) == {"useractivity", "userprofile", "zipcodes"}


def test_stages_reject_cycles_and_unknown_dependencies():
    with pytest.raises(ps.PipelineError, match="cycle"):
        ps.Pipeline("p", [_step("a", "c"), _step("b", "a"), _step("c", "b"), _step("x")]).stages()
    with pytest.raises(ps.PipelineError, match="unknown step 'nope'"):
        ps.Pipeline("p", [_step("a", "nope")]).stages()


def test_load_rejects_reading_a_step_without_depending_on_it(tmp_path):
    (tmp_path / "p" / "steps").mkdir(parents=True)
    (tmp_path / "p" / "steps" / "a.sql").write_text("SELECT 1 AS x")
    (tmp_path / "p" / "steps" / "b.sql").write_text("SELECT x FROM a -- reads a")
    (tmp_path / "p" / "pipeline.yaml").write_text(
        "name: p\nsteps:\n  - {name: a, zone: trusted, sql: steps/a.sql}\n"
        "  - {name: b, zone: curated, sql: steps/b.sql, depends_on: []}\n")
    with pytest.raises(ps.PipelineError, match="reads 'a' but does not depend on it"):
        ps.load_pipeline(tmp_path, "p")


def test_retail_loads_without_steps():
    p = ps.load_pipeline(PIPELINES, "retail")
    assert p.steps == [] and p.raw_tables["orders"].partitions == ("order_month",)


def test_load_pipeline_from_s3():
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    with moto.mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        for f in (PIPELINES / "weblogs").rglob("*"):
            if f.is_file() and "samples" not in f.parts:
                s3.put_object(Bucket="artifacts", Key=f"lake/pipelines/{f.relative_to(PIPELINES)}", Body=f.read_bytes())
        remote = ps.load_pipeline("s3://artifacts/lake/pipelines/", "weblogs", s3_client=s3)
    local = ps.load_pipeline(PIPELINES, "weblogs")
    assert remote.steps == local.steps and remote.raw_tables == local.raw_tables
