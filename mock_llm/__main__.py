"""`python -m mock_llm --port 9000 [--latency zero|realistic]`: the fake OpenAI server."""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app
from .config import MockConfig


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mock_llm", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--latency", choices=["realistic", "zero"],
                        help="default: $MOCK_LATENCY or realistic")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()
    config = MockConfig.from_env()
    if args.latency:
        config.latency = args.latency
    print(f"mock_llm: OpenAI-compatible fake at http://{args.host}:{args.port}/v1 "
          f"(latency={config.latency})", flush=True)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
