"""One chat request as the pipeline sees it (`ChatCall`), its answer (`ChatResult`) and the
events of a streamed answer. The pipeline fills a call in as it goes; the HTTP edge reads it
back to write headers and the request's log line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .cache import Lookup
from .clients import Client
from .ratelimit import Decision
from .routing import RouteDecision
from .safety.guard import SafetyReport
from .safety.pii import Placeholders

Message = dict[str, Any]  # an OpenAI chat message: role, content (str or parts), name...
CacheMode = Literal["use", "refresh", "bypass"]  # refresh: Cache-Control no-cache
CacheStatus = Literal["HIT", "MISS", "BYPASS"]


@dataclass
class ChatResult:
    """An answer, from the upstream or the cache."""

    text: str
    model: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    ttft_ms: float | None = None  # streams only
    cache: CacheStatus = "BYPASS"
    tool_calls: list[dict[str, Any]] | None = None  # the upstream's, as it sent them

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ChatCall:
    """One chat request, whichever endpoint it came from."""

    messages: list[Message]
    model: str | None  # None: the router chooses
    client: Client
    request_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # sampling parameters we read
    passthrough: dict[str, Any] = field(default_factory=dict)  # /v1 fields sent as given
    guarded: bool = False  # the safety guards (PII, moderation) apply
    cache_mode: CacheMode = "use"
    limited_client: str | None = None  # /chat/limited: the lecture's per-client key
    # What the pipeline found and did, step by step:
    placeholders: Placeholders = field(default_factory=Placeholders)  # this request's only
    safety: SafetyReport = field(default_factory=SafetyReport)
    route: RouteDecision | None = None
    rate_limit: Decision | None = None
    cache_status: CacheStatus | None = None  # None: the lookup was not reached
    cache: Lookup | None = None
    cache_key: tuple[str, str] | None = None  # (scope, question)
    started: float = 0.0  # the clock's monotonic time when the pipeline took the call
    # Real seconds spent waiting for the upstream (None: never called). Measured with
    # perf_counter, not the injectable clock: a measurement, not a policy.
    upstream_s: float | None = None
    result: ChatResult | None = None
    stream_error: str | None = None  # the type of an `error` event that ended a stream
    hold: Any = None  # class mode: ledger.Hold, the budget this call holds until settled
    charged: bool = False  # class mode: settled in the ledger (exactly once)

    @property
    def tenant(self) -> str:
        return self.client.tenant

    def waited_upstream(self, seconds: float) -> None:
        self.upstream_s = (self.upstream_s or 0.0) + seconds

    def log_fields(self) -> dict[str, Any]:
        """What the request's log line says about this call (never message text)."""
        fields: dict[str, Any] = {"tenant": self.tenant}
        if self.client.key_id is not None:
            fields["key_id"] = self.client.key_id  # never the key itself
        if self.route is not None:
            fields["routing"] = self.route.reason
            if self.route.fallback_from:
                fields["fallback_from"] = self.route.fallback_from
        if (r := self.result) is not None:
            fields.update(
                model=r.model,
                prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens,
                cache=r.cache,
            )
            if r.ttft_ms is not None:
                fields["ttft_ms"] = round(r.ttft_ms, 2)
            if r.cache == "HIT" and self.cache is not None:
                fields["cache_tier"] = self.cache.tier
        if safety := self.safety.log_fields():
            fields["safety"] = safety
        if self.stream_error:
            fields["stream_error"] = self.stream_error
        if self.upstream_s is not None:
            fields["upstream_ms"] = round(self.upstream_s * 1000, 2)
        return fields

    def response_headers(self) -> dict[str, str]:
        """What the client is told about this call in headers (errors included)."""
        h: dict[str, str] = {}
        if self.rate_limit is not None:
            h.update(self.rate_limit.headers())
        if self.guarded:
            h["X-Safety"] = "output-flagged" if self.safety.output_flagged else "checked"
        if (route := self.route) is not None:
            h["X-Model"], h["X-Route-Reason"] = route.model, route.reason
            if route.fallback_from:
                h["X-Fallback-From"] = route.fallback_from
        if self.cache_status is not None:
            h["X-Cache"] = self.cache_status
            if self.cache_status == "HIT" and self.cache is not None:
                h["X-Cache-Tier"] = self.cache.tier or ""
                if self.cache.tier == "semantic":
                    h["X-Cache-Similarity"] = f"{self.cache.similarity:.4f}"
        return h


@dataclass
class TokenEvent:
    text: str


@dataclass
class ToolCallEvent:
    """A piece of a streamed tool call, relayed to an OpenAI client as the upstream sent it."""

    tool_calls: list[dict[str, Any]]


@dataclass
class DoneEvent:
    result: ChatResult


StreamEvent = TokenEvent | ToolCallEvent | DoneEvent
