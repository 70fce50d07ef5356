"""Helpers the tests share (imported, not fixtures): settings for tests, an SSE parser,
the service as a real process, a log capture, and the running service's collaborators."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from reference_service import Settings
from reference_service.app import services_of  # noqa: F401  (re-exported)


def make_settings(**overrides) -> Settings:
    """Settings for tests: never read a developer's .env or environment by surprise."""
    # Limits far above what the suite sends: rate limiting has its own tests.
    # The safety guards (off by default, on in some deployments) have their own tests
    # (tests/service/test_safety*.py); elsewhere they would only add moderation calls.
    base = dict(
        openai_api_key="test-key",
        log_format="json",
        mock_latency="zero",
        rate_limit_rpm=1_000_000,
        rate_limit_tpm=1_000_000_000,
        safety_guards=False,
    )
    base.update(overrides)
    return Settings(_env_file=None, **base)


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


class ServiceProcess:
    """`python -m reference_service` as a real process (SIGTERM, --workers) on a free port."""

    def __init__(self, env: dict[str, str], workers: int = 1, output=None) -> None:
        """`output`: a file for the process's stdout and stderr (default: a pipe, which a
        chatty process can fill: pass a file when it logs every request)."""
        import os
        import subprocess
        import sys
        import time

        from mock_llm import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reference_service",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env={**os.environ, "SAFETY_GUARDS": "false", "SAFETY_PII": "false", **env},
            stdout=output or subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120  # a loaded 2-core CI machine
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
        """Kill it and its workers if still running; its output (empty when it went to a
        file). (Killing only the supervisor of `--workers N` would leave the workers
        running, orphaned.)"""
        if self.proc.poll() is None:
            import psutil

            workers = psutil.Process(self.proc.pid).children(recursive=True)
            self.proc.kill()
            for worker in workers:
                try:
                    worker.kill()
                except psutil.NoSuchProcess:
                    pass
        return self.proc.communicate(timeout=30)[0] or ""

    def terminate(self) -> str:
        """SIGTERM, wait for the exit; its output (empty when it went to a file)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        return self.proc.communicate(timeout=30)[0] or ""


class LogCapture(logging.Handler):
    """Every record, formatted as the service's JSON log line."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        from reference_service.observability import JsonFormatter

        self.lines.append(JsonFormatter().format(record))


def upstream_text(mock) -> str:
    """Everything the fake upstream was sent (chat and moderation), as one string."""
    return "\n".join(json.dumps(r.body, ensure_ascii=False) for r in mock.state.requests)


def chat_requests(mock) -> list[Any]:
    """The chat completion requests the fake upstream received."""
    return [r for r in mock.state.requests if r.path.endswith("/chat/completions")]


def moderation_requests(mock) -> list[Any]:
    """The moderation requests the fake upstream received."""
    return [r for r in mock.state.requests if r.path.endswith("/moderations")]


class Replies:
    """Stands in for the SDK client: `post` answers with the given reply."""

    def __init__(self, reply: object) -> None:
        self.reply = reply

    async def post(self, *args, **kwargs) -> object:
        return self.reply
