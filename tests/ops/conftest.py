"""Operator-command tests use the root conftest's private lake (`lake_env`) and `lakehouse up` subprocess (`up`)."""

from __future__ import annotations

from tests.conftest import REPO, Up

__all__ = ["REPO", "Up"]
