"""Fixtures of the fake server's tests: the SDK on the session's fake, and one fake per
upstream profile."""

from __future__ import annotations

import pytest

from tests.mock_llm.support import sdk_for


@pytest.fixture
def sdk(mock):
    return sdk_for(mock)


@pytest.fixture
def fresh_upstream(upstream):
    upstream.state.reset()
    return upstream
