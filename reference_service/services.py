"""The service's collaborators, built once at start-up and handed to the routers through the
dependencies (deps.py). Optional parts are no-op objects when switched off (NoCache,
NoLimits, NoRouter), so nothing downstream checks for None."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import tokens
from .cache import CacheConfig, SemanticCache
from .cache.batching import BatchingEmbedder
from .cache.disabled import NoCache
from .clock import Clock
from .config import Settings
from .keys import KeyStore
from .ledger import Ledger
from .llm import UpstreamClient, build_openai_client
from .llm.breaker import BreakerConfig, BreakerRegistry
from .llm.resilient import ResilientUpstream
from .llm.retry import RetryPolicy
from .memo import TextMemo
from .pipeline import ChatPipeline
from .prepare import CallFactory
from .pricing import PriceTable
from .ratelimit import NoLimits, RateLimiter, SlidingWindowLimiter
from .redis_client import make_redis
from .routing import NoRouter, make_router
from .routing.sticky import StickyRoutes
from .safety import moderation
from .safety.guard import SafetyGuard
from .safety.pii import PiiRedactor

if TYPE_CHECKING:
    from .cache.embedder import Backend, Embedder
    from .cache.onnx_embedder import OnnxEmbedder

log = logging.getLogger(__name__)


def shared_embedder() -> Embedder | OnnxEmbedder:
    """One embedder per process (loading costs seconds; the model is read-only), of the
    EMBEDDER_BACKEND the settings (environment, .env) name."""
    settings = Settings()
    return _embedder(settings.embedder_backend, settings.embedder_onnx_dir)


@lru_cache(maxsize=3)
def _embedder(backend: Backend, onnx_dir: Path | None) -> Embedder | OnnxEmbedder:
    from .cache.embedder import load_embedder

    return load_embedder(backend, onnx_dir)


@dataclass
class Services:
    """Everything a request needs, built by `start` and closed by `aclose`."""

    settings: Settings
    redis: Any  # redis.asyncio.Redis, or the embedded fakeredis
    upstream: UpstreamClient
    breakers: BreakerRegistry
    cache: SemanticCache | NoCache
    calls: CallFactory
    pipeline: ChatPipeline
    moderator: moderation.Moderator
    missing_models: list[str]  # "STRONG_MODEL=gpt-4o" for each the upstream does not serve
    embedded_llm: Any = None  # mock_llm.MockLLMServer when OPENAI_BASE_URL is unset
    keys: KeyStore | None = None  # class mode: the keys in Redis
    ledger: Ledger | None = None  # class mode: budgets and usage

    @property
    def upstream_name(self) -> str:
        return "embedded mock_llm" if self.embedded_llm else self.upstream.base_url

    async def aclose(self) -> None:
        if (
            isinstance(self.moderator, moderation.UpstreamModerator)
            and self.moderator.client is not self.upstream
        ):
            await self.moderator.client.aclose()
        await self.upstream.aclose()
        await self.redis.aclose()
        if self.embedded_llm is not None:
            self.embedded_llm.stop()


# long: the composition root: every collaborator built in one readable place
async def start(settings: Settings, clock: Clock, prices: PriceTable) -> Services:
    """Connect to the upstream and Redis, load the models, build the pipeline."""
    _check_class_mode(settings)
    embedded, upstream = _upstream(settings)
    redis = make_redis(settings)
    breakers = BreakerRegistry(
        redis,
        clock,
        BreakerConfig(
            settings.breaker_failure_threshold,
            settings.breaker_cooldown_s,
            probe_lease_s=settings.request_timeout_s,
            sync_s=settings.breaker_sync_s,
        ),
    )
    retry = RetryPolicy(
        settings.retry_max_attempts, settings.retry_base_s, settings.retry_max_wait_s
    )
    resilient = ResilientUpstream(upstream, clock, retry, breakers)
    missing_models = await check_models(settings, upstream)
    moderation_client = _moderation_client(settings, embedded, upstream)
    moderator = await moderation.choose(
        settings.moderation_mode,
        moderation_client,
        ResilientUpstream(moderation_client, clock, retry, breakers),
        settings.moderation_model,
        timeout_s=settings.upstream_connect_timeout_s + 3,
    )
    cache = await _cache(settings, redis, clock, prices)
    await _tokenizer()
    keys, ledger = (
        (KeyStore(redis), Ledger(redis, clock, settings, prices))
        if settings.class_mode
        else (None, None)
    )
    pipeline = ChatPipeline(
        settings,
        resilient,
        clock,
        limiter=(
            RateLimiter(redis, fail_open=settings.rate_limit_fail_open)
            if settings.rate_limit_enabled
            else NoLimits()
        ),
        sliding_limiter=SlidingWindowLimiter(
            redis, settings.limited_rpm, fail_open=settings.rate_limit_fail_open
        ),
        router=make_router(settings.router) if settings.routing_enabled else NoRouter(),
        sticky=StickyRoutes(redis, settings.sticky_route_ttl_s),
        cache=cache,
        guard=await _guard(settings, moderator, clock),
        ledger=ledger,
    )
    return Services(
        settings,
        redis,
        upstream,
        breakers,
        cache,
        CallFactory(settings, cache_enabled=settings.cache_enabled),
        pipeline,
        moderator,
        missing_models,
        embedded,
        keys,
        ledger,
    )


class ClassModeNeedsRedis(RuntimeError):
    """CLASS_MODE without REDIS_URL: a start-up error."""


class ClassModeNeedsPrices(RuntimeError):
    """CLASS_MODE with a model MODEL_PRICES does not price: a start-up error."""


def _check_class_mode(settings: Settings) -> None:
    """What class mode cannot run without: Redis (keys, budgets) and a price per model."""
    if not settings.class_mode:
        return
    if not settings.redis_url:
        raise ClassModeNeedsRedis(
            "CLASS_MODE=true needs REDIS_URL: the keys made with `python -m reference_service "
            "keys create` live in Redis, shared by every worker; the embedded fakeredis lives "
            "inside one process, where neither the command line nor the other workers see it."
        )
    if unpriced := [m for m in settings.models if m not in settings.model_prices]:
        free = json.dumps({unpriced[0]: {"usd_per_1m_input": 0, "usd_per_1m_output": 0}})
        raise ClassModeNeedsPrices(
            "CLASS_MODE=true counts budgets in dollars, and MODEL_PRICES has no price for "
            f"{', '.join(unpriced)}: their requests would cost 0 and no budget would ever stop "
            f"them. Set MODEL_PRICES (a local model is free when priced so: MODEL_PRICES='{free}')."
        )


async def check_models(settings: Settings, upstream: UpstreamClient) -> list[str]:
    """The configured models the upstream does not serve, said in one error line at
    start-up (a typo would otherwise show only as 502s). Empty when all are served, or when
    the upstream has no /v1/models or cannot be asked now."""
    try:
        served = await upstream.served_models(settings.upstream_connect_timeout_s + 3)
    except Exception as exc:  # unreachable now: it may come up later; requests will tell
        log.warning(
            "models: could not list the upstream's models (%s); not checked", type(exc).__name__
        )
        return []
    if served is None:
        log.info(
            "models: the upstream has no /v1/models; DEFAULT_MODEL and STRONG_MODEL not checked"
        )
        return []
    missing = [
        f"{name}={model}"
        for name, model in (
            ("DEFAULT_MODEL", settings.default_model),
            ("STRONG_MODEL", settings.strong_model),
        )
        if model not in served
    ]
    if missing:
        shown = ", ".join(served[:20]) + (" ..." if len(served) > 20 else "")
        log.error(
            "models: %s: not served by %s (it serves: %s). Set DEFAULT_MODEL and "
            "STRONG_MODEL to names it serves (the same name twice for a single-model "
            "server); until then requests for it fail and /health/detailed says so",
            " and ".join(missing),
            upstream.base_url,
            shown or "nothing",
        )
    elif len(settings.models) == 1:
        log.info(
            'routing: one model (%s): /chat/smart and model "auto" always use it',
            settings.default_model,
        )
    return missing


def _moderation_client(
    settings: Settings, embedded: Any, upstream: UpstreamClient
) -> UpstreamClient:
    """The moderation endpoint's client: the chat upstream's, unless MODERATION_BASE_URL."""
    if not settings.moderation_base_url:
        return upstream
    key = settings.moderation_api_key or settings.openai_api_key
    return UpstreamClient(
        build_openai_client(
            settings.moderation_base_url,
            key.get_secret_value() if key else "not-needed",
            settings.request_timeout_s,
            settings.upstream_connect_timeout_s,
        )
    )


def _upstream(settings: Settings) -> tuple[Any, UpstreamClient]:
    embedded = None
    if settings.embedded_llm:
        from mock_llm import MockConfig, MockLLMServer  # the no-key, no-network default

        embedded = MockLLMServer(MockConfig(latency=settings.mock_latency)).start()
        base_url, api_key = embedded.base_url, "embedded-mock"
    else:
        assert settings.openai_base_url is not None
        base_url = settings.openai_base_url
        key = settings.openai_api_key
        api_key = key.get_secret_value() if key else "not-needed"
    return embedded, UpstreamClient(
        build_openai_client(
            base_url, api_key, settings.request_timeout_s, settings.upstream_connect_timeout_s
        )
    )


async def _cache(
    settings: Settings, redis: Any, clock: Clock, prices: PriceTable
) -> SemanticCache | NoCache:
    if not settings.cache_enabled:
        return NoCache()
    start = time.perf_counter()
    embedder = await asyncio.to_thread(
        _embedder, settings.embedder_backend, settings.embedder_onnx_dir
    )
    log.info(
        "embedder ready",
        extra={
            "fields": {
                "backend": settings.embedder_backend,
                "load_s": round(time.perf_counter() - start, 2),
            }
        },
    )
    cache = SemanticCache(
        redis,
        BatchingEmbedder(embedder, settings.embedder_max_batch),
        clock,
        CacheConfig(
            similarity_threshold=settings.cache_similarity_threshold,
            ttl_s=settings.cache_ttl_s,
            max_entries_per_scope=settings.cache_max_entries,
            verify=settings.cache_verify,
            search_ef=settings.cache_search_ef,
            # fakeredis rejects a second VADD with REDUCE; the embedded cache is small anyway
            reduce_dim=settings.cache_vector_reduce if settings.redis_url else 0,
        ),
        prices,
    )
    if settings.redis_url:
        await cache.check_server()  # a Redis without vector sets is a startup error
    return cache


async def _tokenizer() -> None:
    """Load the tokenizer before the service says it is ready: rate limits, budgets, a
    stream's charge and a cache hit's usage count tokens, and the first count would load it
    inside a request (0.8 s measured on this lab's VM; every request behind it waits)."""
    started = time.perf_counter()
    await asyncio.to_thread(tokens.encoding)
    log.info(
        "tokenizer ready", extra={"fields": {"load_s": round(time.perf_counter() - started, 2)}}
    )


async def _guard(settings: Settings, moderator: moderation.Moderator, clock: Clock) -> SafetyGuard:
    """The safety guard (always built: /chat/safe uses it whatever SAFETY_GUARDS says).
    Both memos are per worker, keyed by the text's digest (memo.py)."""
    redactor = None
    if settings.safety_pii:
        from .safety.recognizers import ANALYZER_LOAD, shared_analyzer

        analyzer = await asyncio.to_thread(shared_analyzer)
        log.info(
            "PII analyzer ready", extra={"fields": {"load_s": round(ANALYZER_LOAD.seconds, 2)}}
        )
        redactor = PiiRedactor(
            analyzer,
            settings.pii_policy,
            settings.pii_score_threshold,
            memo=TextMemo(settings.safety_memo_size),
        )
    ttl = settings.moderation_memo_ttl_s
    return SafetyGuard(
        redactor,
        moderator,
        moderate_input=settings.safety_moderate_input,
        moderate_output=settings.safety_moderate_output,
        fail_open=settings.moderation_fail_open,
        stream_window_chars=settings.safety_stream_window_chars,
        trusted_texts=frozenset({settings.system_prompt}),
        verdicts=TextMemo(settings.safety_memo_size if ttl > 0 else 0, ttl, clock),
    )
