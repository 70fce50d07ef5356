"""Fixtures for your integration tests (test_app.py): the fake LLM and the app under test.

`create_app` is the app factory your tests exercise. Run as they are
(`python -m pytest exercises/hardening`), your tests get your own app. The grader runs the
same tests against the reference app and against broken apps, one at a time, by setting
HARDENING_APPS ("name=module:function,..."): that is why a test must build its app with
this fixture and talk to it only over HTTP (and through the clock it passes in).
"""

from __future__ import annotations

import importlib
import os

import pytest

from mock_llm import MockConfig, MockLLMServer


def _targets() -> list[tuple[str, str]]:
    spec = os.environ.get("HARDENING_APPS", "yours=solutions.hardening.app:create_app")
    return [tuple(item.split("=", 1)) for item in spec.split(",") if item]


@pytest.fixture(params=[path for _, path in _targets()], ids=[name for name, _ in _targets()])
def create_app(request):
    """The app factory under test: create_app(llm_base_url, *, clock=None, timeout_s=10.0,
    failure_threshold=5, cooldown_s=30.0) -> an ASGI app."""
    module, _, function = request.param.partition(":")
    return getattr(importlib.import_module(module), function)


@pytest.fixture(scope="session")
def _llm_server():
    with MockLLMServer(MockConfig(latency="zero")) as server:
        yield server


@pytest.fixture
def llm(_llm_server):
    """The fake OpenAI server (mock_llm), with no faults and an empty request log.

    llm.base_url: give it to create_app; llm.state.fail_next(n, "500") makes the next n chat
    calls fail; llm.state.fail_next(1, "hang", hang_s=2) holds the next one for 2 s;
    llm.state.chat_requests(): the chat calls it received."""
    _llm_server.state.reset()
    yield _llm_server
    _llm_server.state.reset()
