"""`python -m mock_llm --port 9000 [--profile openai|vllm|ollama|llamacpp] [--latency zero]`:
the fake OpenAI-compatible server."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .config import LATENCIES, MockConfig
from .profiles import PROFILES


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mock_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument(
        "--profile",
        choices=list(PROFILES),
        help="the upstream to behave like (default: $MOCK_PROFILE or openai)",
    )
    parser.add_argument(
        "--latency", choices=list(LATENCIES), help="default: $MOCK_LATENCY or realistic"
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    config = MockConfig.from_env(profile=args.profile)
    if args.latency:
        config.latency = args.latency
    print(
        f"mock_llm: {config.upstream.summary}\n"
        f"  at http://{args.host}:{args.port}/v1 (profile={config.profile}, "
        f"latency={config.latency}, models: {', '.join(config.served_models)})",
        flush=True,
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
