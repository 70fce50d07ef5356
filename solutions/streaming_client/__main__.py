"""python -m solutions.streaming_client [--url URL] [--model MODEL] [--no-usage]

Chat in the terminal with the service's /chat/stream: type a message and press Enter; the
answer streams in, then its time to first token, total time and token count. Ctrl-C or
Ctrl-D quits.
"""

from __future__ import annotations

import argparse
import sys

import httpx

from .client import ChatError, ChatSession

TOKEN_SOURCE = {"usage": "counted by the server", "events": "token events counted here"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="streaming_client",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--model")
    parser.add_argument(
        "--no-usage",
        action="store_true",
        help="do not ask for the usage event: count the token events instead",
    )
    args = parser.parse_args(argv)
    session = ChatSession(args.url, model=args.model, include_usage=not args.no_usage)
    print(f"chatting with {args.url} (Ctrl-C to quit)", flush=True)
    try:
        for line in sys.stdin:
            message = line.strip()
            if not message:
                continue
            try:
                stats = session.ask(message, on_token=lambda t: print(t, end="", flush=True))
                print(
                    f"\n[{stats.model}: first token {stats.ttft_ms:.0f} ms, total "
                    f"{stats.total_ms:.0f} ms, {stats.tokens} tokens "
                    f"({TOKEN_SOURCE[stats.tokens_from]})]",
                    flush=True,
                )
            except ChatError as err:
                print(f"\n[error: {err}]", flush=True)
            except httpx.TransportError:
                print(f"\n[error: cannot reach {args.url}; is the service running?]", flush=True)
    except KeyboardInterrupt:
        print("\n[bye]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
