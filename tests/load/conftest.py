"""The fault and load suites: a short run in `make test`, a long one in `make soak`
(`pytest tests/load --soak`): more requests, more concurrency, longer outages."""

from __future__ import annotations

import pytest


@pytest.fixture
def scale(request) -> int:
    return 10 if request.config.getoption("--soak") else 1
