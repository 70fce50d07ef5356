"""`python -m mock_llm --port P [--profile NAME]` runs the fake server as its own process."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from mock_llm import free_port


@pytest.mark.parametrize(
    "profile,expected",
    [
        (None, {"gpt-4o", "gpt-4o-mini"}),
        ("vllm", {"meta-llama/Llama-3.2-3B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"}),
    ],
)
def test_cli_serves_the_api(profile, expected):
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "mock_llm",
        "--port",
        str(port),
        "--latency",
        "zero",
        "--log-level",
        "warning",
    ] + (["--profile", profile] if profile else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
        assert {m["id"] for m in r.json()["data"]} >= expected
    finally:
        proc.terminate()
        proc.wait(10)
