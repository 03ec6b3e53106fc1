"""The pipeline state machines on the local stack (the one harness `lakehouse demo` uses), with a stand-in for the
Glue job's script: the ASL, its substitutions and its alerts are the real ones; each job run only records its
arguments and fails when a test says so. The Glue job itself is tested on local Spark in tests/glue."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from lakehouse_local.lake import LocalLake, execution_history

pytestmark = [pytest.mark.slow]


@dataclass
class StandInJob:
    """Records every job run's arguments; the runs of steps named in ``failures`` raise their message."""

    runs: list[dict[str, str]] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # step -> error message

    def __call__(self, job: str, argv: list[str]) -> None:
        arguments = dict(zip(argv[::2], argv[1::2]))
        self.runs.append(arguments)
        message = self.failures.get(arguments.get("--step", ""))
        if message is not None:
            raise RuntimeError(message)

    def steps(self) -> list[str]:
        return [run["--step"] for run in self.runs]


@dataclass
class Harness:
    lake: LocalLake
    job: StandInJob

    def run(self, pipeline: str, execution_input: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.lake.follow(self.lake.start_execution(pipeline, execution_input), timeout=60)

    def history(self, execution: dict[str, Any]) -> list[dict[str, Any]]:
        return execution_history(self.lake.aws.client("stepfunctions"), execution["executionArn"])


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[LocalLake, StandInJob]]:
    job = StandInJob()
    lake = LocalLake.start(executor=job)
    yield lake, job
    lake.stop()


@pytest.fixture
def harness(stack: tuple[LocalLake, StandInJob]) -> Iterator[Harness]:
    lake, job = stack
    job.runs.clear()
    job.failures.clear()
    lake.alerts()  # drained: each test sees its own
    yield Harness(lake, job)


def entered_states(history: list[dict[str, Any]]) -> list[str]:
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")]
