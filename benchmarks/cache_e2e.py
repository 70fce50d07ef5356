"""End-to-end /chat latency for a miss, an exact hit and a semantic hit, through the
service, with the fake LLM at its realistic timing (gpt-4o-mini: 250 ms to the first
token, 80 tokens/s).

    .venv/bin/python benchmarks/cache_e2e.py [--pairs 30] [--plot docs/img/cache_e2e.png]

For each answerable pair of data/cache_pairs.jsonl (train split): ask text_a (a miss),
ask it again (an exact hit), ask text_b (a semantic hit when the cache serves it).
Embedded defaults (fakeredis); set REDIS_URL to use a real Redis 8.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parents[1]))

from benchmarks.stats import percentile
from mock_llm import MockConfig, MockLLMServer, ThreadedServer
from reference_service import Settings, create_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--plot", type=Path)
    args = parser.parse_args()
    rows = [json.loads(x) for x in Path("data/cache_pairs.jsonl").read_text().splitlines()]
    pairs = [r for r in rows if r["label"] == 1 and r["split"] == "train"][: args.pairs]
    times: dict[str, list[float]] = {"miss": [], "exact hit": [], "semantic hit": []}
    with MockLLMServer(MockConfig(latency="realistic")) as mock:
        settings = Settings(
            _env_file=None,
            openai_base_url=mock.base_url,
            openai_api_key="x",
            redis_url=os.environ.get("REDIS_URL"),
            rate_limit_enabled=False,
            routing_enabled=False,
            log_level="warning",
        )
        with (
            ThreadedServer(create_app(settings)) as server,
            httpx.Client(base_url=server.url, timeout=30) as c,
        ):
            c.post("/chat", json={"message": "warm-up question"})
            for p in pairs:
                # (question, the tier it should hit): the headers say which it did
                for text, _expect in (
                    (p["text_a"], None),
                    (p["text_a"], "exact"),
                    (p["text_b"], "semantic"),
                ):
                    r = c.post("/chat", json={"message": text})
                    kind = {"HIT": f"{r.headers.get('x-cache-tier')} hit"}.get(
                        r.headers["x-cache"], "miss"
                    )
                    times[kind].append(r.elapsed.total_seconds() * 1000)
    summary = {
        k: {"n": len(v), "p50_ms": round(percentile(v, 50), 1), "max_ms": round(max(v), 1)}
        for k, v in times.items()
        if v
    }
    miss = summary["miss"]["p50_ms"]
    for v in summary.values():
        v["speedup_vs_miss"] = round(miss / v["p50_ms"], 1)
    print(json.dumps(summary, indent=2))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
        labels = [k for k in times if times[k]]
        ax.boxplot([times[k] for k in labels], tick_labels=labels, orientation="horizontal")
        ax.set_xscale("log")
        ax.set_xlabel("/chat latency, ms (log scale)")
        ax.set_title("Miss vs cache hits, fake LLM at realistic timing")
        ax.grid(alpha=0.3, axis="x")
        fig.tight_layout()
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.plot)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
