"""The operator commands against a running `lakehouse up` (a subprocess on a free port, with a private .lakehouse
and a copy of pipelines/ whose contracts the tests change): upload, status, quarantine, replay, redrive. No Spark:
these commands never run a pipeline (tests/e2e/test_up.py does)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from lakehouse_local.cli import main

from .conftest import REPO, Up

pytestmark = [pytest.mark.slow]

# A user profile file with an unknown column (a contract reason) and one with bad rows whose pii columns hold values
# that must never be printed.
EXTRA_COLUMN = ("first_name,last_name,username,email,gender,phone,zip,cc,password,ssn,age,loyalty_tier\n"
                "Ana,Abbott,aabbott9,ana@example.com,F,890-923-0869,98101,9722-8186-6201-1641,pw1,151-70-4854,30,gold\n")
BAD_ROWS = ("first_name,last_name,username,email,gender,phone,zip,cc,password,ssn,age\n"
            "Ben,Huang,bhuang9,ben@example.com,X,516-406-2076,9805,7915-6685-9660-8884,Secr3tPw,821-38-5389,200\n")
PII_VALUES = ("7915-6685-9660-8884", "Secr3tPw", "821-38-5389", "9722-8186-6201-1641", "151-70-4854")


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code, out = _cli(capsys, *args, "--json")
    assert code == 0, out
    return json.loads(out)


def _scan_ledger(up: Up) -> dict[str, dict[str, Any]]:
    """Every ledger entry, read directly from the local DynamoDB (not through the command under test)."""
    from lakehouse.ledger import Ledger

    outputs = json.loads((up.home / "up.json").read_text())["outputs"]
    return {e.key: e.__dict__ for e in Ledger(up.client("dynamodb"), outputs["ObjectLedgerTableName"]).scan()}


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files of every outcome: the STEDI samples (converted), a profile with an unknown column and one with bad
    rows (quarantined), a file under no contract's prefix and an empty one (ignored)."""
    root = tmp_path_factory.mktemp("landing")
    for sample in (REPO / "pipelines" / "stedi" / "samples").rglob("*.json"):
        target = root / sample.relative_to(REPO / "pipelines" / "stedi" / "samples")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sample.read_bytes())
    profiles = root / "weblogs" / "userprofile"
    profiles.mkdir(parents=True)
    (profiles / "extra-column.csv").write_text(EXTRA_COLUMN)
    (profiles / "bad-rows.csv").write_text(BAD_ROWS)
    (root / "nowhere").mkdir()
    (root / "nowhere" / "stray.csv").write_text("a,b\n1,2\n")
    (root / "stedi" / "customer" / "empty.json").write_text("")
    return root


@pytest.fixture(scope="module")
def uploaded(up: Up, landing: Path) -> dict[str, Any]:
    out = _upload(landing)
    return {"keys": sorted(p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.is_file()),
            "result": out}


def _upload(folder: Path) -> Any:
    import io
    from contextlib import redirect_stdout

    buffer = io.StringIO()
    with redirect_stdout(buffer):
        code = main(["upload", str(folder), "--wait", "--json"])
    assert code == 0, buffer.getvalue()
    return json.loads(buffer.getvalue())


def test_upload_waits_for_every_outcome(uploaded: dict[str, Any]) -> None:
    outcomes = {o["key"]: o["state"] for o in uploaded["result"]["outcomes"]}
    assert sorted(outcomes) == uploaded["keys"]
    assert outcomes["weblogs/userprofile/extra-column.csv"] == "quarantined"
    assert outcomes["nowhere/stray.csv"] == "ignored"
    assert outcomes["stedi/customer/empty.json"] == "ignored"
    assert outcomes["stedi/customer/customers-1.json"] == "converted"


def test_upload_text_counts_the_outcomes_and_lists_only_the_objects_not_converted(uploaded: dict[str, Any]) -> None:
    """Each object's line is printed as its outcome comes; the summary after it does not repeat the converted ones."""
    from lakehouse_local.views import upload_text

    lines = upload_text(uploaded["result"]).splitlines()
    assert lines[0].endswith(": 6 converted, 2 ignored, 2 quarantined"), lines[0]
    assert sorted(lines[1:]) == [
        "  nowhere/stray.csv  -> ignored (unknown_prefix)",
        "  stedi/customer/empty.json  -> ignored (zero_bytes)",
        "  weblogs/userprofile/bad-rows.csv  -> quarantined (invalid_rows)",
        "  weblogs/userprofile/extra-column.csv  -> quarantined (unknown_columns)",
    ]


def test_status_json_counts_every_object_in_the_ledger(up: Up, uploaded: dict[str, Any],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    report = _json(capsys, "status")
    ledger = _scan_ledger(up)
    assert report["objects"] == len(ledger) == len(uploaded["keys"])
    assert sum(sum(row["states"].values()) for row in report["datasets"]) == len(ledger)
    counted: dict[str, int] = {}
    for entry in ledger.values():
        counted[entry["state"]] = counted.get(entry["state"], 0) + 1
    assert report["states"] == counted
    rows = {row["dataset"]: row for row in report["datasets"]}
    assert rows["stedi.customer"]["states"] == {"converted": 2, "ignored": 1}
    assert rows["weblogs.userprofile"]["states"] == {"quarantined": 2}
    assert rows["(no contract)"]["states"] == {"ignored": 1}
    assert rows["stedi.customer"]["last_landed"]
    assert report["dead_letter_queue"] == {"waiting": 0, "in_flight": 0}
    assert {p["pipeline"] for p in report["pipelines"]} >= {"stedi", "weblogs"}
    code, text = _cli(capsys, "status")
    assert code == 0 and "stedi.customer" in text and "quarantined" in text


def test_quarantine_shows_reasons_and_row_errors_never_pii_values(uploaded: dict[str, Any],
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    items = {i["key"]: i for i in _json(capsys, "quarantine", "--dataset", "userprofile")}
    assert set(items) == {"weblogs/userprofile/extra-column.csv", "weblogs/userprofile/bad-rows.csv"}
    assert items["weblogs/userprofile/extra-column.csv"]["reason_code"] == "unknown_columns"
    bad = items["weblogs/userprofile/bad-rows.csv"]
    assert {e["column"] for e in bad["errors"]} >= {"gender", "zip", "age"}
    assert all(e["row"] == 1 for e in bad["errors"])
    code, text = _cli(capsys, "quarantine")
    assert code == 0 and "bad-rows.csv" in text
    everything = text + json.dumps(items)
    assert not [value for value in PII_VALUES if value in everything]


def test_replay_after_a_contract_fix_converts_and_a_second_replay_changes_nothing(
        up: Up, uploaded: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    contract = up.pipelines / "weblogs" / "contracts" / "userprofile.yaml"
    contract.write_text(contract.read_text().replace(
        "  - {name: age, type: int, checks: {min: 0, max: 130}}",
        "  - {name: age, type: int, checks: {min: 0, max: 130}}\n  - {name: loyalty_tier, type: string}"))
    code, out = _cli(capsys, "replay", "--dataset", "userprofile", "--state", "quarantined", "--wait", "--json")
    assert code == 1, out  # one of them did not end converted
    first = json.loads(out)
    outcomes = {o["key"]: o["state"] for o in first["outcomes"]}
    assert outcomes == {"weblogs/userprofile/extra-column.csv": "converted",
                        "weblogs/userprofile/bad-rows.csv": "quarantined"}  # its rows are still bad
    after_first = _scan_ledger(up)
    assert after_first["weblogs/userprofile/extra-column.csv"]["rows_written"] == 1

    code, out = _cli(capsys, "replay", "--dataset", "userprofile", "--state", "quarantined", "--wait", "--json")
    second = json.loads(out)
    assert [s["key"] for s in second["sent"]] == ["weblogs/userprofile/bad-rows.csv"]
    assert _scan_ledger(up)["weblogs/userprofile/extra-column.csv"] == after_first[
        "weblogs/userprofile/extra-column.csv"]


def test_an_accidental_duplicate_of_a_replayed_event_is_swallowed(up: Up, uploaded: dict[str, Any]) -> None:
    """The replay's id is part of the idempotency key: the same replay message delivered twice converts once."""
    from lakehouse_local import ops
    from lakehouse_local.target import open_target

    with open_target(None, "write") as target:
        entry = next(e for e in ops.ledger(target) if e.key == "stedi/customer/customers-2.json")
        result = ops.replay(target, [entry])
        ops.wait_for_outcomes(target, [entry.object_uri], result.started_at, lambda text: None, timeout=60)
        converted = _scan_ledger(up)[entry.key]["updated_at"]
        head = target.client("s3").head_object(Bucket=entry.bucket, Key=entry.key)
        duplicate = ops.replay_event(target, entry.bucket, entry.key, head, entry, result.replay_id)
        queue = target.queue_url("LandingQueue")
        target.client("sqs").send_message(QueueUrl=queue, MessageBody=json.dumps(duplicate))
        deadline = time.monotonic() + 30
        while ops.queue_depth(target, "LandingQueue") != {"waiting": 0, "in_flight": 0}:
            assert time.monotonic() < deadline, "the duplicate was never taken from the landing queue"
            time.sleep(0.3)
    assert _scan_ledger(up)[entry.key]["updated_at"] == converted


def test_redrive_sends_dead_letters_back_once_the_function_is_fixed(up: Up, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A broken deployment (a contract that does not load) fails every delivery until SQS parks the event in the
    dead-letter queue; after the fix, `lakehouse redrive` sends it back and it is converted."""
    broken = up.pipelines / "stedi" / "contracts" / "zz_broken.yaml"
    broken.write_text("dataset: [this is not a contract\n")
    sample = REPO / "pipelines" / "stedi" / "samples" / "stedi" / "step_trainer" / "step_trainer-1.json"
    (tmp_path / "stedi" / "step_trainer").mkdir(parents=True)
    (tmp_path / "stedi" / "step_trainer" / "late.json").write_bytes(sample.read_bytes())
    try:
        code = main(["upload", str(tmp_path)])
        assert code == 0
        capsys.readouterr()
        dlq = json.loads((up.home / "up.json").read_text())["resources"]["LandingDeadLetterQueue"]
        deadline = time.monotonic() + 120
        while up.client("sqs").get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])[
                "Attributes"]["ApproximateNumberOfMessages"] == "0":
            assert time.monotonic() < deadline, "the failing event never reached the dead-letter queue"
            time.sleep(1)
        assert _json(capsys, "status")["dead_letter_queue"]["waiting"] == 1  # with a warning: the contract
    finally:
        broken.unlink()
    result = _json(capsys, "redrive", "--wait")
    assert result["moved"] == 1
    assert result["outcomes"] == [{"key": "stedi/step_trainer/late.json", "state": "converted"}]
    assert _json(capsys, "status")["dead_letter_queue"]["waiting"] == 0


def test_run_rejects_an_unknown_step_before_starting_anything(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--pipeline", "stedi", "--from", "no_such_step"])
    assert code == 2
    assert "customer_trusted" in capsys.readouterr().err
