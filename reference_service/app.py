"""`create_app(settings)`: the reference service, all parts composed. No work at import time.

uvicorn --factory reference_service.app:create_app     # or: python -m reference_service
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.resources import files
from typing import Any

from fastapi import FastAPI

from . import services as services_module
from .api import admin, admin_usage, chat, health, metrics, openai_compat, page, stream
from .body_limit import BodySizeLimitMiddleware
from .clock import Clock, SystemClock
from .config import Settings
from .errors import install_error_handlers
from .lifecycle import DrainMiddleware, Lifecycle, probe_paths
from .metrics import Metrics
from .observability import RequestContextMiddleware, configure_logging
from .pricing import PriceTable
from .services import shared_embedder  # noqa: F401  (re-exported: notebooks warm it up)

log = logging.getLogger(__name__)


def services_of(app: FastAPI) -> services_module.Services:
    """The started app's collaborators, for a notebook or a test to look inside (the
    routers get them through deps.py)."""
    services: services_module.Services = app.state.services
    return services


def _openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    from fastapi.openapi.utils import get_openapi

    from .schemas import document_limits

    app.openapi_schema = document_limits(
        get_openapi(title=app.title, version=app.version, routes=app.routes), settings
    )
    return app.openapi_schema


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the service. Settings default to the environment (and `.env`)."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    lifecycle = Lifecycle(settings.drain_timeout_s, settings.drain_retry_after_s)
    prices = PriceTable(settings.model_prices)  # one table: the metrics' and the cache's

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, settings.log_format)
        services = await services_module.start(settings, clock, prices)
        app.state.services = services
        lifecycle.started = True
        lifecycle.install_signal_handler()
        log.info(
            "service started",
            extra={
                "fields": {
                    "upstream": services.upstream_name,
                    "redis": "embedded fakeredis" if settings.redis_url is None else "redis",
                    "models": list(settings.models),
                }
            },
        )
        try:
            yield
        finally:
            lifecycle.uninstall_signal_handler()
            await services.aclose()
            log.info("service stopped")

    app = FastAPI(title="LLM production lab: reference service", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.lifecycle = lifecycle
    app.state.clock = clock
    app.state.metrics = Metrics(prices)
    app.state.index_html = files("reference_service").joinpath("static/index.html").read_text()
    install_error_handlers(app)
    app.openapi = lambda: app.openapi_schema or _openapi(app, settings)  # type: ignore[method-assign]
    routers = [m.router for m in (chat, stream, openai_compat, health, metrics, page)]
    for router in routers:
        app.include_router(router)
    if settings.admin_token is not None:
        app.include_router(admin.router)
        app.include_router(admin_usage.router)  # class mode: usage, and the page
        app.include_router(admin_usage.page)
    # Last added runs first: request context -> body limit -> drain gate -> routes.
    app.add_middleware(
        DrainMiddleware,
        lifecycle=lifecycle,
        probes=probe_paths(r for router in routers for r in router.routes),
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    return app
