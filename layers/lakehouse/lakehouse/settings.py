"""Configuration of the functions, read once from the environment the template declares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class SettingsError(RuntimeError):
    """A required environment variable is missing; the message names it."""


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SettingsError(f"environment variable {name} is not set (template.yaml declares it)")
    return value


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    quarantine_bucket: str
    raw_database: str
    ledger_table: str
    idempotency_table: str
    alert_topic_arn: str
    pipelines_dir: Path
    max_receive_count: int = 5
    work_dir: Path = Path("/tmp")
    unknown_prefix_alert_seconds: int = 3600  # one alert per unknown landing folder per this period

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            raw_bucket=_required("RAW_BUCKET"),
            quarantine_bucket=_required("QUARANTINE_BUCKET"),
            raw_database=_required("RAW_DATABASE"),
            ledger_table=_required("LEDGER_TABLE"),
            idempotency_table=_required("IDEMPOTENCY_TABLE"),
            alert_topic_arn=_required("ALERT_TOPIC_ARN"),
            pipelines_dir=Path(os.environ.get("LAKEHOUSE_PIPELINES_DIR", "/opt")),
            max_receive_count=int(os.environ.get("MAX_RECEIVE_COUNT", "5")),
            work_dir=Path(os.environ.get("LAKEHOUSE_WORK_DIR", "/tmp")),
            unknown_prefix_alert_seconds=60 * int(os.environ.get("UNKNOWN_PREFIX_ALERT_MINUTES", "60")),
        )
