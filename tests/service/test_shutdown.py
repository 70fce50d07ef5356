"""Graceful shutdown with a real SIGTERM to a real server process while streams are open."""

from __future__ import annotations

import signal
import threading
import time

import httpx
import pytest

from mock_llm import MockConfig, MockLLMServer, ModelProfile
from tests.support import ServiceProcess, parse_sse

pytestmark = pytest.mark.slow


def slow_mock(tokens_per_s: float) -> MockLLMServer:
    profile = ModelProfile(ttft_ms=50, tokens_per_s=tokens_per_s, detailed=False)
    return MockLLMServer(MockConfig(models={"gpt-4o-mini": profile, "gpt-4o": profile}))


def Service(mock: MockLLMServer, drain_timeout_s: float) -> ServiceProcess:
    return ServiceProcess(
        {
            "OPENAI_BASE_URL": mock.base_url,
            "OPENAI_API_KEY": "test",
            "DRAIN_TIMEOUT_S": str(drain_timeout_s),
            "LOG_FORMAT": "json",
            "REDIS_URL": "",
            "CACHE_ENABLED": "false",
        }
    )  # drain is the subject


class StreamReader(threading.Thread):
    """Reads one SSE stream in the background; `first_token` is set when a token arrives."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(daemon=True)
        self.url, self.message = url, message
        self.first_token = threading.Event()
        self.events = []
        self.status = None
        self.error = None

    def run(self) -> None:
        try:
            body = {"message": self.message, "stream_options": {"include_usage": True}}
            with httpx.stream("POST", self.url + "/chat/stream", json=body, timeout=60) as r:
                self.status = r.status_code
                if r.status_code != 200:  # the error body, for the assertion message
                    self.error = r.read().decode(errors="replace")[:300]
                    return

                def lines():
                    for line in r.iter_lines():
                        if line.startswith("event: token"):
                            self.first_token.set()
                        yield line

                self.events = parse_sse(lines())
        except Exception as exc:  # recorded for the assertion message
            self.error = exc


def open_streams(url: str, n: int) -> list[StreamReader]:
    readers = [StreamReader(url, q) for q in ["What is HBM3?", "What is CXL?", "What is DDR5?"][:n]]
    for r in readers:
        r.start()
    for r in readers:
        assert r.first_token.wait(20), "no token before SIGTERM"
    return readers


def test_sigterm_drains_inflight_streams_and_refuses_new_work():
    with slow_mock(tokens_per_s=25) as mock:  # ~70 tokens: ~3 s per stream
        svc = Service(mock, drain_timeout_s=20)
        try:
            readers = open_streams(svc.url, 3)
            slow_chat = {}
            t = threading.Thread(
                target=lambda: slow_chat.update(
                    r=httpx.post(svc.url + "/chat", json={"message": "What is NVMe?"}, timeout=60)
                )
            )
            t.start()
            time.sleep(0.2)
            svc.proc.send_signal(signal.SIGTERM)

            # readiness flips at once, new work gets 503 + Retry-After, probes still answer
            deadline = time.monotonic() + 2
            while httpx.get(svc.url + "/readyz").status_code != 503:
                assert time.monotonic() < deadline, "readiness did not turn 503"
                time.sleep(0.02)
            r = httpx.get(svc.url + "/readyz")
            assert r.json() == {"ready": False, "status": "draining"}
            assert r.headers["retry-after"] == "5"
            assert httpx.get(svc.url + "/health").json()["status"] == "draining"
            r = httpx.post(svc.url + "/chat", json={"message": "new work"})
            assert r.status_code == 503 and r.headers["retry-after"] == "5"
            assert r.json()["error"]["type"] == "shutting_down"
            assert httpx.get(svc.url + "/livez").status_code == 200
            assert svc.proc.poll() is None  # still draining

            for reader in readers:
                reader.join(30)
                assert reader.error is None, reader.error
                kinds = [e.event for e in reader.events]
                assert kinds[-2:] == ["usage", "done"], kinds[-5:]
                assert kinds.count("token") == reader.events[-2].json()["completion_tokens"]
            t.join(30)
            assert slow_chat["r"].status_code == 200

            svc.proc.wait(timeout=20)  # exits by itself once drained
        finally:
            out = svc.stop()
    assert svc.proc.returncode in (0, -signal.SIGTERM), out
    assert '"msg": "drain finished"' in out and '"msg": "service stopped"' in out, out


def test_streams_past_the_drain_time_get_a_final_error_event():
    with slow_mock(tokens_per_s=8) as mock:  # ~70 tokens: ~9 s per stream
        svc = Service(mock, drain_timeout_s=1)
        try:
            readers = open_streams(svc.url, 2)
            sent = time.monotonic()
            svc.proc.send_signal(signal.SIGTERM)
            for reader in readers:
                reader.join(30)
                assert reader.error is None, reader.error
                assert reader.status == 200
                kinds = [e.event for e in reader.events]
                assert kinds[-1] == "error" and "done" not in kinds, kinds
                assert reader.events[-1].json()["type"] == "shutting_down"
                assert kinds.count("token") >= 1
            svc.proc.wait(timeout=15)
            assert time.monotonic() - sent < 10  # not the ~9 s the streams wanted
        finally:
            out = svc.stop()
    assert '"msg": "drain time is up"' in out, out
