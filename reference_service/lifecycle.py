"""Readiness, in-flight accounting and graceful shutdown (drain).

On SIGTERM: readiness turns 503 at once; new requests get 503 + Retry-After; requests
and SSE streams in flight run to completion. When they are done, or when the drain time
is up (streams still running then get a final `error` event), the server is told to exit
and the lifespan closes the clients.

The hook chains onto the ASGI server's own SIGTERM handler (uvicorn's), installed in the
lifespan, so it works under `python -m reference_service`, `uvicorn ...` and `--workers N`.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from .context import context_of
from .errors import error_response

log = logging.getLogger(__name__)

# Routes marked with this (`openapi_extra=PROBE`: probes and metrics) stay reachable while
# starting and draining, and are not counted as work in flight; create_app collects them.
PROBE = {"x-probe": True}


def probe_paths(routes: Iterable[BaseRoute]) -> frozenset[str]:
    return frozenset(
        r.path for r in routes if isinstance(r, APIRoute) and (r.openapi_extra or {}).get("x-probe")
    )


class Lifecycle:
    """The service's run state: started, draining, and the work still in flight."""

    def __init__(self, drain_timeout_s: float, retry_after_s: int) -> None:
        self.drain_timeout_s = drain_timeout_s
        self.retry_after_s = retry_after_s
        self.started = False
        self.draining = False
        self.drain_expired = False
        self.inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._hurry = asyncio.Event()
        self._streams: set[asyncio.Task[None]] = set()
        self._drain_task: asyncio.Task[None] | None = None
        self._previous_handler: Callable[[int, FrameType | None], Any] | int | None = None

    @property
    def ready(self) -> bool:
        return self.started and not self.draining

    # -- in-flight accounting ---------------------------------------------------------
    def enter(self) -> None:
        self.inflight += 1
        self._idle.clear()

    def leave(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self._idle.set()

    def track_stream(self, task: asyncio.Task[None]) -> None:
        """A stream producer the drain may have to stop when its time is up."""
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    # -- drain ------------------------------------------------------------------------
    async def drain(self) -> None:
        """Stop taking work, wait for in-flight work up to the drain time, stop streams."""
        self.draining = True
        log.info(
            "drain started",
            extra={"fields": {"inflight": self.inflight, "drain_timeout_s": self.drain_timeout_s}},
        )
        waits = {
            asyncio.ensure_future(self._idle.wait()),
            asyncio.ensure_future(self._hurry.wait()),
        }
        await asyncio.wait(waits, timeout=self.drain_timeout_s, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()
        if not self._idle.is_set():
            self.drain_expired = True
            log.warning(
                "drain time is up",
                extra={"fields": {"inflight": self.inflight, "streams": len(self._streams)}},
            )
            for task in list(self._streams):
                task.cancel()  # each producer sends its final `error` event
            try:  # give the cancelled streams a moment to send that event
                await asyncio.wait_for(self._idle.wait(), 2.0)
            except TimeoutError:
                pass
        log.info("drain finished", extra={"fields": {"inflight": self.inflight}})

    def hurry(self) -> None:
        """End the drain now (a second SIGTERM): remaining streams get their error event."""
        self._hurry.set()

    def install_signal_handler(self, on_drained: Callable[[], None] | None = None) -> None:
        """Drain on SIGTERM, then pass the signal on to the previous (server's) handler."""
        if threading.current_thread() is not threading.main_thread():
            return  # signals only reach the main thread (e.g. a test server in a thread)
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)
        self._previous_handler = previous

        def _after_drain() -> None:
            if on_drained is not None:
                on_drained()
            elif callable(previous):
                previous(signal.SIGTERM, None)
            else:
                signal.raise_signal(signal.SIGTERM)

        def _on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self._drain_task is not None:  # a second SIGTERM: stop waiting
                loop.call_soon_threadsafe(self.hurry)
                return

            def start() -> None:
                self._drain_task = loop.create_task(self.drain())
                self._drain_task.add_done_callback(lambda _: _after_drain())

            loop.call_soon_threadsafe(start)

        signal.signal(signal.SIGTERM, _on_sigterm)

    def uninstall_signal_handler(self) -> None:
        if (
            self._previous_handler is not None
            and threading.current_thread() is threading.main_thread()
        ):
            signal.signal(signal.SIGTERM, self._previous_handler)
            self._previous_handler = None


class DrainMiddleware:
    """Counts work in flight; refuses new work with 503 + Retry-After while draining."""

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle, probes: frozenset[str]) -> None:
        self.app = app
        self.lifecycle = lifecycle
        self.probes = probes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.probes:
            await self.app(scope, receive, send)
            return
        lc = self.lifecycle
        if lc.draining or not lc.started:
            ctx = context_of(scope)
            rid = ctx.request_id if ctx is not None else None
            msg = (
                "The service is shutting down; retry on another instance."
                if lc.draining
                else "The service is starting."
            )
            response = error_response(
                503,
                "shutting_down" if lc.draining else "not_ready",
                msg,
                rid,
                retry_after=lc.retry_after_s,
                path=scope["path"],
            )
            response.headers["Connection"] = "close"
            await response(scope, receive, send)
            return
        lc.enter()
        try:
            await self.app(scope, receive, send)
        finally:
            lc.leave()
