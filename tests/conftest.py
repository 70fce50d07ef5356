"""Shared fixtures: the fake LLM and the reference service, each on a real loopback port."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import httpx
import pytest

from mock_llm import MockConfig, MockLLMServer, ThreadedServer
from reference_service import Settings, create_app
from reference_service.clock import FakeClock


def make_settings(**overrides) -> Settings:
    """Settings for tests: never read a developer's .env or environment by surprise."""
    # Limits far above what the suite sends: rate limiting has its own tests.
    # The safety guards (on in the reference deployment) have their own tests
    # (tests/service/test_safety*.py); elsewhere they would only add moderation calls.
    base = dict(openai_api_key="test-key", log_format="json", mock_latency="zero",
                rate_limit_rpm=1_000_000, rate_limit_tpm=1_000_000_000, safety_guards=False)
    base.update(overrides)
    return Settings(_env_file=None, **base)


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
    service_server.run_in_loop(service_server.app.state.breakers.reset())
    service_server.run_in_loop(service_server.app.state.cache.clear())
    service_server.clock.sleeps.clear()
    return service_server


@pytest.fixture
def client(service):
    with httpx.Client(base_url=service.url, timeout=10) as c:
        yield c


@dataclass
class SSEEvent:
    event: str
    data: str
    fields: dict = field(default_factory=dict)

    def json(self):
        return json.loads(self.data)


def parse_sse(lines) -> list[SSEEvent]:
    """Parse SSE lines (an iterator of decoded lines) into events, per the spec."""
    events, event, data = [], "message", []
    for line in lines:
        if line == "":
            if data:
                events.append(SSEEvent(event, "\n".join(data)))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
    if data:
        events.append(SSEEvent(event, "\n".join(data)))
    return events


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


class ServiceProcess:
    """`python -m reference_service` as a real process (SIGTERM, --workers) on a free port."""

    def __init__(self, env: dict[str, str], workers: int = 1) -> None:
        import os
        import subprocess
        import sys
        import time

        from mock_llm import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reference_service", "--port", str(self.port),
             "--workers", str(workers)], env={**os.environ, "SAFETY_GUARDS": "false",
                                                 "SAFETY_PII": "false", **env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        ready = 0
        while ready < (20 if workers > 1 else 1):  # with workers: all of them answer
            try:
                ready = ready + 1 if httpx.get(self.url + "/readyz").status_code == 200 else 0
            except httpx.TransportError:
                ready = 0
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("service did not start:\n" + self.stop())
            time.sleep(0.05)

    def stop(self) -> str:
        """Kill it if still running; its output."""
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.communicate(timeout=30)[0]

    def terminate(self) -> str:
        """SIGTERM, wait for the exit; its output."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=30)[0]


class LogCapture(logging.Handler):
    """Every record, formatted as the service's JSON log line."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        from reference_service.observability import JsonFormatter
        self.lines.append(JsonFormatter().format(record))


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


def pytest_addoption(parser):
    parser.addoption("--soak", action="store_true",
                     help="tests/load: the long fault and load runs (make soak)")
    parser.addoption("--impl", choices=["solutions", "exercises"],
                     default=os.environ.get("EXERCISE_IMPL", "solutions"),
                     help="which implementation tests/exercises grades (env: EXERCISE_IMPL)")
