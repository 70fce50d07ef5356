"""`python -m reference_service [--host H] [--port P] [--workers N] [--keep-alive S]`: run
the service.

Settings come from the environment (see reference_service/config.py and the README).
`python -m reference_service keys|tenants|usage ...` manages class mode (cli.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

import uvicorn

from . import cli
from .http_protocol import BoundedHttpToolsProtocol


def main() -> None:
    if sys.argv[1:2] and sys.argv[1] in cli.COMMANDS:  # class mode's commands
        raise SystemExit(cli.main(sys.argv[1:]))
    parser = argparse.ArgumentParser(
        prog="python -m reference_service",
        description=__doc__,
        epilog="class mode: python -m reference_service keys|tenants|usage --help",
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "1")))
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info").lower())
    parser.add_argument(
        "--keep-alive",
        type=float,
        default=float(os.environ.get("KEEP_ALIVE_S", "75")),
        help="seconds an idle client connection stays open (KEEP_ALIVE_S; default 75)",
    )
    args = parser.parse_args()
    print(
        f"reference_service: http://{args.host}:{args.port}  (workers={args.workers}; "
        "docs at /docs, chat page at /)",
        flush=True,
    )
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics to files here; /metrics in any worker sums them.
        # Set before any worker imports prometheus_client (they inherit the environment).
        metrics_dir = tempfile.mkdtemp(prefix="llm-gateway-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    else:
        metrics_dir = None
    # The drain on SIGTERM happens inside the app before uvicorn is told to stop; uvicorn's
    # own graceful timeout is only a backstop for connections still open after that.
    uvicorn.run(
        "reference_service.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=5,
        # Longer than the clients' and load balancers' own idle timeouts (aiohttp 15 s, AWS
        # ALB 60 s): the side that closes an idle connection should be the client, or a
        # request sent on it just as the server closes it fails (uvicorn's 5 s default did
        # that once in ~3,000 requests in the benchmarks).
        timeout_keep_alive=args.keep_alive,
        http=BoundedHttpToolsProtocol,
    )  # 431 past MAX_HEADER_BYTES / MAX_HEADERS
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
