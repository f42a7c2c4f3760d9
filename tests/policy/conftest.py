"""Fixtures shared by the policy tests."""

from __future__ import annotations

import pytest
from _conftest_oracle import require_tool


@pytest.fixture(scope="module")
def conftest_bin() -> str:
    """The real conftest (EDGEGATE_TEST_CONFTEST or PATH); skipped, or failed under CI, when absent."""
    return require_tool("EDGEGATE_TEST_CONFTEST", "conftest")
