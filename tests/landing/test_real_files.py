"""Issue 13, "Real files, first contact": the converter findings, one or more tests each (named in each docstring).

Every test here failed on 63bdc4b. They use the converter's public entry point (``convert``) on the shipped
contracts, or variants of them, so they read as what a user would see.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from lakehouse.outcomes import FileRejected

from .converting import (
    ACTIVITY_HEADER,
    CUSTOMER,
    contract,
    jsonl,
    rebuilt,
    rejected,
    run,
    with_column,
    with_format,
)

REPO = Path(__file__).resolve().parents[2]
PROFILE_HEADER = b"first_name,last_name,username,email,gender,phone,zip,cc,password,ssn,age\n"
ORDERS_HEADER = b"order_id,customer_id,order_date,status,product_id,quantity,unit_price\n"


# ------------------------------------------------------------------------------------------------ finding 2
WORKSHOP_LINES = (  # the workshop's instructions show these rows; its log writer quotes the request
    b'105.156.115.196,ontistesns0,17/Jan/2018:10:43:54,"GET /petstore/Cats/Treats",200,314\n'
    b'57.143.147.52,agkgamyaar4,14/Jun/2018:06:39:54,"GET /petstore/Fish/Food",200,575\n'
    b'29.152.175.209,nealaoaaoc9,6/Jan/2018:06:51:54,"GET /petstore/Bird/Treats",200,419\n'
)


def test_the_workshop_web_log_with_unpadded_days_converts(tmp_path):
    """Finding 2: the shipped useractivity contract accepts the workshop's own rows (6/Jan/2018:06:51:54)."""
    result, table = run(tmp_path, contract("weblogs.useractivity"), ACTIVITY_HEADER + WORKSHOP_LINES)
    assert result.rows_written == 3 and result.rows_rejected == 0
    assert table.column("timestamp").to_pylist()[2] == "6/Jan/2018:06:51:54"
    assert table.column("request").to_pylist()[0] == "GET /petstore/Cats/Treats"


def test_the_bundled_weblogs_samples_have_the_workshops_oddities_and_convert(tmp_path):
    """Finding 2: the samples look like the real source (unpadded days, quoted requests, zip codes without their
    leading zeros, FALSE/TRUE, an APO row without coordinates), and every one of them converts."""
    samples = REPO / "pipelines" / "weblogs" / "samples" / "weblogs"
    activity = (samples / "useractivity" / "useractivity.csv").read_bytes()
    zipcodes = (samples / "zipcodes" / "zipcodes.csv").read_bytes()
    assert b',6/Jan/' in activity or any(f",{d}/".encode() in activity for d in range(1, 10))
    assert b',"GET /petstore/' in activity
    assert b"\n2108,STANDARD,BOSTON" in zipcodes and b",,,,FALSE" in zipcodes and b",TRUE\n" in zipcodes
    for dataset in ("useractivity", "userprofile", "zipcodes"):
        result, _ = run(tmp_path / dataset, contract(f"weblogs.{dataset}"),
                        (samples / dataset / f"{dataset}.csv").read_bytes())
        assert result.rows_rejected == 0 and result.rows_written > 0
    sql = (REPO / "pipelines" / "weblogs" / "steps" / "useractivity_flat.sql").read_text()
    assert "'d/MMM/yyyy:HH:mm:ss'" in sql  # Spark's d reads one or two digits, dd only two


# ------------------------------------------------------------------------------------------------ finding 5
@pytest.mark.parametrize("name", ["_customers-b.json", "été.json", ".hidden.json", "__.json"])
def test_output_file_names_are_never_hidden(tmp_path, name):
    """Finding 5: Spark, Hive and Athena skip files named _* or .*: a landing name must never give one."""
    result, table = run(tmp_path, contract("stedi.customer"), jsonl(CUSTOMER), name)
    file_name = result.outputs[0].path.rsplit("/", 1)[-1]
    assert not file_name.startswith(("_", ".")) and table.num_rows == 1
    again, _ = run(tmp_path / "again", contract("stedi.customer"), jsonl(CUSTOMER), name)
    assert again.outputs[0].path == result.outputs[0].path  # deterministic per source key
    other, _ = run(tmp_path / "other", contract("stedi.customer"), jsonl(CUSTOMER), "x" + name)
    assert other.outputs[0].path != result.outputs[0].path


# ------------------------------------------------------------------------------------------------ finding 6
@pytest.mark.parametrize("day", ["2023-02-30", "2023-04-31", "2023-02-29"])
def test_impossible_dates_are_row_errors_in_json(tmp_path, day):
    """Finding 6: 2023-02-30 was stored as 2023-03-02; it is a row error naming the column."""
    body = jsonl(CUSTOMER, {**CUSTOMER, "birthDay": day}, {**CUSTOMER, "birthDay": "2024-02-29"})
    error = rejected(tmp_path, contract("stedi.customer"), body, "c.json")
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(2, "birthDay")]
    assert f"not a valid date: '{day}'" in error.row_errors.kept[0].message


def test_impossible_dates_are_row_errors_in_csv(tmp_path):
    """Finding 6: in CSV too, and never another date, whichever parse path the file takes."""
    body = ORDERS_HEADER + b"1,7,2023-04-30,PLACED,p1,1,9.5\n2,7,2023-04-31,PLACED,p2,1,9.5\n3,7,2023-02-28,LOST,p3,1,1\n"
    result, table = run(tmp_path, contract("retail.orders"), body)  # quarantine_rows: good rows load
    assert result.rows_rejected == 2 and table.column("order_date").to_pylist() == [date(2023, 4, 30)]
    assert ("order_date", "not a valid date: '2023-04-31'") in {(e.column, e.message) for e in result.row_errors.kept}


def test_impossible_dates_with_a_strptime_format_are_row_errors(tmp_path):
    """Finding 6: a contract's own format (strptime) normalises 30/02 to 02/03: the fields must read back."""
    c = with_column(contract("retail.orders"), "order_date", format="%d/%m/%Y")
    body = ORDERS_HEADER + b"1,7,30/04/2023,PLACED,p1,1,9.5\n2,7,31/04/2023,PLACED,p2,1,9.5\n3,7,1/5/2023,PLACED,p3,1,1\n"
    result, table = run(tmp_path, c, body)
    assert result.rows_rejected == 1
    assert table.column("order_date").to_pylist() == [date(2023, 4, 30), date(2023, 5, 1)]


# ------------------------------------------------------------------------------------------------ finding 7
PROFILE_ROW = b"Ana,Abbott,aabbott0,ana@example.com,F,274-218-6653,76059,6835-5177-8166-5873,ettttoette6,116-48-1824,35\n"
SECRETS = ("6835-5177-8166-5873", "ettttoette6", "116-48-1824")


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a pii value reached a reason: {secret}"


def test_a_userprofile_csv_without_its_header_quotes_no_pii(tmp_path):
    """Finding 7: without its header the first row was read as the header and quoted in missing_columns."""
    error = rejected(tmp_path, contract("weblogs.userprofile"), PROFILE_ROW * 3)
    assert error.code == "missing_columns" and "is the header line missing" in error.message
    _assert_no_secret(json.dumps(error.reason()))


def test_a_json_array_parse_error_quotes_no_pii(tmp_path):
    """Finding 7: the JSON parser's message quotes the text around the error, next to a pii value."""
    c = with_column(with_format(contract("stedi.customer"), type="json_array"), "phone", pii=True)
    body = b'[{"customerName": "A", "phone": "6835-5177-8166-5873" "email": "a@b"}]'
    error = rejected(tmp_path, c, body, "c.json")
    assert error.code == "parse_error"
    _assert_no_secret(json.dumps(error.reason()))


def test_a_json_key_that_is_no_column_is_not_named_when_the_contract_has_pii(tmp_path):
    """Finding 7: a key that is no column may be data (records keyed by card number); with a pii column in the
    contract its name is withheld, without one it is named as before."""
    c = with_column(contract("stedi.customer"), "phone", pii=True)
    body = jsonl(CUSTOMER, {**CUSTOMER, "6835-5177-8166-5873": {"limit": 100}})
    error = rejected(tmp_path, c, body, "c.json")
    assert error.row_errors.kept[0].row == 2
    _assert_no_secret(json.dumps(error.reason()))
    plain = rejected(tmp_path / "plain", contract("stedi.customer"), jsonl({**CUSTOMER, "loyalty": "gold"}), "c.json")
    assert plain.row_errors.kept[0].column == "loyalty"


@pytest.mark.parametrize(
    "body",
    [
        PROFILE_HEADER + PROFILE_ROW.replace(b",35\n", b",thirty-five\n"),  # a bad value in a non-pii column
        PROFILE_HEADER + PROFILE_ROW.replace(b"6835-5177-8166-5873", b"6835-5177-8166-5873,x"),  # ragged row
        PROFILE_HEADER.replace(b"age", b"6835-5177-8166-5873") + PROFILE_ROW,  # a header cell holding a value
        PROFILE_HEADER + PROFILE_ROW + b'"unterminated,6835-5177-8166-5873,ettttoette6,116-48-1824\n',
        PROFILE_HEADER + PROFILE_ROW.replace(b"Ana", b"\xffna"),  # invalid UTF-8 next to the secrets
        PROFILE_HEADER + PROFILE_ROW + PROFILE_ROW,  # a duplicate key
    ],
    ids=["bad-value", "ragged", "header-value", "unterminated-quote", "encoding", "duplicate-key"],
)
def test_no_reason_quotes_a_pii_value_whatever_the_error(tmp_path, body):
    """Finding 7: every error path that quotes file content redacts, or withholds text of unknown column."""
    c = with_column(contract("weblogs.userprofile"), "age", pii=True)
    with pytest.raises(FileRejected) as raised:
        run(tmp_path, c, body)
    _assert_no_secret(json.dumps(raised.value.reason(), default=str) + str(raised.value))


# ------------------------------------------------------------------------------------------------ finding 8
# The child's own peak (VmHWM, kB): its ru_maxrss would start at the test process's peak, which Linux carries into
# a forked child, so it would grow with whatever tests ran before
_PRINT_PEAK = "\nprint('RSS', [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')][0])\n"


def _peak_rss_mb(script: str, timeout: int = 120) -> tuple[float, str]:
    """Runs ``script`` in a fresh interpreter; returns its peak RSS in MB and its stdout."""
    code = textwrap.dedent(script) + _PRINT_PEAK
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    rss = int(done.stdout.rsplit("RSS", 1)[1]) / 1024
    return rss, done.stdout


CONVERT_IN_CHILD = """
    import io, sys
    from datetime import datetime, timezone
    from pathlib import Path
    from lakehouse.contracts import ContractRegistry
    from lakehouse.convert import convert
    from lakehouse.outcomes import FileRejected, Lineage
    c = ContractRegistry.from_directory("tests/landing/pipelines").get({pipeline!r}, {dataset!r})
    {adjust}
    body = {body}
    key = c.landing_prefix + {name!r}
    try:
        r = convert(lambda: io.BytesIO(body), c, key=key, lineage=Lineage(key, "v", datetime.now(timezone.utc)),
                    out_dir=Path({out!r}), work_dir=Path({work!r}))
        print("OUTCOME converted", r.rows_written, r.rows_rejected)
    except FileRejected as e:
        print("OUTCOME rejected", e.code, e.row_errors.bad_rows if e.row_errors else "")
"""


def test_a_deeply_nested_json_array_is_read_in_bounded_memory(tmp_path):
    """Finding 8: an 80 KB JSON array of nested arrays needed 3.9 GB; the nested value is never built now."""
    (tmp_path / "w").mkdir()
    script = CONVERT_IN_CHILD.format(
        pipeline="stedi", dataset="customer",
        adjust="c = c.model_copy(update={'format': c.format.model_copy(update={'type': 'json_array'})})",
        body="b'[{\"customerName\": ' + b'[' * 80_000 + b']' * 80_000 + b'}]'", name="nested.json",
        out=str(tmp_path / "o"), work=str(tmp_path / "w"),
    )
    started = time.monotonic()
    rss, out = _peak_rss_mb(script)
    assert "OUTCOME rejected invalid_rows 1" in out  # one record, a nested value where a scalar is declared
    assert rss < 400 and time.monotonic() - started < 30


def test_the_key_check_keeps_compact_keys_not_python_tuples(tmp_path):
    """Finding 8: an orders file with a key held every key as a Python tuple (257 MB file: 1.58 GB). The keys are
    now kept as Arrow arrays and checked with one sort: 3 M rows (130 MB) stay near the converter's usual memory."""
    (tmp_path / "w").mkdir()
    source = tmp_path / "big.csv"
    with source.open("wb") as out:
        out.write(ORDERS_HEADER)
        for start in range(0, 3_000_000, 100_000):
            out.write(b"".join(b"%d,7,2026-11-01,PLACED,SKU-%d,1,9.5\n" % (i, i % 997)
                               for i in range(start, start + 100_000)))
    script = CONVERT_IN_CHILD.format(pipeline="retail", dataset="orders", adjust="", name="big.csv",
                                     body=f"open({str(source)!r}, 'rb').read() if False else None",
                                     out=str(tmp_path / "o"), work=str(tmp_path / "w"))
    script = script.replace("lambda: io.BytesIO(body)", f"lambda: open({str(source)!r}, 'rb')")
    rss, out = _peak_rss_mb(script, timeout=300)
    assert "OUTCOME converted 3000000 0" in out
    assert rss < 450, rss


def test_key_uniqueness_is_exact_across_steps_and_capped(tmp_path, monkeypatch):
    """Finding 8: repeats are found across the whole file (first occurrence kept under quarantine_rows, named under
    reject_file), and past the key memory cap the file gets a specific reason instead of an out-of-memory death."""
    from lakehouse import validation

    rows = [b"%d,7,2026-11-01,PLACED,p%d,1,9.5\n" % (i, i % 3) for i in range(100_000)]
    rows[70_000] = b"5,7,2026-11-01,PLACED,p2,1,9.5\n"  # repeats row 6's key (order 5, product p2), far apart
    result, table = run(tmp_path, contract("retail.orders"), ORDERS_HEADER + b"".join(rows))
    assert (result.rows_written, result.rows_rejected) == (99_999, 1)
    assert [(e.row, e.message) for e in result.row_errors.kept] == [(70_001, "duplicate key, first seen at row 6")]
    assert table.num_rows == 99_999
    strict = contract("retail.orders", on_bad_rows="reject_file")
    error = rejected(tmp_path / "strict", strict, ORDERS_HEADER + b"".join(rows))
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(70_001, "order_id, product_id")]
    monkeypatch.setattr(validation, "MAX_KEY_BYTES", 1 << 20)
    assert rejected(tmp_path / "capped", strict, ORDERS_HEADER + b"".join(rows)).code == "too_many_keys"


# ------------------------------------------------------------------------------------------------ finding 9
@pytest.mark.parametrize("rows", [3, 40_000])  # a small file, and one over 1 MiB (was header_too_long)
def test_a_csv_with_cr_only_line_ends_converts(tmp_path, rows):
    """Finding 9: CR-only line ends (classic Mac exports) crashed the converter (_csv.Error) or, over 1 MiB, were
    quarantined as header_too_long. pyarrow reads CR as a line end, so the file converts."""
    body = (ACTIVITY_HEADER + WORKSHOP_LINES.splitlines(keepends=True)[2] * rows).replace(b"\n", b"\r")
    result, _ = run(tmp_path, contract("weblogs.useractivity"), body)
    assert result.rows_written == rows


# ------------------------------------------------------------------------------------------------ finding 10
def test_the_whole_int64_and_int32_ranges_round_trip_next_to_a_bad_row(tmp_path):
    """Finding 10: a 19-digit bigint (int64 max) was rejected as soon as another row was bad (exact path: 18 digits)."""
    body = ORDERS_HEADER + (
        b"9223372036854775807,-9223372036854775808,2026-11-01,PLACED,p1,2147483647,9.5\n"
        b"1,1,2026-11-01,LOST,p2,1,9.5\n"  # a bad row: the file takes the exact path
        b"00000000000000000000000000002,+5,2026-11-01,PLACED,p3, 10000 ,1\n"
    )
    unbounded = with_column(contract("retail.orders"), "quantity", checks={})  # its max is 10000
    result, table = run(tmp_path, unbounded, body)
    assert result.rows_rejected == 1
    assert table.column("order_id").to_pylist() == [9223372036854775807, 2]
    assert table.column("customer_id").to_pylist() == [-9223372036854775808, 5]
    assert table.column("quantity").to_pylist() == [2147483647, 10000]


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "0x10", "1e3", "5.0"])
def test_integers_out_of_range_or_not_decimal_are_row_errors(tmp_path, value):
    """Finding 10: past int64 is an error, never a wrap; hexadecimal (pyarrow reads 0xffffffffffffffff as -1) too."""
    body = ORDERS_HEADER + f"1,{value},2026-11-01,PLACED,p1,1,9.5\n2,7,2026-11-01,PLACED,p1,1,9.5\n".encode()
    result, table = run(tmp_path, contract("retail.orders"), body)
    assert result.rows_rejected == 1 and table.column("order_id").to_pylist() == [2]
    assert result.row_errors.kept[0].column == "customer_id"


# ------------------------------------------------------------------------------------------------ finding 11
@pytest.mark.parametrize("lat", ["NaN", "nan", "-NaN"])
def test_nan_fails_min_and_max_in_csv(tmp_path, lat):
    """Finding 11: Lat=NaN passed the zipcodes contract's min -90 / max 90."""
    body = b"Zipcode,ZipCodeType,City,State,LocationType,Lat,Long,Location,Decommisioned\n" + (
        f"705,STANDARD,AIBONITO,PR,PRIMARY,{lat},-66.26,NA-US-PR-AIBONITO,FALSE\n".encode()
    )
    error = rejected(tmp_path, contract("weblogs.zipcodes"), body)
    assert [(e.column, e.message) for e in error.row_errors.kept] == [("Lat", "NaN is not within [-90, 90]")]


def test_nan_fails_min_and_max_in_json_but_infinity_compares_as_a_number(tmp_path):
    """Finding 11: JSON NaN too; +Infinity is above any max and passes a lone min; without checks both load."""
    c = with_column(contract("stedi.accelerometer"), "x", checks={"min": -1, "max": 1})
    c = with_column(c, "y", checks={"min": 0})
    reading = {"user": "a@b.c", "timestamp": 1, "x": 0.5, "y": 0.5, "z": 0.5}
    body = b"".join(json.dumps(r).encode() + b"\n" for r in (
        reading, {**reading, "x": float("nan")}, {**reading, "x": float("inf")}, {**reading, "y": float("inf")},
        {**reading, "z": float("nan")},
    ))
    error = rejected(tmp_path, c, body, "a.json")
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(2, "x"), (3, "x")]
    allowed = with_column(c, "x", checks={})
    result, table = run(tmp_path / "ok", allowed, body, "a.json")
    assert result.rows_written == 5 and str(table.column("z")[4].as_py()) == "nan"


# ------------------------------------------------------------------------------------------------ finding 12
def test_invalid_utf8_inside_a_json_lines_string_is_an_encoding_error(tmp_path):
    """Finding 12: the byte reached the Parquet (pyarrow's reader then failed on it); CSV said encoding_error."""
    body = jsonl(CUSTOMER) + json.dumps({**CUSTOMER, "customerName": "XX"}).encode().replace(b"XX", b"\xff\xfe") + b"\n"
    assert rejected(tmp_path, contract("stedi.customer"), body, "c.json").code == "encoding_error"
    csv_body = ACTIVITY_HEADER + WORKSHOP_LINES.replace(b"ontistesns0", b"\xff\xfe")
    assert rejected(tmp_path / "csv", contract("weblogs.useractivity"), csv_body).code == "encoding_error"


@pytest.mark.parametrize("file_type", ["jsonl", "json_array"])
def test_a_lone_surrogate_escape_is_an_encoding_error_in_both_json_formats(tmp_path, file_type):
    """Finding 12: JSON must be consistent: a string cut inside a surrogate pair ("\\ud83d", as JavaScript's
    substring leaves it) is no Unicode text. ijson's C parser turned it into "?"; now both formats reject it, and a
    whole pair converts."""
    c = with_format(contract("stedi.customer"), type=file_type)
    records = [CUSTOMER, {**CUSTOMER, "customerName": "cut \ud83d"}]
    whole = [CUSTOMER, {**CUSTOMER, "customerName": "smile \ud83d\ude00"}]
    as_file = (lambda rs: jsonl(*rs)) if file_type == "jsonl" else (lambda rs: json.dumps(rs).encode())
    assert rejected(tmp_path, c, as_file(records), "c.json").code == "encoding_error"
    _, table = run(tmp_path / "whole", c, as_file(whole), "c.json")
    assert table.column("customerName")[1].as_py() == "smile \U0001f600"


# ------------------------------------------------------------------------------------------------ finding 13
def test_a_mostly_bad_file_keeps_a_bounded_part_of_its_rejected_rows_and_exact_counts(tmp_path, monkeypatch):
    """Finding 13: 6 M bad rows took 178 s and 1.5 GB of /tmp; what is kept of rejected rows is now capped (rows and
    bytes), written in bulk, and the counts stay exact."""
    import lakehouse.convert as convert_module

    monkeypatch.setattr(convert_module, "MAX_REJECTED_ROWS", 1_000)
    bad = b"".join(b"%d,7,2026-11-01,LOST,p1,1,9.5\n" % i for i in range(200_000))
    good = b"".join(b"%d,7,2026-11-01,PLACED,p1,1,9.5\n" % i for i in range(200_000, 200_010))
    started = time.monotonic()
    result, table = run(tmp_path, contract("retail.orders"), ORDERS_HEADER + bad + good)
    assert (result.rows_rejected, result.rows_written, table.num_rows) == (200_000, 10, 10)
    kept = result.bad_rows_file.read_text().splitlines()
    assert len(kept) == 1_000 and json.loads(kept[0])["record"]["status"] == "LOST"
    reason = FileRejected("invalid_rows", "", result.row_errors).reason()
    assert reason["rejected_rows_kept"] == 1_000 and reason["rejected_rows_truncated"] is True
    assert reason["bad_rows"] == 200_000
    assert time.monotonic() - started < 60


# ------------------------------------------------------------------------------------------------ finding 14
def test_quoted_newlines_convert_in_a_file_of_many_blocks(tmp_path):
    """Finding 14: quoted newlines converted in a small CSV and failed as parse_error in a 3.7 MB one."""
    row = b'10.0.0.1,alice,6/Jan/2018:06:51:54,"GET /a\nb",200,1\n'
    body = ACTIVITY_HEADER + row * 80_000  # about 4 MB, many parser blocks
    result, table = run(tmp_path, contract("weblogs.useractivity"), body)
    assert result.rows_written == 80_000 and table.column("request")[79_999].as_py() == "GET /a\nb"


def test_newlines_in_values_false_makes_a_quoted_newline_a_row_error_at_any_size(tmp_path):
    """Finding 14: with newlines_in_values: false the outcome no longer depends on where the blocks fall."""
    c = with_format(contract("weblogs.useractivity"), newlines_in_values=False)
    row = b'10.0.0.1,alice,6/Jan/2018:06:51:54,"GET /a\nb",200,1\n'
    c = rebuilt(c, max_reported_errors=1)
    for count in (1, 80_000):
        error = rejected(tmp_path / str(count), c, ACTIVITY_HEADER + row * count)
        assert error.code == "invalid_rows" and error.row_errors.bad_rows >= 1
        assert "line end inside a quoted value" in error.row_errors.kept[0].message


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2023-01-01T10:20:30Z", datetime(2023, 1, 1, 10, 20, 30)),
        ("2023-01-01T10:20:30+05:00", datetime(2023, 1, 1, 5, 20, 30)),
        ("2023-01-01T10:20:30.123-0130", datetime(2023, 1, 1, 11, 50, 30, 123000)),
        ("2023-01-01 10:20:30", datetime(2023, 1, 1, 10, 20, 30)),
        ("2023-01-01T00:30:00+01:00", datetime(2022, 12, 31, 23, 30)),
    ],
)
def test_iso_timestamps_with_an_offset_become_the_utc_instant(tmp_path, text, utc):
    """Finding 14: ISO timestamps ending in Z or +05:00 were rejected; they now convert to the UTC instant, which is
    what the naive timestamp column holds (the lineage's _ingested_at is UTC too)."""
    orders = contract("retail.orders")
    columns = [c.model_dump() for c in orders.columns]
    columns[2] = {**columns[2], "name": "ordered_at", "type": "timestamp"}
    c = rebuilt(orders, columns=columns, partitions=[{"name": "ingest_date", "source": "ingest_date"}])
    body = ORDERS_HEADER.replace(b"order_date", b"ordered_at") + f"1,7,{text},PLACED,p1,1,9.5\n".encode()
    result, table = run(tmp_path, c, body)
    assert result.rows_written == 1 and table.column("ordered_at")[0].as_py() == utc


def test_a_timestamp_whose_utc_instant_leaves_the_calendar_is_a_row_error(tmp_path):
    """Finding 14: 0001-01-01T00:00:00+01:00 is in year 0 once in UTC, which no engine of the lake can hold."""
    c = with_column(contract("stedi.customer"), "birthDay", type="timestamp")
    body = jsonl(CUSTOMER, {**CUSTOMER, "birthDay": "0001-01-01T00:00:00+01:00"})
    error = rejected(tmp_path, c, body, "c.json")
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(2, "birthDay")]


def test_multi_member_gzip_loads_every_member(tmp_path):
    """Build, corpus: concatenated gzip members are one valid gzip file; every member's rows load."""
    lines = WORKSHOP_LINES.splitlines(keepends=True)
    body = gzip.compress(ACTIVITY_HEADER + lines[0]) + gzip.compress(lines[1]) + gzip.compress(lines[2])
    result, _ = run(tmp_path, contract("weblogs.useractivity"), body, "multi.csv.gz")
    assert result.rows_written == 3




def test_pii_never_reaches_the_ledger_the_alert_the_reason_file_or_the_logs(lake, app, context, capsys, caplog):
    """Finding 7, end to end through ConvertFunction: a headerless userprofile file and a JSON-array parse error
    next to a pii value; the ledger's reason, reason.json, the SNS alert and every log line are free of the values."""
    from .conftest import event_for, sqs_batch

    headerless = lake.put("weblogs/userprofile/no-header.csv", PROFILE_ROW * 2)
    assert app.handler(sqs_batch(event_for(headerless)), context) == {"batchItemFailures": []}
    entry = lake.ledger(headerless.key)
    assert (entry.state, entry.reason_code) == ("quarantined", "missing_columns")
    seen = [entry.reason, json.dumps(lake.quarantine_reason(headerless.key)), json.dumps(lake.alerts())]
    seen += [capsys.readouterr().out, capsys.readouterr().err, caplog.text]
    _assert_no_secret("\n".join(seen))
