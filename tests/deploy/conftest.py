"""Fixtures of tests/deploy (helpers: deploytools.py)."""

from __future__ import annotations

import pytest
from deploytools import tool


@pytest.fixture(scope="session")
def helm() -> str:
    return tool("helm")
