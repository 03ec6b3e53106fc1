"""The bad-input corpus (issue 5): every landing object ends in exactly one recorded state.

Each case is generated here (no blobs), dropped into the moto landing bucket next to a good file, and both go
through the real ConvertFunction handler in one SQS batch. Asserted for every case: the batch reports no failure,
the good file's rows are all there, the case's ledger entry has the expected state and reason code, a quarantined
file is copied byte for byte next to its reason.json and alerts exactly once, an ignored one leaves no trace in
quarantine and sends no alert. The matrix (case -> state -> reason) is printed at the end of the module and written
to <pytest basetemp>/corpus-matrix.md (or to $LAKEHOUSE_CORPUS_MATRIX).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

import pytest
from lakehouse.readers import DEFAULT_BLOCK_SIZE

from .conftest import LANDING, event_for, sqs_batch

ACTIVITY_HEADER = b"ip_address,username,timestamp,request,http,bytes\n"


def activity_row(i: int, http: int = 200) -> bytes:
    return f"10.0.0.{i % 250},user{i},17/Jan/2018:10:43:{i % 60:02d},GET /petstore/item/{i},{http},{100 + i}\n".encode()


def activity(n: int = 5) -> bytes:
    return ACTIVITY_HEADER + b"".join(activity_row(i) for i in range(n))


def customer(i: int, **changes) -> dict:
    record = {
        "customerName": f"Customer {i}", "email": f"c{i}@example.com", "phone": "8015551212",
        "birthDay": "1990-01-01", "serialNumber": f"serial-{i}", "registrationDate": 1655564376361 + i,
        "lastUpdateDate": 1655564376361 + i,
    }
    record.update(changes)
    return record


def jsonl(*records: dict) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in records)


CUSTOMERS = jsonl(*(customer(i) for i in range(10)))
ZIP_HEADER = b"Zipcode,ZipCodeType,City,State,LocationType,Lat,Long,Location,Decommisioned\n"


def zipcode(z: str, city: str = "SPRINGFIELD") -> bytes:
    return f"{z},STANDARD,{city},IL,PRIMARY,39.78,-89.64,NA-US-IL-{city},false\n".encode()


ORDERS_HEADER = b"order_id,customer_id,order_date,status,product_id,quantity,unit_price\n"

# A test pipeline next to the shipped ones: a Latin-1 CSV contract and a JSON-array contract.
CORPUS_CONTRACTS = {
    "people.yaml": """
dataset: people
table: corpus_people
landing_prefix: corpus/people/
format: {type: csv, encoding: latin-1}
extensions: [.csv]
columns:
  - {name: id, type: bigint, nullable: false}
  - {name: name, type: string, nullable: false}
key: [id]
""",
    "events.yaml": """
dataset: events
table: corpus_events
landing_prefix: corpus/events/
format: {type: json_array}
extensions: [.json]
columns:
  - {name: id, type: bigint, nullable: false}
  - {name: kind, type: string}
""",
}


@dataclass
class Case:
    name: str
    key: str
    body: bytes | Callable[[], bytes]
    state: str
    reason: str = ""
    rows: int | None = None  # rows written, when converted
    note: str = ""
    setup: Callable[[pytest.MonkeyPatch], None] | None = None
    check: Callable[..., None] | None = None
    extra: dict = field(default_factory=dict)

    def data(self) -> bytes:
        return self.body() if callable(self.body) else self.body


def _small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser's block is 64 KiB and may grow to 256 KiB (instead of 8 and 128 MiB): same code, small files."""
    import lakehouse.convert as convert_module

    monkeypatch.setitem(convert_module.convert.__kwdefaults__, "block_size", 64 << 10)
    monkeypatch.setattr(convert_module, "MAX_BLOCK_SIZE", 256 << 10)


def _latin1_decoded(lake, case: Case) -> None:
    rows = lake.raw_rows("corpus_people")
    assert sorted(r["name"] for r in rows) == ["Françoise", "José Müller"]


def _unknown_column_dropped(lake, case: Case) -> None:
    rows = lake.raw_rows("zipcodes")
    assert rows and "Population" not in rows[0] and "population" not in rows[0]


def _long_line_kept(lake, case: Case) -> None:
    rows = lake.raw_rows("useractivity")
    assert max(len(r["request"]) for r in rows) == case.extra["length"]


def _bom_header(lake, case: Case) -> None:
    rows = lake.raw_rows("useractivity")
    assert rows[0]["ip_address"].startswith("10.0.0.")


def _orders_rows_quarantined(lake, case: Case) -> None:
    reason = lake.quarantine_reason(case.key)
    assert reason["code"] == "invalid_rows" and reason["bad_rows"] == 1
    rows = lake.s3.get_object(Bucket=lake.settings.quarantine_bucket, Key=f"{case.key}.rejected-rows.jsonl")
    assert len(rows["Body"].read().splitlines()) == 1


LONG = DEFAULT_BLOCK_SIZE + (1 << 20)  # longer than the parser's default block

CASES = [
    Case("zero-byte file", "stedi/customer/empty.json", b"", "ignored", "zero_bytes"),
    Case("header only", "weblogs/useractivity/header-only.csv", ACTIVITY_HEADER, "ignored", "no_rows"),
    Case("folder marker key", "stedi/customer/2026/", b"", "ignored", "folder_marker"),
    Case("unknown prefix", "nobody/knows/this.csv", activity(2), "ignored", "unknown_prefix"),
    Case("wrong extension for the contract", "stedi/customer/customers.csv", CUSTOMERS, "quarantined",
         "wrong_extension"),
    Case("UTF-8 BOM (CSV)", "weblogs/useractivity/bom.csv", b"\xef\xbb\xbf" + activity(3), "converted", rows=3,
         check=_bom_header),
    Case("UTF-8 BOM (JSON lines)", "stedi/customer/bom.json", b"\xef\xbb\xbf" + jsonl(customer(1), customer(2)),
         "converted", rows=2),
    Case("invalid UTF-8 bytes", "weblogs/useractivity/invalid-utf8.csv",
         activity(2) + b"10.0.0.9,b\xffb\xfe,17/Jan/2018:10:43:54,GET /,200,1\n", "quarantined", "encoding_error"),
    Case("Latin-1 when the contract says so", "corpus/people/latin1.csv",
         "id,name\n1,José Müller\n2,Françoise\n".encode("latin-1"), "converted", rows=2, check=_latin1_decoded),
    Case("wrong delimiter", "weblogs/useractivity/semicolons.csv", activity(3).replace(b",", b";"), "quarantined",
         "missing_columns"),
    Case("unterminated quote", "weblogs/useractivity/quote.csv",
         activity(2) + b'10.0.0.9,eve,17/Jan/2018:10:43:54,"GET /never-closed,200,1\n' + activity_row(7),
         "quarantined", "invalid_rows"),
    Case("ragged rows", "weblogs/useractivity/ragged.csv",
         activity(3) + b"10.0.0.9,eve,17/Jan/2018:10:43:54\n" + b"10.0.0.9,eve,17/Jan/2018:10:43:54,GET /,200,1,x\n",
         "quarantined", "invalid_rows"),
    Case("missing required column", "weblogs/useractivity/no-http.csv",
         b"ip_address,username,timestamp,request,bytes\n10.0.0.1,alice,17/Jan/2018:10:43:54,GET /,512\n",
         "quarantined", "missing_columns"),
    Case("extra unknown column (unknown_columns: reject)", "weblogs/useractivity/extra.csv",
         ACTIVITY_HEADER.rstrip(b"\n") + b",referrer\n" + activity_row(1).rstrip(b"\n") + b",google\n",
         "quarantined", "unknown_columns"),
    Case("extra unknown JSON key (unknown_columns: reject)", "stedi/customer/extra-key.json",
         jsonl(customer(1), customer(2, loyaltyTier="gold")), "quarantined", "invalid_rows"),
    Case("extra unknown column (unknown_columns: ignore)", "weblogs/zipcodes/extra.csv",
         ZIP_HEADER.rstrip(b"\n") + b",Population\n" + zipcode("62701").rstrip(b"\n") + b",116250\n",
         "converted", rows=1, check=_unknown_column_dropped),
    Case("wrong types in some rows", "stedi/customer/types.json",
         jsonl(customer(1), customer(2, registrationDate="yesterday"), customer(3, birthDay="not-a-date")),
         "quarantined", "invalid_rows"),
    Case("values out of declared range", "weblogs/useractivity/range.csv",
         activity(2) + activity_row(5, http=999), "quarantined", "invalid_rows"),
    Case("duplicate rows per contract key (reject_file)", "weblogs/zipcodes/dupes.csv",
         ZIP_HEADER + zipcode("62701") + zipcode("62702") + zipcode("62701", "SPRINGFIELD2"), "quarantined",
         "invalid_rows"),
    Case("duplicate rows per contract key (quarantine_rows)", "retail/orders/dupes.csv",
         ORDERS_HEADER + b"1,7,2026-11-01,PLACED,p1,1,9.5\n2,7,2026-11-01,PLACED,p2,2,3\n1,7,2026-11-01,PLACED,p1,1,9.5\n",
         "converted", "rows_quarantined", rows=2, check=_orders_rows_quarantined),
    Case("truncated JSON line", "stedi/customer/truncated.json", CUSTOMERS[: len(CUSTOMERS) - 40], "quarantined",
         "invalid_rows"),
    Case("JSON array where lines are declared", "stedi/customer/array.json",
         json.dumps([customer(1), customer(2)]).encode(), "quarantined", "format_mismatch"),
    Case("JSON lines where an array is declared", "corpus/events/lines.json",
         b'{"id": 1, "kind": "a"}\n{"id": 2, "kind": "b"}\n', "quarantined", "format_mismatch"),
    Case("nested JSON where a scalar is declared", "stedi/customer/nested.json",
         jsonl(customer(1), customer(2, phone={"home": "8015551212"})), "quarantined", "invalid_rows"),
    Case("corrupt gzip", "weblogs/useractivity/corrupt.csv.gz", b"\x1f\x8b\x08\x00garbage, not deflate" * 3,
         "quarantined", "compression_error"),
    Case("truncated gzip", "weblogs/useractivity/truncated.csv.gz", gzip.compress(activity(500))[:-400],
         "quarantined", "compression_error"),
    Case(f"a CSV line longer than the parser's block ({DEFAULT_BLOCK_SIZE >> 10} KiB)",
         "weblogs/useractivity/long-line.csv",
         lambda: activity(2) + b"10.0.0.9,eve,17/Jan/2018:10:43:54,GET /" + b"x" * (LONG - 5) + b",200,1\n",
         "converted", rows=3, check=_long_line_kept, extra={"length": LONG}),
    Case(f"a JSON line longer than the parser's block ({DEFAULT_BLOCK_SIZE >> 10} KiB)", "stedi/customer/long.json",
         lambda: jsonl(customer(1), customer(2, customerName="y" * LONG)), "converted", rows=2),
    Case("a JSON line longer than the largest block (64 KiB growing to 256 KiB)", "stedi/customer/huge.json",
         jsonl(customer(1), customer(2, customerName="y" * (1 << 20))), "quarantined", "line_too_long",
         setup=_small_blocks),
    Case("a CSV line longer than the largest block (64 KiB growing to 256 KiB)", "weblogs/useractivity/huge-line.csv",
         activity(2) + b"10.0.0.9,eve,17/Jan/2018:10:43:54,GET /" + b"x" * (300 << 10) + b",200,1\n",
         "converted", rows=3, setup=_small_blocks,
         note="pyarrow's streaming CSV reader carries a row across blocks: CSV has no line-length limit"),
    Case("0 rows after filtering (every row rejected, quarantine_rows)", "retail/orders/all-bad.csv",
         ORDERS_HEADER + b"1,7,2026-11-01,LOST,p1,1,9.5\n2,7,2026-11-01,PLACED,p2,0,3\n", "quarantined",
         "no_valid_rows"),
    Case("0 rows after filtering (header and blank lines)", "weblogs/useractivity/blank.csv",
         ACTIVITY_HEADER + b"\n\n\n", "ignored", "no_rows"),
    Case("key with spaces, unicode and '+' (URL-encoded event)", "weblogs/useractivity/2026 11/été + hiver.csv",
         activity(4), "converted", rows=4),
]

MATRIX: list[tuple[str, str, str, str]] = []


@pytest.fixture(scope="module", autouse=True)
def matrix(tmp_path_factory, request):
    yield MATRIX
    lines = ["| case | state | reason code | detail |", "|---|---|---|---|"]
    lines += [f"| {name} | {state} | {reason or '-'} | {detail} |" for name, state, reason, detail in MATRIX]
    text = "\n".join(lines) + "\n"
    target = Path(os.environ.get("LAKEHOUSE_CORPUS_MATRIX") or tmp_path_factory.getbasetemp() / "corpus-matrix.md")
    target.write_text(text)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n\nbad-input corpus matrix ({target}):\n{text}")


@pytest.fixture
def corpus_pipelines(tmp_path, monkeypatch):
    """The landing tests' pipelines plus the test pipeline `corpus` (read when the handler builds its runtime)."""
    root = tmp_path / "pipelines"
    for contracts in (Path(__file__).resolve().parent / "pipelines").glob("*/contracts"):
        shutil.copytree(contracts, root / contracts.parent.name / "contracts")
    (root / "corpus/contracts").mkdir(parents=True)
    for name, text in CORPUS_CONTRACTS.items():
        (root / "corpus/contracts" / name).write_text(text)
    monkeypatch.setenv("LAKEHOUSE_PIPELINES_DIR", str(root))
    return root


def _quarantine_keys(lake) -> list[str]:
    listing = lake.s3.list_objects_v2(Bucket=lake.settings.quarantine_bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_case_ends_in_exactly_one_recorded_state(case, lake, corpus_pipelines, app, context, monkeypatch):
    if case.setup:
        case.setup(monkeypatch)
    good = lake.put("stedi/customer/good-neighbour.json", CUSTOMERS)
    body = case.data()
    obj = lake.put(case.key, body)
    batch = sqs_batch(event_for(good), event_for(obj))

    response = app.handler(batch, context)

    assert response == {"batchItemFailures": []}, "no case may fail (or crash) the batch"
    assert lake.ledger(good.key).state == "converted"
    assert sum(r["_source_key"] == good.key for r in lake.raw_rows("customer_landing")) == 10

    entry = lake.ledger(case.key)
    detail = entry.reason[:90].replace("|", "/").replace("\n", " ")
    MATRIX.append((case.name, entry.state, entry.reason_code, detail))
    assert (entry.state, entry.reason_code) == (case.state, case.reason), entry.reason
    alerts = lake.alerts()
    quarantined = _quarantine_keys(lake)
    if case.state == "converted":
        assert entry.rows_written == case.rows
        assert entry.outputs and entry.etag == obj.etag
    if case.state == "quarantined":
        copy = lake.s3.get_object(Bucket=lake.settings.quarantine_bucket, Key=case.key)["Body"].read()
        assert copy == body, "the original is copied byte for byte"
        reason = lake.quarantine_reason(case.key)
        assert reason["code"] == case.reason and reason["object"] == f"s3://{LANDING}/{case.key}"
        assert entry.quarantine_uri == f"s3://{lake.settings.quarantine_bucket}/{case.key}"
        assert lake.s3.get_object(Bucket=LANDING, Key=case.key)["Body"].read() == body, "the original stays"
        assert entry.rows_written == 0 and not entry.outputs
    if case.state == "quarantined" or case.reason == "rows_quarantined":
        assert len(alerts) == 1 and alerts[0]["message"]["reason_code"] == entry.reason_code
    elif case.reason == "unknown_prefix":  # someone is told: one alert for the folder (issue 13, finding 3)
        assert [a["message"]["type"] for a in alerts] == ["landing_unknown_prefix"]
    else:
        assert alerts == []
    if case.state == "ignored" or (case.state == "converted" and not case.reason):
        assert quarantined == []
    if case.check:
        case.check(lake, case)


def test_the_event_key_is_url_decoded_exactly_once(lake, app, context):
    """'+' in an S3 event key means a space; a literal '+' arrives as %2B."""
    key = "weblogs/useractivity/a+b c/ü%.csv"
    obj = lake.put(key, activity(2))
    raw = quote_plus(key, safe="/")
    assert "%2B" in raw and "+" in raw
    assert app.handler(sqs_batch(event_for(obj, raw_key=raw)), context) == {"batchItemFailures": []}
    assert lake.ledger(key).state == "converted"
    MATRIX.append(("key with a literal '+' (%2B), a space ('+'), '%' and 'ü'", "converted", "", key))


def test_the_same_object_delivered_three_times_converts_once(lake, app, context):
    obj = lake.put("stedi/customer/thrice.json", CUSTOMERS)
    event = event_for(obj)
    assert app.handler(sqs_batch(event, event), context) == {"batchItemFailures": []}  # two in one batch
    assert app.handler(sqs_batch(event, receive_count=2), context) == {"batchItemFailures": []}  # and a late one
    entry = lake.ledger(obj.key)
    assert (entry.state, entry.rows_written) == ("converted", 10)
    assert len(lake.raw_keys("customer_landing")) == 1
    rows = lake.raw_rows("customer_landing")
    assert len(rows) == 10 and len({r["serialNumber"] for r in rows}) == 10
    assert lake.alerts() == []
    MATRIX.append(("the same object delivered three times", entry.state, entry.reason_code, "10 rows, 1 Parquet file"))


def test_two_objects_with_identical_content_are_two_objects(lake, app, context):
    a = lake.put("stedi/customer/copy-a.json", CUSTOMERS)
    b = lake.put("stedi/customer/copy-b.json", CUSTOMERS)
    assert a.etag == b.etag  # same bytes, same MD5 ETag: the idempotency key must include the object key
    assert app.handler(sqs_batch(event_for(a), event_for(b)), context) == {"batchItemFailures": []}
    for obj in (a, b):
        entry = lake.ledger(obj.key)
        assert (entry.state, entry.rows_written) == ("converted", 10)
    rows = lake.raw_rows("customer_landing")
    assert len(rows) == 20 and {r["_source_key"] for r in rows} == {a.key, b.key}
    assert len(lake.raw_keys("customer_landing")) == 2
    MATRIX.append(("two different objects with identical content", "converted", "", "both converted, 20 rows, 2 files"))
