"""The converter on local bytes: every format, every rejection kind, both bad-row policies."""

from __future__ import annotations

import gc
import gzip
import io
import json
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lakehouse.contracts import Contract
from lakehouse.convert import convert
from lakehouse.outcomes import Lineage, ObjectIgnored

from .converting import (
    ACTIVITY_HEADER,
    CUSTOMER,
    NOW,
    contract,
    jsonl,
    rebuilt,
    rejected,
    run,
    with_column,
    with_format,
)

ACTIVITY_ROW = b"10.0.0.1,alice,17/Jan/2018:10:43:54,GET /petstore/Cats/Treats,200,512\n"


# ------------------------------------------------------------------------------------------ formats
def test_csv_converts_with_declared_types_and_lineage(tmp_path):
    result, table = run(tmp_path, contract("weblogs.useractivity"), ACTIVITY_HEADER + ACTIVITY_ROW * 3)
    assert result.rows_written == 3 and result.path == "typed"
    assert table.schema.field("http").type == pa.int32()
    assert table.schema.field("bytes").type == pa.int64()
    assert table.column("_source_key")[0].as_py() == "weblogs/useractivity/file.csv"
    assert table.column("_source_version")[0].as_py() == "v1"
    assert result.outputs[0].path.startswith("ingest_date=2026-11-22/")
    assert pq.ParquetFile(tmp_path / "out" / result.outputs[0].path).metadata.row_group(0).column(0).compression == "SNAPPY"


def test_tsv_converts(tmp_path):
    c = with_format(contract("weblogs.useractivity"), type="tsv")
    body = (ACTIVITY_HEADER + ACTIVITY_ROW).replace(b",", b"\t")
    _, table = run(tmp_path, c, body)
    assert table.column("request")[0].as_py() == "GET /petstore/Cats/Treats"


def test_stedi_customer_jsonl_with_absent_optional_keys(tmp_path):
    consenting = {**CUSTOMER, "shareWithResearchAsOfDate": 1655564376361, "shareWithPublicAsOfDate": 1655564376361}
    result, table = run(tmp_path, contract("stedi.customer"), jsonl(CUSTOMER, consenting, CUSTOMER), "c.json")
    assert result.rows_written == 3
    assert table.schema.field("registrationDate").type == pa.int64()
    assert table.schema.field("birthDay").type == pa.date32()
    assert table.column("shareWithResearchAsOfDate").to_pylist() == [None, 1655564376361, None]
    assert table.column("shareWithFriendsAsOfDate").null_count == 3


def test_json_array_converts(tmp_path):
    c = with_format(contract("stedi.accelerometer"), type="json_array")
    body = json.dumps([{"user": "a@b.c", "timestamp": 1, "x": 1, "y": 0.5, "z": -1.25}] * 4).encode()
    result, table = run(tmp_path, c, body, "a.json")
    assert result.rows_written == 4
    assert table.column("x").to_pylist() == [1.0] * 4


def test_gzip_is_decompressed_by_extension(tmp_path):
    result, _ = run(tmp_path, contract("weblogs.useractivity"), gzip.compress(ACTIVITY_HEADER + ACTIVITY_ROW), "a.csv.gz")
    assert result.rows_written == 1


def test_utf8_bom_is_skipped(tmp_path):
    _, table = run(tmp_path, contract("weblogs.useractivity"), b"\xef\xbb\xbf" + ACTIVITY_HEADER + ACTIVITY_ROW)
    assert table.column("ip_address")[0].as_py() == "10.0.0.1"


def test_latin1_when_the_contract_says_so(tmp_path):
    c = with_format(contract("weblogs.useractivity"), encoding="latin-1")
    body = ACTIVITY_HEADER + "10.0.0.1,jos\xe9,17/Jan/2018:10:43:54,GET /petstore,200,1\n".encode("latin-1")
    _, table = run(tmp_path, c, body)
    assert table.column("username")[0].as_py() == "josé"


def test_a_row_longer_than_the_block_is_read_with_a_larger_block(tmp_path):
    long_request = b"GET /" + b"x" * 300_000
    body = ACTIVITY_HEADER + ACTIVITY_ROW + b"10.0.0.2,bob,17/Jan/2018:10:43:54," + long_request + b",200,1\n"
    result, table = run(tmp_path, contract("weblogs.useractivity"), body, block_size=64 << 10)
    assert result.rows_written == 2
    assert len(table.column("request")[1].as_py()) == len(long_request)


def test_partition_from_data_with_month_transform(tmp_path):
    body = (
        b"order_id,customer_id,order_date,status,product_id,quantity,unit_price\n"
        b"1,7,2026-10-31,PLACED,p1,1,9.5\n2,7,2026-11-01,SHIPPED,p2,2,3\n3,8,2026-11-02,PLACED,p1,1,9.5\n"
    )
    result, _ = run(tmp_path, contract("retail.orders"), body)
    assert sorted((o.partition["order_month"], o.rows) for o in result.outputs) == [("2026-10", 1), ("2026-11", 2)]


# ------------------------------------------------------------------------------------------ rejections
def test_wrong_types_name_rows_and_columns(tmp_path):
    body = ACTIVITY_HEADER + ACTIVITY_ROW + b"10.0.0.1,bob,17/Jan/2018:10:43:54,GET /,abc,1\n" + ACTIVITY_ROW
    error = rejected(tmp_path, contract("weblogs.useractivity"), body)
    assert error.code == "invalid_rows"
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(2, "http")]
    assert "not a valid int: 'abc'" in error.row_errors.kept[0].message


def test_checks_ranges_regex_and_nullability(tmp_path):
    body = (
        ACTIVITY_HEADER
        + b"10.0.0.1,alice,17/Jan/2018:10:43:54,GET /,999,1\n"  # http above 599
        + b"10.0.0.1,,17/Jan/2018:10:43:54,GET /,200,1\n"  # username required
        + b"10.0.0.1,bob,2018-01-17,GET /,200,1\n"  # timestamp regex
        + b"10.0.0.1,bob,17/Jan/2018:10:43:54,GET /,200,-5\n"  # bytes below 0
    )
    error = rejected(tmp_path, contract("weblogs.useractivity"), body)
    found = {(e.row, e.column) for e in error.row_errors.kept}
    assert found == {(1, "http"), (2, "username"), (3, "timestamp"), (4, "bytes")}
    reason = error.reason()
    assert reason["bad_rows"] == 4 and reason["errors_total"] == 4


def test_missing_required_column_is_a_file_error(tmp_path):
    error = rejected(tmp_path, contract("weblogs.useractivity"), b"ip_address,username\n1.1.1.1,a\n")
    assert error.code == "missing_columns" and "timestamp" in error.message


def test_wrong_delimiter_gets_a_hint(tmp_path):
    body = (ACTIVITY_HEADER + ACTIVITY_ROW).replace(b",", b";")
    error = rejected(tmp_path, contract("weblogs.useractivity"), body)
    assert error.code == "missing_columns" and "delimiter ';'" in error.message


def test_unknown_column_rejected_or_ignored_per_contract(tmp_path):
    body = b"extra," + ACTIVITY_HEADER + b"x," + ACTIVITY_ROW
    assert rejected(tmp_path, contract("weblogs.useractivity"), body).code == "unknown_columns"
    result, table = run(tmp_path, contract("weblogs.useractivity", unknown_columns="ignore"), body)
    assert "extra" not in table.column_names and result.rows_written == 1


def test_ragged_rows_are_row_errors(tmp_path):
    body = ACTIVITY_HEADER + ACTIVITY_ROW + b"10.0.0.1,alice\n" + ACTIVITY_ROW
    error = rejected(tmp_path, contract("weblogs.useractivity"), body)
    assert [(e.row, e.message) for e in error.row_errors.kept] == [(2, "expected 6 fields, got 2")]


def test_unterminated_quote_is_a_parse_error(tmp_path):
    body = ACTIVITY_HEADER + b'10.0.0.1,"alice,17/Jan/2018:10:43:54,GET /,200,1\n'
    error = rejected(tmp_path, contract("weblogs.useractivity"), body)
    assert error.code in ("parse_error", "invalid_rows")


def test_invalid_utf8_is_an_encoding_error(tmp_path):
    body = ACTIVITY_HEADER + b"10.0.0.1,al\xffce,17/Jan/2018:10:43:54,GET /,200,1\n"
    assert rejected(tmp_path, contract("weblogs.useractivity"), body).code == "encoding_error"


class _Trickle(io.RawIOBase):
    """A source whose reads return at most 1,000 bytes, as a network stream may."""

    def __init__(self, data: bytes):
        super().__init__()
        self.data, self.position = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), 1000, len(self.data) - self.position)
        buffer[:n] = self.data[self.position:self.position + n]
        self.position += n
        return n


def test_short_reads_still_give_the_parser_whole_blocks(tmp_path):
    """The parser's blocks are as long as it asks whatever the source's reads return: a 200 KB value fits in the
    next larger block, as it would from a file."""
    long_request = b"GET /" + b"a" * 200_000
    body = ACTIVITY_HEADER + ACTIVITY_ROW * 100 + ACTIVITY_ROW.replace(b"GET /petstore/Cats/Treats", long_request)
    c = contract("weblogs.useractivity")
    key = f"{c.landing_prefix}file.csv"
    (tmp_path / "work").mkdir()
    result = convert(lambda: _Trickle(body), c, key=key, lineage=Lineage(key, "v1", NOW), out_dir=tmp_path / "out",
                     work_dir=tmp_path / "work", block_size=64 << 10)
    assert result.rows_written == 101


def test_utf8_is_checked_by_block_with_the_same_outcomes(tmp_path, monkeypatch):
    """A UTF-8 file is checked block by block, not value by value: characters split between blocks are whole
    again, and a file holding other bytes is read again with the per-value check, so bytes in no converted value
    (an ignored column) are still no error, and bytes in a value still are."""
    from lakehouse import convert as converter

    reads: list[bool] = []  # utf8_per_value of each read of the file
    read_csv = converter.read_csv
    monkeypatch.setattr(converter, "read_csv", lambda *a, **kw: reads.append(kw["utf8_per_value"]) or read_csv(*a, **kw))
    rows = b"".join(b"10.0.0.1,\xc3\xa9l\xc3\xa8ve-\xe2\x82\xac%d-\xf0\x9f\x98\x80,17/Jan/2018:10:43:54,GET /,200,1\n" % i
                    for i in range(40_000))  # 1.6 MB: past the header's peek; blocks end mid-character
    result, table = run(tmp_path, contract("weblogs.useractivity"), ACTIVITY_HEADER + rows, block_size=64 << 10)
    assert result.rows_written == 40_000
    assert table.column("username")[39_999].as_py() == "\u00e9l\u00e8ve-\u20ac39999-\U0001f600"
    assert reads == [False]  # one read, checked by block

    ignoring = contract("weblogs.useractivity", unknown_columns="ignore")
    body = b"note," + ACTIVITY_HEADER + b"b\xffd," + ACTIVITY_ROW + b"ok," + ACTIVITY_ROW
    (tmp_path / "ignored").mkdir()
    result, table = run(tmp_path / "ignored", ignoring, body)
    assert result.rows_written == 2 and table.column("username").to_pylist() == ["alice", "alice"]
    assert reads == [False, False, True]  # the second file is read again, checked per value
    (tmp_path / "cut").mkdir()
    cut = ACTIVITY_HEADER + ACTIVITY_ROW + b"10.0.0.1,alice,17/Jan/2018:10:43:54,GET /,200,1\xc3"  # ends mid-character
    assert rejected(tmp_path / "cut", contract("weblogs.useractivity"), cut).code == "encoding_error"


def test_corrupt_gzip(tmp_path):
    body = gzip.compress(ACTIVITY_HEADER + ACTIVITY_ROW * 100)[:-30]
    assert rejected(tmp_path, contract("weblogs.useractivity"), body, "a.csv.gz").code == "compression_error"


def test_wrong_extension(tmp_path):
    assert rejected(tmp_path, contract("weblogs.useractivity"), ACTIVITY_HEADER, "a.xlsx").code == "wrong_extension"


def test_header_only_file_is_ignored(tmp_path):
    with pytest.raises(ObjectIgnored) as raised:
        run(tmp_path, contract("weblogs.useractivity"), ACTIVITY_HEADER)
    assert raised.value.code == "no_rows"


def test_truncated_json_line(tmp_path):
    body = jsonl(CUSTOMER) + b'{"customerName": "Cut' + b"\n" + jsonl(CUSTOMER)
    error = rejected(tmp_path, contract("stedi.customer"), body, "c.json")
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(2, None)]
    assert "invalid JSON" in error.row_errors.kept[0].message


def test_a_rejection_leaves_no_converter_thread_behind(tmp_path, monkeypatch):
    """Once the file is known to be rejected, the converter stops reading and raises. Its threads (the Parquet
    writer's; validation once had one too) must be joined right then, not when the garbage collector finalizes the
    abandoned stream (here kept alive by the exception's traceback): a collection can start inside threading's own
    bookkeeping, where that join deadlocks. A test run hung that way once."""
    from lakehouse import writer

    monkeypatch.setattr(writer, "ROW_GROUP_BYTES", 1)  # every step is a row group: the writer's thread is running
    good = ACTIVITY_HEADER + ACTIVITY_ROW * 5_000
    rows = ACTIVITY_ROW * 70_000 + ACTIVITY_ROW.replace(b",200,", b",700,") + ACTIVITY_ROW * 10
    gc.disable()  # no collection may tidy up behind the converter's back
    try:
        error = rejected(tmp_path, contract("weblogs.useractivity", max_reported_errors=1), good + rows,
                         block_size=64 << 10)
        assert error.code == "invalid_rows"
        assert [t.name for t in threading.enumerate() if t.name.startswith(("validate", "parquet-writer"))] == []
    finally:
        gc.enable()


def test_nested_json_where_a_scalar_is_declared(tmp_path):
    body = jsonl(CUSTOMER, {**CUSTOMER, "phone": {"home": "1"}})
    error = rejected(tmp_path, contract("stedi.customer"), body, "c.json")
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(2, "phone")]
    assert "nested JSON object" in error.row_errors.kept[0].message


def test_json_array_where_lines_are_declared(tmp_path):
    error = rejected(tmp_path, contract("stedi.customer"), json.dumps([CUSTOMER]).encode(), "c.json")
    assert error.code == "format_mismatch"


def test_unknown_json_key_with_reject_policy(tmp_path):
    error = rejected(tmp_path, contract("stedi.customer"), jsonl({**CUSTOMER, "ssn": "1"}), "c.json")
    assert (error.row_errors.kept[0].row, error.row_errors.kept[0].column) == (1, "ssn")


def test_missing_required_json_key(tmp_path):
    record = dict(CUSTOMER)
    del record["email"]
    error = rejected(tmp_path, contract("stedi.customer"), jsonl(CUSTOMER, record), "c.json")
    assert (error.row_errors.kept[0].row, error.row_errors.kept[0].column) == (2, "email")
    assert error.row_errors.kept[0].message == "required value is missing"


def test_duplicate_keys_per_contract(tmp_path):
    header = b"first_name,last_name,username,email,gender,phone,zip,cc,password,ssn,age\n"
    row = b"A,B,ab,a@b.c,F,1,12345,4111,pw,123-45-6789,30\n"
    error = rejected(tmp_path, contract("weblogs.userprofile"), header + row + row)
    assert error.row_errors.kept[0].row == 2
    assert "duplicate key, first seen at row 1" in error.row_errors.kept[0].message


def test_pii_values_are_not_copied_into_reasons(tmp_path):
    header = b"first_name,last_name,username,email,gender,phone,zip,cc,password,ssn,age\n"
    row = b"A,B,ab,a@b.c,F,1,12345,4111,pw,123-45-6789,thirty\n".replace(b"4111", b"4111x")
    c = contract("weblogs.userprofile")
    c = with_column(c, "age", pii=True)
    error = rejected(tmp_path, c, header + row)
    assert "thirty" not in json.dumps(error.reason())


def test_error_examples_are_capped_but_counted(tmp_path):
    bad = b"10.0.0.1,bob,17/Jan/2018:10:43:54,GET /,abc,1\n"
    error = rejected(tmp_path, contract("weblogs.useractivity", max_reported_errors=5), ACTIVITY_HEADER + bad * 50)
    assert len(error.row_errors.kept) == 5
    assert error.reason()["errors_truncated"] is True


# ------------------------------------------------------------------------------------------ quarantine_rows
ORDERS = b"order_id,customer_id,order_date,status,product_id,quantity,unit_price\n"


def test_quarantine_rows_loads_good_rows_and_keeps_bad_ones(tmp_path):
    body = ORDERS + b"1,7,2026-11-01,PLACED,p1,1,9.5\n2,7,2026-11-01,LOST,p2,2,3\n3,x,2026-11-02,PLACED,p1,1,9.5\n4,8,2026-11-02,PLACED,p1,1,1\n"
    result, table = run(tmp_path, contract("retail.orders"), body)
    assert result.rows_written == 2 and result.rows_rejected == 2
    assert table.column("order_id").to_pylist() == [1, 4]
    bad = [json.loads(line) for line in result.bad_rows_file.read_text().splitlines()]
    assert [b["_row"] for b in bad] == [2, 3]
    assert bad[0]["record"]["status"] == "LOST" and bad[1]["_errors"][0]["column"] == "customer_id"


def test_quarantine_rows_with_no_valid_row_rejects_the_file(tmp_path):
    error = rejected(tmp_path, contract("retail.orders"), ORDERS + b"1,7,2026-11-01,LOST,p1,1,9.5\n")
    assert error.code == "no_valid_rows"


def test_a_null_in_an_optional_column_with_allowed_values_is_fine(tmp_path):
    header = b"first_name,last_name,username,email,gender,phone,zip,cc,password,ssn,age\n"
    result, table = run(tmp_path, contract("weblogs.userprofile"), header + b"A,B,ab,a@b.c,,1,12345,4111,pw,123-45-6789,30\n")
    assert result.rows_written == 1 and table.column("gender").to_pylist() == [None]


def test_csv_without_a_header_line_uses_the_contract_order(tmp_path):
    c = with_format(contract("weblogs.useractivity"), header=False)
    result, table = run(tmp_path, c, ACTIVITY_ROW * 2)
    assert result.rows_written == 2 and table.column("http").to_pylist() == [200, 200]


def test_partition_values_are_escaped_in_paths(tmp_path):
    c = contract("retail.orders")
    c = rebuilt(c, partitions=[{**c.partitions[0].model_dump(), "column": "product_id", "transform": "identity", "name": "product"}])
    result, _ = run(tmp_path, c, ORDERS + b"1,7,2026-11-01,PLACED,a/../b=c,1,9.5\n")
    assert [o.path.split("/")[0] for o in result.outputs] == ["product=a%2F..%2Fb%3Dc"]


def test_a_column_partitioned_by_its_value_keeps_its_values_and_type_in_the_files(tmp_path):
    """The partition is a text key beside the columns: the column itself stays in every file, typed as declared
    (it used to live only in the folder name, as text under the partition's name)."""
    c = contract("retail.orders")
    c = rebuilt(c, partitions=[{"name": "by_quantity", "column": "quantity"}, {"name": "by_status", "column": "status"}])
    body = ORDERS + b"1,7,2026-11-01,PLACED,p1,3,9.5\n2,7,2026-11-01,SHIPPED,p1,3,9.5\n3,8,2026-11-02,PLACED,p2,4,1\n"
    result, table = run(tmp_path, c, body)
    assert sorted(o.path.split("/f")[0] for o in result.outputs) == [
        "by_quantity=3/by_status=PLACED", "by_quantity=3/by_status=SHIPPED", "by_quantity=4/by_status=PLACED"]
    assert table.schema.field("quantity").type == pa.int32() and table.schema.field("status").type == pa.string()
    assert sorted(zip(table.column("order_id").to_pylist(), table.column("quantity").to_pylist(),
                      table.column("status").to_pylist())) == [(1, 3, "PLACED"), (2, 3, "SHIPPED"), (3, 4, "PLACED")]


def test_an_empty_partition_value_is_the_default_partition_and_the_row_keeps_its_value(tmp_path):
    c = rebuilt(contract("stedi.customer"), partitions=[{"name": "by_phone", "column": "phone"}])
    result, table = run(tmp_path, c, jsonl({**CUSTOMER, "phone": ""}), name="file.json")
    assert [o.path.split("/")[0] for o in result.outputs] == ["by_phone=__HIVE_DEFAULT_PARTITION__"]
    assert table.column("phone").to_pylist() == [""]


def test_a_partition_value_too_long_for_an_s3_key_quarantines_the_file_without_quoting_it(tmp_path):
    c = rebuilt(contract("stedi.customer"), partitions=[{"name": "by_phone", "column": "phone"}])
    error = rejected(tmp_path, c, jsonl(CUSTOMER, {**CUSTOMER, "phone": "8" * 600}), name="file.json")
    assert error.code == "partition_value_too_long"
    assert "partition by_phone: a value of 600 bytes" in error.message and "888" not in error.message


def test_a_pii_column_cannot_be_a_partition(tmp_path):
    with pytest.raises(ValueError, match="partition 'by_ssn' uses pii column 'ssn'.*S3 keys"):
        rebuilt(contract("weblogs.userprofile"), partitions=[{"name": "by_ssn", "column": "ssn"}])


def test_a_partition_named_like_a_column_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="partition 'status' has the name of a column.*e.g. status_part"):
        rebuilt(contract("retail.orders"), partitions=[{"name": "status", "column": "status"}])


def test_the_catalog_registers_each_partition_where_its_files_are(tmp_path):
    """Values with '/', ':' or '=' are escaped in the folder name; the catalog's location is that folder (it was the
    raw value, so Athena found no rows there)."""
    import boto3
    from lakehouse.catalog import Catalog
    from moto import mock_aws

    c = contract("retail.orders")
    c = rebuilt(c, partitions=[{"name": "by_product", "column": "product_id"}])
    result, _ = run(tmp_path, c, ORDERS + b"1,7,2026-11-01,PLACED,N/A: x=1,1,9.5\n2,7,2026-11-01,PLACED,p2,1,9.5\n")
    with mock_aws():
        glue = boto3.client("glue", region_name="us-east-1")
        glue.create_database(DatabaseInput={"Name": "raw"})
        catalog = Catalog(glue, "raw", "raw-bucket")
        catalog.ensure_table(c)
        catalog.add_partitions(c, result.outputs)
        partitions = glue.get_partitions(DatabaseName="raw", TableName=c.table)["Partitions"]
    located = {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for p in partitions}
    assert located == {
        (o.partition["by_product"],): f"s3://raw-bucket/{c.table}/{o.path.rsplit('/', 1)[0]}/" for o in result.outputs}
    assert located[("N/A: x=1",)].endswith("/by_product=N%2FA%3A x%3D1/")


def test_json_that_python_refuses_is_a_row_error_not_a_crash(tmp_path):
    """A 5000-digit literal (Python's int() refuses it) is read as its text: a bigint out of range, one row error."""
    body = jsonl(CUSTOMER) + json.dumps(CUSTOMER).replace("1655564376361", "9" * 5000, 1).encode() + b"\n"
    error = rejected(tmp_path, contract("stedi.customer"), body, "c.json")
    assert [(e.row, e.column) for e in error.row_errors.kept] == [(2, "registrationDate")]
    assert "not a valid bigint" in error.row_errors.kept[0].message



def test_large_output_rolls_over_to_numbered_files(tmp_path, monkeypatch):
    """Past MAX_FILE_BYTES a partition's output continues in <name>-00001.parquet ...; every row lands once."""
    from lakehouse import writer

    monkeypatch.setattr(writer, "ROW_GROUP_BYTES", 1)  # every write is a row group
    monkeypatch.setattr(writer, "MAX_FILE_BYTES", 2)  # and every row group after the first starts a new file
    c = contract("weblogs.useractivity")

    def fill(out: writer.PartitionedWriter) -> None:
        for start in range(0, 1000, 250):
            out.write(pa.table({
                "ip_address": ["10.0.0.1"] * 250, "username": [f"user{i}" for i in range(start, start + 250)],
                "timestamp": ["17/Jan/2018:10:43:54"] * 250, "request": ["GET /"] * 250,
                "http": pa.array([200] * 250, pa.int32()), "bytes": pa.array(range(start, start + 250), pa.int64()),
            }))

    aborted = writer.PartitionedWriter(tmp_path, c, Lineage("weblogs/useractivity/big.csv", "v0", NOW))
    fill(aborted)
    aborted.abort()
    assert not list(tmp_path.rglob("*.parquet"))  # every file of an aborted object is removed, rolled ones too

    out = writer.PartitionedWriter(tmp_path, c, Lineage("weblogs/useractivity/big.csv", "v1", NOW))
    fill(out)
    assert out.rows == 1000
    outputs = out.close()
    names = [o.path.rsplit("/", 1)[-1] for o in outputs]
    stem = writer.object_file_name("weblogs/useractivity/big.csv").removesuffix(".parquet")
    assert sorted(names) == [f"{stem}-00001.parquet", f"{stem}-00002.parquet", f"{stem}-00003.parquet",
                             f"{stem}.parquet"]
    assert [o.rows for o in sorted(outputs, key=lambda o: o.path)] == [250, 250, 250, 250]
    table = pa.concat_tables(pq.read_table(tmp_path / o.path) for o in outputs)
    assert sorted(table.column("bytes").to_pylist()) == list(range(1000))
    assert all(o.bytes == (tmp_path / o.path).stat().st_size for o in outputs)


def test_a_column_named_with_an_underscore_is_data_not_lineage(tmp_path):
    # contract column names may start with "_"; only the lineage columns are always dictionary-encoded
    base = contract("weblogs.useractivity")
    raw = base.model_dump(mode="json", exclude={"pipeline"})
    raw["columns"] = [{"name": "_id", "type": "string", "nullable": False}] + raw["columns"]
    with_id = Contract.model_validate({**raw, "pipeline": base.pipeline})
    rows = b"".join(b"id%d," % i + ACTIVITY_ROW for i in range(200))
    result, table = run(tmp_path, with_id, b"_id," + ACTIVITY_HEADER + rows)
    assert result.rows_written == 200 and table.column("_id")[199].as_py() == "id199"
    chunk = pq.ParquetFile(tmp_path / "out" / result.outputs[0].path).metadata.row_group(0).column(0)
    assert chunk.path_in_schema == "_id"
    assert "RLE_DICTIONARY" not in chunk.encodings and not chunk.is_stats_set


def test_string_statistics_are_kept_where_they_can_skip_row_groups(tmp_path):
    """Min/max statistics of a low-cardinality string column are written when its first rows show they can skip
    row groups (one value, or sorted/clustered values), not for values in no order, whose every row group spans
    the domain; numbers, keys and lineage always get them."""
    import random

    def stats_of(rows: list[bytes]) -> dict[str, bool]:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        result, _ = run(folder, contract("weblogs.useractivity"), ACTIVITY_HEADER + b"".join(rows))
        chunk = pq.ParquetFile(folder / "out" / result.outputs[0].path).metadata.row_group(0)
        return {chunk.column(i).path_in_schema: chunk.column(i).is_stats_set for i in range(chunk.num_columns)}

    shuffled = random.Random(7)
    users = [f"user{i:03d}" for i in range(300)]
    in_no_order = [b"10.0.%d.%d,%s,%d/Jan/2018:%02d:%02d:%02d,GET /,200,%d\n"
                   % (i % 7, i % 250, shuffled.choice(users).encode(), 1 + i % 28, i % 24, i % 60, i // 60 % 60, i)
                   for i in range(8_000)]
    stats = stats_of(in_no_order)
    assert stats["http"] and stats["bytes"] and stats["_source_key"] and stats["_ingested_at"]
    assert not stats["username"] and not stats["ip_address"]  # low cardinality, in no order
    assert not stats["timestamp"]  # high cardinality
    assert stats["request"]  # one value in the whole file: a query for another skips it

    clustered = sorted(in_no_order, key=lambda row: row.split(b",")[1])  # rows grouped by user, as in an export
    assert stats_of(clustered)["username"]
