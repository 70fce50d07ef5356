"""What the safety guards cost: analyzer start-up, PII analysis per text, and the end-to-end
latency a guarded request adds, through the service on the zero-latency fake LLM.

    .venv/bin/python benchmarks/safety_costs.py [--requests 200]

1. Start-up, in a fresh interpreter: import Presidio + spaCy, build the analyzer, first call.
2. PiiRedactor.find() on every text of data/pii_cases.jsonl (p50/p95 ms, chars/text).
3. POST /chat with guards off, then /chat/safe with only PII, only moderation, and both
   (cache bypassed with Cache-Control: no-store, so every request reaches the fake LLM).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.stats import percentile
from mock_llm import MockConfig, MockLLMServer, ThreadedServer
from reference_service import Settings, create_app

STARTUP = """
import time, resource
t0 = time.perf_counter()
from reference_service.safety.recognizers import build_analyzer
t1 = time.perf_counter()
a = build_analyzer()
t2 = time.perf_counter()
a.analyze("Ada Smith, ada@example.com", language="en")
t3 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{t1-t0:.2f} {t2-t1:.2f} {t3-t2:.3f} {rss:.0f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    runs = [
        subprocess.run(
            [sys.executable, "-c", STARTUP], capture_output=True, text=True, check=True
        ).stdout.split()
        for _ in range(3)
    ]
    imp, build, first, rss = (percentile((float(r[i]) for r in runs), 50) for i in range(4))
    print(
        f"start-up (median of 3 fresh processes): import {imp:.2f} s, build {build:.2f} s, "
        f"first analysis {first * 1000:.0f} ms; peak RSS {rss:.0f} MiB"
    )

    from reference_service.safety.pii import PiiRedactor
    from reference_service.safety.recognizers import shared_analyzer

    redactor = PiiRedactor(shared_analyzer())
    texts = [json.loads(x)["text"] for x in Path("data/pii_cases.jsonl").read_text().splitlines()]
    times = []
    for _ in range(3):
        for t in texts:
            s = time.perf_counter()
            redactor.find(t)
            times.append((time.perf_counter() - s) * 1000)
    print(
        f"PII analysis: {len(texts)} texts x3, mean {statistics.mean(map(len, texts)):.0f} "
        f"chars: p50 {percentile(times, 50):.2f} ms, p95 {percentile(times, 95):.2f} ms"
    )

    configs = {
        "/chat, guards off": ("/chat", {"safety_guards": False}),
        "/chat/safe, PII only": (
            "/chat/safe",
            {"safety_moderate_input": False, "safety_moderate_output": False},
        ),
        "/chat/safe, moderation only": ("/chat/safe", {"safety_pii": False}),
        "/chat/safe, PII + moderation": ("/chat/safe", {}),
    }
    question = (
        "Hi, I'm Priya Raman (priya.raman@example.com). Does the H100 SXM5 support "
        "PCIe 5.0 x16 in a PCIe 4.0 server?"
    )
    print(
        f"\n{'end to end, fake LLM at zero latency':<34} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'added p50':>9}"
    )
    base = None
    with MockLLMServer(MockConfig(latency="zero")) as mock:
        for name, (path, overrides) in configs.items():
            settings = Settings(
                _env_file=None,
                openai_base_url=mock.base_url,
                openai_api_key="x",
                rate_limit_enabled=False,
                routing_enabled=False,
                log_level="warning",
                # the same question every time: with the memos on, every request after the
                # first would skip the analysis and the input moderation this measures
                safety_memo_size=0,
                **({"safety_guards": False} | overrides),
            )
            with (
                ThreadedServer(create_app(settings)) as server,
                httpx.Client(base_url=server.url, timeout=30) as c,
            ):
                lat = []
                for i in range(args.requests + 20):
                    s = time.perf_counter()
                    r = c.post(
                        path, json={"message": question}, headers={"Cache-Control": "no-store"}
                    )
                    r.raise_for_status()
                    if i >= 20:  # warm-up
                        lat.append((time.perf_counter() - s) * 1000)
            p50 = percentile(lat, 50)
            base = p50 if base is None else base
            print(f"{name:<34} {p50:>7.2f} {percentile(lat, 95):>7.2f} {p50 - base:>+9.2f}")


if __name__ == "__main__":
    main()
