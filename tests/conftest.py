"""Shared fixtures: the fake LLM and the reference service, each on a real loopback port."""

from __future__ import annotations

import logging
import os

import httpx
import pytest

from mock_llm import PROFILES, MockConfig, MockLLMServer, ThreadedServer
from reference_service import create_app
from reference_service.clock import FakeClock
from tests.support import (  # noqa: F401
    LogCapture,
    ServiceProcess,
    SSEEvent,
    make_settings,
    parse_sse,
    services_of,
)


@pytest.fixture(scope="session")
def mock_server():
    with MockLLMServer(MockConfig(latency="zero")) as server:
        yield server


@pytest.fixture
def mock(mock_server):
    """The session's fake LLM with a clean schedule and log."""
    mock_server.state.reset()
    mock_server.config.latency = "zero"
    yield mock_server
    mock_server.state.reset()
    mock_server.config.latency = "zero"


@pytest.fixture(scope="session")
def service_server(mock_server):
    """The service on the fake LLM, with a FakeClock: retry backoff never really sleeps."""
    clock = FakeClock()
    app = create_app(make_settings(openai_base_url=mock_server.base_url), clock=clock)
    with ThreadedServer(app) as server:
        server.app, server.clock = app, clock
        yield server


@pytest.fixture
def service(service_server, mock):
    """The session's service with fresh breakers, an empty cache and no recorded sleeps."""
    services = services_of(service_server.app)
    service_server.run_in_loop(services.breakers.reset())
    service_server.run_in_loop(services.cache.clear())
    services.pipeline.guard.forget()  # nothing remembered from another test's texts
    service_server.clock.sleeps.clear()
    return service_server


@pytest.fixture(scope="module", params=sorted(PROFILES))
def upstream(request):
    """A fake answering as each upstream in turn (openai, vllm, ollama, llamacpp)."""
    with MockLLMServer(MockConfig(profile=request.param, latency="zero")) as server:
        yield server


@pytest.fixture(scope="session")
def guarded_server(mock_server):
    """Guards on every chat endpoint (SAFETY_GUARDS=true; by default only /chat/safe)."""
    clock = FakeClock()
    settings = make_settings(
        openai_base_url=mock_server.base_url, safety_guards=True, admin_token="admin-secret"
    )
    app = create_app(settings, clock=clock)
    with ThreadedServer(app) as server:
        server.app, server.clock = app, clock
        yield server


@pytest.fixture
def guarded(guarded_server, mock):
    """A client of the guarded service, with fresh breakers and an empty cache."""
    services = services_of(guarded_server.app)
    guarded_server.run_in_loop(services.breakers.reset())
    guarded_server.run_in_loop(services.cache.clear())
    services.pipeline.guard.forget()
    with httpx.Client(base_url=guarded_server.url, timeout=20) as c:
        yield c


@pytest.fixture
def client(service):
    with httpx.Client(base_url=service.url, timeout=10) as c:
        yield c


@pytest.fixture(scope="session")
def redis_url():
    """A real Redis >= 8 on a free loopback port, started for the test session."""
    from tests.redis_server import RedisServer

    with RedisServer() as server:
        yield server.url


@pytest.fixture(params=["fakeredis", "redis8"])
def async_redis_factory(request):
    """Makes async Redis clients for the test's own loop: the embedded fakeredis, or the
    session's real Redis 8 (flushed first). Tests using it run once on each."""
    if request.param == "fakeredis":
        import fakeredis

        return lambda: fakeredis.FakeAsyncRedis()
    import redis
    import redis.asyncio as aredis

    url = request.getfixturevalue("redis_url")
    redis.Redis.from_url(url).flushdb()
    return lambda: aredis.from_url(url)


@pytest.fixture
def captured():
    """The JSON lines of every log record while the test runs: the service's own loggers
    (which do not propagate) and everything else through the root logger."""
    handler = LogCapture()
    loggers = [logging.getLogger("reference_service"), logging.getLogger()]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler.lines
    for logger in loggers:
        logger.removeHandler(handler)


@pytest.fixture
def scale(request) -> int:
    """How much to try: 1 in `make test`, 10 in `make soak` (tests/load, tests/security)."""
    return 10 if request.config.getoption("--soak") else 1


def pytest_addoption(parser):
    parser.addoption(
        "--soak",
        action="store_true",
        help="tests/load and tests/security: the long runs, with more variants (make soak)",
    )
    parser.addoption(
        "--impl",
        choices=["solutions", "exercises"],
        default=os.environ.get("EXERCISE_IMPL", "solutions"),
        help="which implementation tests/exercises grades (env: EXERCISE_IMPL)",
    )
