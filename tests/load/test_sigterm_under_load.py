"""SIGTERM with 100 open streams: readiness flips, every accepted stream completes or ends
with a final error event, and the process exits within the drain timeout."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.service.test_shutdown import StreamReader, slow_mock
from tests.support import ServiceProcess

pytestmark = [pytest.mark.load, pytest.mark.slow, pytest.mark.timeout(1200)]


def test_sigterm_with_100_open_streams(scale):
    n, drain_s = 100, 4.0 * scale
    with slow_mock(tokens_per_s=25) as mock:  # ~70 tokens: ~3 s per stream
        svc = ServiceProcess(
            {
                "OPENAI_BASE_URL": mock.base_url,
                "OPENAI_API_KEY": "test",
                "DRAIN_TIMEOUT_S": str(drain_s),
                "CACHE_ENABLED": "false",
                "RATE_LIMIT_ENABLED": "false",
                "LOG_LEVEL": "info",
                # The drain is the subject. One clean run saw a stream answered 503 before
                # any token (cause not reproduced: the error body is now in the message). The
                # fake upstream is a thread of this process beside 100 reader threads; late
                # connects opening the breaker (503 circuit_open) is the one 503 a slow
                # upstream can cause here, and upstream faults have tests of their own.
                "UPSTREAM_CONNECT_TIMEOUT_S": "30",
                "BREAKER_FAILURE_THRESHOLD": "1000",
            }
        )
        try:
            readers = [StreamReader(svc.url, f"What is HBM{i}?") for i in range(n)]
            for r in readers:
                r.start()
            for r in readers:
                assert r.first_token.wait(30), (
                    "no token before SIGTERM",
                    r.status,
                    r.error,
                    [(e.event, e.data[:80]) for e in r.events][-3:],
                )
            sent = time.monotonic()
            svc.proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 2
            while httpx.get(svc.url + "/readyz").status_code != 503:
                assert time.monotonic() < deadline, "readiness did not flip"
                time.sleep(0.02)
            for r in readers:
                r.join(60)
            svc.proc.wait(timeout=drain_s + 10)
            exited = time.monotonic() - sent
        finally:
            out = svc.stop()
    assert exited < drain_s + 6, exited  # the drain, then uvicorn's own shutdown
    endings = {}
    for r in readers:
        assert r.error is None and r.status == 200, (r.error, r.status)
        last = r.events[-1]
        assert last.event in ("done", "error"), [e.event for e in r.events][-3:]
        if last.event == "error":
            assert last.json()["type"] == "shutting_down"
        endings[last.event] = endings.get(last.event, 0) + 1
    assert endings.get("done", 0) > 0, endings
    assert '"msg": "service stopped"' in out
