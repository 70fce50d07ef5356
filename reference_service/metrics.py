"""Prometheus metrics, multi-worker safe.

One `Metrics` per app, on its own registry (tests build many apps in one process). With
`--workers N`, `python -m reference_service` sets PROMETHEUS_MULTIPROC_DIR before the
workers start: each worker writes its values to files there and GET /metrics (answered by
any worker) adds them all up (prometheus_client's multiprocess mode).

Everything per request is recorded in one place, `observe_request`, from the same fields
that make the request's log line: the metrics and the log can never disagree, and neither
holds message text or personal data (labels are routes, models, statuses, tiers, entity
types; never open-mode tenants, whose number is unbounded: anyone can make up an
X-Client-ID). Tenants behind API keys are the operator's to name and few (a class, a team):
the `llm_gateway_tenant_*` counters have them, for requests that came with a key.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from .pricing import PriceTable

# Latency buckets from 1 ms (gateway overhead) to 60 s (a long stream).
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_BREAKER = {"closed": 0, "half_open": 1, "open": 2}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    # long: one declaration per metric, the exported names in one place
    def __init__(self, prices: PriceTable | None = None) -> None:
        self.prices = prices or PriceTable()
        r = self.registry = CollectorRegistry()
        p = "llm_gateway_"
        self.requests = Counter(
            p + "requests",
            "HTTP requests by route and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            p + "request_duration_seconds",
            "Request latency (streams: until the last byte)",
            ["route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.overhead = Histogram(
            p + "overhead_seconds",
            "Time spent in the gateway: total minus the time waiting for the upstream LLM",
            ["route"],
            buckets=_LATENCY,
            registry=r,
        )
        self.ttft = Histogram(
            p + "time_to_first_token_seconds",
            "Streams: time to the first token event",
            ["model"],
            buckets=_LATENCY,
            registry=r,
        )
        self.tokens = Counter(
            p + "tokens",
            "Tokens by model and direction (cache hits excluded)",
            ["model", "direction"],
            registry=r,
        )
        self.cost = Counter(p + "cost_usd", "Upstream cost at list prices", ["model"], registry=r)
        self.saved = Counter(
            p + "cost_saved_usd", "Cost of the answers served from the cache", ["model"], registry=r
        )
        self.tenant_tokens = Counter(
            p + "tenant_tokens",
            "Tokens by tenant of an API key, model and direction (cache hits excluded)",
            ["tenant", "model", "direction"],
            registry=r,
        )
        self.tenant_cost = Counter(
            p + "tenant_cost_usd",
            "Upstream cost at list prices by tenant of an API key and model",
            ["tenant", "model"],
            registry=r,
        )
        self.tenant_saved = Counter(
            p + "tenant_cost_saved_usd",
            "Cost of the answers served from the cache, by tenant of an API key and model",
            ["tenant", "model"],
            registry=r,
        )
        self.tenant_refusals = Counter(
            p + "tenant_refusals",
            "Error responses to API keys by tenant and type (budget_exceeded, rate_limited...)",
            ["tenant", "type"],
            registry=r,
        )
        self.cache = Counter(
            p + "cache_requests", "What the cache did", ["result", "tier"], registry=r
        )
        self.routing = Counter(
            p + "routing_decisions", "Which model answered and why", ["model", "reason"], registry=r
        )
        self.fallbacks = Counter(
            p + "breaker_fallbacks",
            "Requests answered by the other model because the chosen one's breaker was open",
            ["from_model"],
            registry=r,
        )
        self.rate_limited = Counter(
            p + "rate_limited", "Requests refused with 429", ["route"], registry=r
        )
        self.errors = Counter(
            p + "errors", "Error responses and stream error events by type", ["type"], registry=r
        )
        self.safety = Counter(
            p + "safety_events",
            "PII masked (by entity type) and moderation flags",
            ["kind"],
            registry=r,
        )
        self.breaker = Gauge(
            p + "breaker_state",
            "Circuit breaker per model as last seen "
            "(0 closed, 1 half-open, 2 open; the max over workers)",
            ["model"],
            multiprocess_mode="max",
            registry=r,
        )
        self.in_flight = Gauge(
            p + "in_flight_requests",
            "Requests being served",
            multiprocess_mode="livesum",
            registry=r,
        )

    def observe_request(
        self, route: str, method: str, status: int, seconds: float, fields: dict[str, Any]
    ) -> None:
        """Record one finished request from its log fields."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)
        if "upstream_ms" in fields or fields.get("cache") == "HIT":
            upstream_s = fields.get("upstream_ms", 0.0) / 1000
            self.overhead.labels(route).observe(max(0.0, seconds - upstream_s))
        model = fields.get("model")
        if status == 429:
            self.rate_limited.labels(route).inc()
        tenant = fields.get("tenant") if "key_id" in fields else None  # keyed: bounded
        if error := fields.get("error_type") or fields.get("stream_error"):
            self.errors.labels(error).inc()
            if tenant:
                self.tenant_refusals.labels(tenant, error).inc()
        if "routing" in fields and model:
            self.routing.labels(model, fields["routing"]).inc()
        if fallback := fields.get("fallback_from"):
            self.fallbacks.labels(fallback).inc()
        if cache := fields.get("cache"):
            self.cache.labels(cache, fields.get("cache_tier", "")).inc()
        if model and "prompt_tokens" in fields:
            p, c = fields["prompt_tokens"], fields["completion_tokens"]
            cost = self.prices.cost_usd(model, p, c)
            if fields.get("cache") == "HIT":
                self.saved.labels(model).inc(cost)
                if tenant:
                    self.tenant_saved.labels(tenant, model).inc(cost)
            else:
                self.tokens.labels(model, "prompt").inc(p)
                self.tokens.labels(model, "completion").inc(c)
                self.cost.labels(model).inc(cost)
                if tenant:
                    self.tenant_tokens.labels(tenant, model, "prompt").inc(p)
                    self.tenant_tokens.labels(tenant, model, "completion").inc(c)
                    self.tenant_cost.labels(tenant, model).inc(cost)
            if "ttft_ms" in fields:
                self.ttft.labels(model).observe(fields["ttft_ms"] / 1000)
        safety = fields.get("safety") or {}
        for entity, n in (safety.get("pii") or {}).items():
            self.safety.labels(f"pii_{entity.lower()}").inc(n)
        for key in ("input_flagged", "output_flagged"):
            if safety.get(key):
                self.safety.labels(key).inc()

    def set_breakers(self, states: dict[str, str]) -> None:
        for model, state in states.items():
            self.breaker.labels(model).set(_BREAKER.get(state, 0))

    def exposition(self) -> tuple[bytes, str]:
        """The text format; in multiprocess mode, summed over every worker's files."""
        if multiprocess_dir():
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            # prometheus_client leaves this constructor unannotated
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
