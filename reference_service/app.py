"""`create_app(settings)`: the reference service, all parts composed. No work at import time.

    uvicorn --factory reference_service.app:create_app     # or: python -m reference_service
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from functools import lru_cache
from importlib.resources import files

from fastapi import FastAPI

from .api import admin, chat, health, metrics, openai_compat, page, stream
from .body_limit import BodySizeLimitMiddleware
from .cache import CacheConfig, SemanticCache
from .clock import Clock, SystemClock
from .config import Settings
from .errors import install_error_handlers
from .lifecycle import DrainMiddleware, Lifecycle
from .llm import UpstreamClient, build_openai_client
from .llm.breaker import BreakerConfig, BreakerRegistry
from .llm.resilient import ResilientUpstream
from .llm.retry import RetryPolicy
from .metrics import Metrics
from .observability import RequestContextMiddleware, configure_logging, log
from .pipeline import ChatPipeline
from .pricing import PriceTable
from .ratelimit import RateLimiter, SlidingWindowLimiter
from .routing import make_router
from .safety.guard import SafetyGuard
from .safety.pii import PiiRedactor
from .sticky_routes import StickyRoutes
from .redis_client import make_redis


@lru_cache(maxsize=1)
def shared_embedder():
    """One embedder per process (loading costs seconds; the model is read-only)."""
    from .cache.embedder import Embedder

    embedder = Embedder()
    embedder.warm_up()
    return embedder


async def _make_cache(settings: Settings, redis, clock: Clock,
                      prices: PriceTable) -> SemanticCache | None:
    if not settings.cache_enabled:
        return None
    embedder = await asyncio.to_thread(shared_embedder)
    cache = SemanticCache(redis, embedder, clock, CacheConfig(
        similarity_threshold=settings.cache_similarity_threshold, ttl_s=settings.cache_ttl_s,
        max_entries_per_scope=settings.cache_max_entries, verify=settings.cache_verify,
        search_ef=settings.cache_search_ef,
        # fakeredis rejects a second VADD with REDUCE; the embedded cache is small anyway
        reduce_dim=settings.cache_vector_reduce if settings.redis_url else 0), prices)
    if settings.redis_url:
        await cache.check_server()  # a Redis without vector sets is a startup error
    return cache


async def _make_guard(settings: Settings, upstream: ResilientUpstream) -> SafetyGuard:
    """The safety guard (always built: /chat/safe uses it whatever SAFETY_GUARDS says)."""
    redactor = None
    if settings.safety_pii:
        from .safety.recognizers import shared_analyzer

        analyzer = await asyncio.to_thread(shared_analyzer)
        log.info("PII analyzer ready", extra={"fields": {
            "load_s": round(shared_analyzer.load_seconds, 2)}})
        redactor = PiiRedactor(analyzer, settings.pii_policy, settings.pii_score_threshold)
    return SafetyGuard(redactor, upstream, moderation_model=settings.moderation_model,
                       moderate_input=settings.safety_moderate_input,
                       moderate_output=settings.safety_moderate_output,
                       fail_open=settings.moderation_fail_open,
                       stream_window_chars=settings.safety_stream_window_chars,
                       trusted_texts=frozenset({settings.system_prompt}))


def _openapi(app: FastAPI, settings: Settings) -> dict:
    from fastapi.openapi.utils import get_openapi

    from .schemas import document_limits

    app.openapi_schema = document_limits(get_openapi(
        title=app.title, version=app.version, routes=app.routes), settings)
    return app.openapi_schema


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    """Build the service. Settings default to the environment (and `.env`)."""
    settings = settings or Settings()
    clock = clock or SystemClock()
    lifecycle = Lifecycle(settings.drain_timeout_s, settings.drain_retry_after_s)
    prices = PriceTable(settings.model_prices)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(settings.log_level, settings.log_format)
        embedded = None
        if settings.embedded_llm:
            from mock_llm import MockConfig, MockLLMServer  # the no-key, no-network default

            embedded = MockLLMServer(MockConfig(latency=settings.mock_latency)).start()
            base_url, api_key = embedded.base_url, "embedded-mock"
        else:
            base_url = settings.openai_base_url
            key = settings.openai_api_key
            api_key = key.get_secret_value() if key else "not-needed"
        upstream = UpstreamClient(build_openai_client(
            base_url, api_key, settings.request_timeout_s, settings.upstream_connect_timeout_s))
        app.state.upstream = upstream
        app.state.redis = make_redis(settings)
        app.state.breakers = BreakerRegistry(app.state.redis, clock, BreakerConfig(
            settings.breaker_failure_threshold, settings.breaker_cooldown_s,
            probe_lease_s=settings.request_timeout_s))
        retry = RetryPolicy(settings.retry_max_attempts, settings.retry_base_s,
                            settings.retry_max_wait_s)
        limiter = (RateLimiter(app.state.redis, fail_open=settings.rate_limit_fail_open)
                   if settings.rate_limit_enabled else None)
        sliding = SlidingWindowLimiter(app.state.redis, settings.limited_rpm,
                                       fail_open=settings.rate_limit_fail_open)
        app.state.cache = await _make_cache(settings, app.state.redis, clock, prices)
        router = make_router(settings.router) if settings.routing_enabled else None
        resilient = ResilientUpstream(upstream, clock, retry, app.state.breakers)
        app.state.pipeline = ChatPipeline(
            settings, resilient, clock, limiter, router,
            StickyRoutes(app.state.redis, settings.sticky_route_ttl_s), app.state.cache,
            await _make_guard(settings, resilient), sliding)
        lifecycle.started = True
        lifecycle.install_signal_handler()
        log.info("service started", extra={"fields": {
            "upstream": "embedded mock_llm" if embedded else base_url,
            "redis": "embedded fakeredis" if settings.redis_url is None else "redis",
            "models": list(settings.models)}})
        try:
            yield
        finally:
            lifecycle.uninstall_signal_handler()
            await upstream.aclose()
            await app.state.redis.aclose()
            if embedded is not None:
                embedded.stop()
            log.info("service stopped")

    app = FastAPI(title="LLM production lab: reference service", version="0.1.0",
                  lifespan=lifespan)
    app.state.settings = settings
    app.state.lifecycle = lifecycle
    app.state.clock = clock
    app.state.metrics = Metrics(prices)
    app.state.index_html = files("reference_service").joinpath("static/index.html").read_text()
    install_error_handlers(app)
    app.openapi = lambda: app.openapi_schema or _openapi(app, settings)
    for module in (chat, stream, openai_compat, health, metrics, page):
        app.include_router(module.router)
    if settings.admin_token is not None:
        app.include_router(admin.router)
    # Last added runs first: request id -> body limit -> drain gate -> routes.
    app.add_middleware(DrainMiddleware, lifecycle=lifecycle)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    return app
