"""Rows of the lake's tables from metadata only, the same way locally and on AWS (no query engine, no table scan).

- A raw table (Hive-style Parquet): the sum of its files' row counts, read from each file's footer (two ranged GETs
  per file).
- An Iceberg table: the record counts of the data files of its current snapshot, from the manifests (pyiceberg's
  scan planning), less the rows of position-delete files. Not the snapshot summary's ``total-records``: a snapshot
  published from a write-audit-publish branch can carry totals of that branch's lineage (0 rows after the second
  overwrite of a table, while the table holds its rows).
"""

from __future__ import annotations

import io
from typing import Any

PARQUET_TAIL = 8  # footer length (4 bytes, little-endian) + "PAR1"


def raw_rows(s3: Any, bucket: str, table: str) -> int:
    import pyarrow.parquet as pq

    rows = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{table}/"):
        for obj in page.get("Contents", []):
            if not obj["Key"].endswith(".parquet") or obj["Size"] < 2 * PARQUET_TAIL:
                continue
            tail = s3.get_object(Bucket=bucket, Key=obj["Key"], Range=f"bytes=-{PARQUET_TAIL}")["Body"].read()
            length = int.from_bytes(tail[:4], "little") + PARQUET_TAIL
            footer = s3.get_object(Bucket=bucket, Key=obj["Key"], Range=f"bytes=-{length}")["Body"].read()
            rows += pq.ParquetFile(io.BytesIO(footer)).metadata.num_rows
    return rows


def iceberg_rows(glue: Any, database: str, table: str, io_properties: dict[str, str]) -> int | None:
    """Rows of the table's current snapshot; None when the table does not exist, 0 when it has no snapshot."""
    from pyiceberg.catalog.glue import GlueCatalog
    from pyiceberg.exceptions import NoSuchTableError

    catalog = GlueCatalog("glue", client=glue, **{"py-io-impl": "pyiceberg.io.pyarrow.PyArrowFileIO",
                                                  **io_properties})
    try:
        loaded = catalog.load_table(f"{database}.{table}")
    except NoSuchTableError:
        return None
    if loaded.current_snapshot() is None:
        return 0
    rows = 0
    deletes: dict[str, int] = {}  # one position-delete file may apply to several data files: count it once
    for task in loaded.scan().plan_files():
        rows += task.file.record_count
        deletes.update({d.file_path: d.record_count for d in task.delete_files if d.content.name == "POSITION_DELETES"})
    return rows - sum(deletes.values())


def local_io(endpoint: str, region: str) -> dict[str, str]:
    """pyiceberg's file IO settings for the local S3."""
    return {"s3.endpoint": endpoint, "s3.region": region, "s3.access-key-id": "testing",
            "s3.secret-access-key": "testing"}


def session_io(session: Any) -> dict[str, str]:
    """pyiceberg's file IO settings from a boto3 session (a deployed stack)."""
    credentials = session.get_credentials().get_frozen_credentials()
    settings = {"s3.region": session.region_name, "s3.access-key-id": credentials.access_key,
                "s3.secret-access-key": credentials.secret_key}
    if credentials.token:
        settings["s3.session-token"] = credentials.token
    return settings
