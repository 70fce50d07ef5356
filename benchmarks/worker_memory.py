"""Resident memory of the service with the defaults (cache, guards, routing, limits on),
after 50 chat requests, with 1 and 2 workers (the supervisor and its helper are small).

    .venv/bin/python benchmarks/worker_memory.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).parents[1]))

from mock_llm import MockConfig, MockLLMServer
from tests.support import ServiceProcess


def main() -> None:
    with MockLLMServer(MockConfig(latency="zero")) as mock:
        for workers in (1, 2):
            svc = ServiceProcess(
                {
                    "OPENAI_BASE_URL": mock.base_url,
                    "OPENAI_API_KEY": "x",
                    "LOG_LEVEL": "warning",
                    "SAFETY_GUARDS": "true",
                    "SAFETY_PII": "true",
                },
                workers=workers,
            )
            try:
                for i in range(50):
                    httpx.post(
                        svc.url + "/chat",
                        timeout=30,
                        json={"message": f"I am Maria Garcia, what is HBM{i}?"},
                    )
                root = psutil.Process(svc.proc.pid)
                rss = [
                    round(p.memory_info().rss / 2**20)
                    for p in [root, *root.children(recursive=True)]
                ]
                print(f"--workers {workers}: RSS per process (MiB): {rss}")
            finally:
                svc.terminate()


if __name__ == "__main__":
    main()
