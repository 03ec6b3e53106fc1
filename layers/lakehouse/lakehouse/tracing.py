"""The functions' Powertools Tracer, which loads the AWS X-Ray SDK only when tracing is on.

Powertools' Tracer imports and patches the X-Ray SDK when it is constructed, even when tracing is disabled. That
import pulls in botocore's session, wrapt and the SDK's recorders: about 0.3 s of every cold start. Tracing is
opt-in in this stack (template parameter ``FunctionTracing``). When it is off (POWERTOOLS_TRACE_DISABLED=true,
and in tests and `sam local invoke`), the Tracer gets a do-nothing provider through Powertools' documented
``provider`` argument. The handlers keep the usual ``@tracer.capture_*`` decorators either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Tracer
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


def tracing_disabled() -> bool:
    return resolve_truthy_env_var_choice(env=os.getenv("POWERTOOLS_TRACE_DISABLED", "false"))


def make_tracer() -> Tracer:
    """X-Ray tracing (auto-patching botocore) when enabled; otherwise the same API with nothing loaded."""
    if tracing_disabled():
        return Tracer(disabled=True, auto_patch=False, provider=_NoTracing())
    return Tracer()


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        pass

    def add_subsegment(self, subsegment: Any) -> None:
        pass

    def remove_subsegment(self, subsegment: Any) -> None:
        pass

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        pass


class _NoTracing(BaseProvider):
    """A provider that records nothing (Powertools' own disabled mode still needs the X-Ray SDK)."""

    @contextmanager
    def in_subsegment(self, name=None, **kwargs) -> Iterator[BaseSegment]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name=None, **kwargs):
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        pass

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        pass

    def patch(self, modules: Any = None) -> None:
        pass

    def patch_all(self) -> None:
        pass
