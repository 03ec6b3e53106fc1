"""Issue 13, finding 4: the local event-source mapping delivers as Lambda's does. A message stays invisible for the
queue's visibility timeout (the template's, sized for the function's 15 minutes) while its conversion runs, so a slow
conversion is not delivered a second time and a good run shows no failure; a failed one comes back (after 2 s
locally) and is retried."""

from __future__ import annotations

import threading
import time
from typing import Any

from lakehouse.ledger import now
from lakehouse_local.lake import LocalLake

from tests.conftest import PIPELINES


def _deliveries(lake: LocalLake, delay: float, fail_first: bool = False) -> tuple[list[str], Any]:
    """Wrap the poller's invocation: count each message's deliveries, sleep ``delay`` inside the function's run."""
    assert lake.poller is not None
    original = lake.poller.invoke
    seen: list[str] = []
    lock = threading.Lock()

    def slow(event: dict[str, Any]) -> dict[str, Any] | None:
        with lock:
            first = not seen
            seen.extend(record["messageId"] for record in event["Records"])
        time.sleep(delay)
        if fail_first and first:
            raise RuntimeError("a transient failure of the first delivery")
        return original(event)

    lake.poller.invoke = slow
    return seen, original


def test_a_conversion_longer_than_the_retry_delay_is_delivered_once() -> None:
    lake = LocalLake.start()
    try:
        seen, original = _deliveries(lake, delay=6)  # three times the local retry delay of a failed message
        body = (PIPELINES / "stedi" / "samples" / "stedi" / "customer" / "customers-1.json").read_bytes()
        since = now()
        lake.aws.client("s3").put_object(Bucket=lake.landing_bucket, Key="stedi/customer/slow.json", Body=body)
        entries = lake.wait_for_objects(["stedi/customer/slow.json"], since, timeout=120)
        assert entries["stedi/customer/slow.json"].state == "converted"
        assert len(seen) == 1, f"delivered {len(seen)} times"
        # the same key again: the wait reports this upload's outcome, not the one the ledger already holds
        since = now()
        again = lake.aws.client("s3").put_object(Bucket=lake.landing_bucket, Key="stedi/customer/slow.json",
                                                 Body=body)
        entry = lake.wait_for_objects(["stedi/customer/slow.json"], since, timeout=120)["stedi/customer/slow.json"]
        assert entry.version_id == again["VersionId"] and entry.updated_at >= since and len(seen) == 2

        assert lake.poller is not None
        lake.poller.invoke = original
        seen, _ = _deliveries(lake, delay=0, fail_first=True)
        since = now()
        lake.aws.client("s3").put_object(Bucket=lake.landing_bucket, Key="stedi/customer/retried.json", Body=body)
        entries = lake.wait_for_objects(["stedi/customer/retried.json"], since, timeout=120)
        assert entries["stedi/customer/retried.json"].state == "converted"
        assert len(seen) == 2 and seen[0] == seen[1], seen  # the same message, delivered again after the failure
    finally:
        lake.stop()
