"""`python -m mock_llm --port P` runs the fake server as its own process."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from mock_llm import free_port


def test_cli_serves_the_api():
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mock_llm", "--port", str(port),
                             "--latency", "zero", "--log-level", "warning"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/models")
                break
            except httpx.ConnectError:
                assert proc.poll() is None, proc.stdout.read().decode()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert {m["id"] for m in r.json()["data"]} >= {"gpt-4o", "gpt-4o-mini"}
    finally:
        proc.terminate()
        proc.wait(10)
