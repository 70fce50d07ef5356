"""Run an ASGI app with uvicorn on a free loopback port in a background thread.

Used to start the fake LLM inside a notebook, a test or the reference service's
embedded mode, over real HTTP (httpx's ASGI transport would buffer streams).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

import uvicorn
from starlette.types import ASGIApp

from .app import create_app
from .config import MockConfig
from .faults import MockState


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


T = TypeVar("T")


class ThreadedServer:
    """uvicorn serving `app` on host:port from a daemon thread with its own event loop."""

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        **uvicorn_options: Any,
    ) -> None:
        self.host = host
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP;
        # without it every response waits ~40 ms for a delayed ACK (Nagle).
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="auto",
            timeout_graceful_shutdown=1,
            **uvicorn_options,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> Self:
        """Serve from a daemon thread; wait until uvicorn listens (the service's startup loads
        the embedder and the PII analyzer: measured 14 s on a loaded 2-core machine)."""
        self._thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._sock])

        asyncio.run(serve())

    def run_in_loop(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's own event loop (e.g. to reset app state)."""
        assert self._loop is not None, "server not started"
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MockLLMServer(ThreadedServer):
    """The fake OpenAI server on a free port. `.base_url` goes to `OpenAI(base_url=...)`.

    `.state` injects faults, scripts answers and reads the request log;
    `.config` changes timing (e.g. `MockLLMServer(MockConfig(latency="zero"))`) and the
    upstream it imitates (`MockConfig(profile="vllm")`; `.config.upstream.cheap_model` and
    `.strong_model` name that upstream's two models).
    """

    def __init__(
        self, config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or MockConfig()
        self.state = MockState()
        super().__init__(create_app(self.config, self.state), host=host, port=port)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"
