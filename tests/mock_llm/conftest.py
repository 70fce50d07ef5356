"""Fixtures of the fake server's tests: the SDK on the session's fake, and one fake per
upstream profile."""

from __future__ import annotations

import pytest

from mock_llm import PROFILES, MockConfig, MockLLMServer
from tests.mock_llm.support import sdk_for


@pytest.fixture
def sdk(mock):
    return sdk_for(mock)


@pytest.fixture(scope="module", params=sorted(PROFILES))
def upstream(request):
    """A fake answering as each upstream in turn (openai, vllm, ollama, llamacpp)."""
    with MockLLMServer(MockConfig(profile=request.param, latency="zero")) as server:
        yield server


@pytest.fixture
def fresh_upstream(upstream):
    upstream.state.reset()
    return upstream
