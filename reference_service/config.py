"""Settings: every knob is an environment variable (or a line in `.env`) with a safe default."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .budgets import Budget, Period, zone
from .pricing import ModelPrice, default_model_prices


class ApiKey(BaseModel):
    """One client key: its tenant, and its limits (default: the global ones)."""

    tenant: str = Field(min_length=1, max_length=64)
    rpm: int | None = Field(None, ge=1)
    tpm: int | None = Field(None, ge=1)
    budget_usd: float | None = Field(None, gt=0, description="class mode only")
    period: Period = "total"

    def budget(self, key_id: str) -> Budget | None:
        return Budget("key", key_id, self.budget_usd, self.period) if self.budget_usd else None


class Settings(BaseSettings):
    """Configuration of the reference service. Field `foo_bar` is env var `FOO_BAR`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # Upstream LLM. Unset OPENAI_BASE_URL: the embedded fake LLM (mock_llm) runs in-process.
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    default_model: str = "gpt-4o-mini"
    strong_model: str = "gpt-4o"
    # The lecture's system prompt and sampling temperature (for /chat*; /v1 passes the
    # client's messages and parameters through as given).
    system_prompt: str = (
        "You are a helpful AI assistant specializing in hardware engineering. "
        "Answer questions clearly and concisely."
    )
    default_temperature: float = Field(
        0.2, ge=0, le=2, description="when a /chat* request gives none"
    )
    request_timeout_s: float = Field(10.0, gt=0, description="deadline of one request")
    upstream_connect_timeout_s: float = Field(2.0, gt=0)
    mock_latency: Literal["realistic", "zero"] = "realistic"

    # Routing (/chat/smart, and `model: "auto"` anywhere): DEFAULT_MODEL (cheap) or
    # STRONG_MODEL by the router's score; a conversation stays on its first choice for
    # STICKY_ROUTE_TTL_S. ROUTER=lecture is the lecture's estimate_complexity, exactly.
    routing_enabled: bool = True
    router: Literal["weighted", "lecture"] = "weighted"
    route_threshold: float = Field(0.5, ge=0, le=1)
    sticky_route_ttl_s: int = Field(3600, ge=1)

    # Resilience: one retry layer (tenacity) and a circuit breaker per upstream model.
    retry_max_attempts: int = Field(3, ge=1, le=10)
    retry_base_s: float = Field(0.5, gt=0)
    retry_max_wait_s: float = Field(8.0, gt=0)
    breaker_failure_threshold: int = Field(5, ge=1)
    breaker_cooldown_s: float = Field(30.0, gt=0)
    breaker_sync_s: float = Field(0.25, ge=0)  # a closed, clean breaker trusted this long
    breaker_fallback: bool = True  # a routed request whose model's breaker is open uses the other

    # Rate limits per client (GCRA in Redis). API_KEYS is JSON:
    # {"sk-alice": {"tenant": "alice", "rpm": 30, "tpm": 50000}, ...}. When set, every chat
    # request needs `Authorization: Bearer <key>`; unset (open dev mode) clients are told
    # apart by the spoofable X-Client-ID header, else their IP address.
    api_keys: dict[str, ApiKey] = Field(default_factory=dict)
    rate_limit_enabled: bool = True
    rate_limit_rpm: int = Field(60, ge=1)
    rate_limit_tpm: int = Field(100_000, ge=1)
    rate_limit_fail_open: bool = True
    # Class mode (docs/OPERATIONS.md): keys made with `python -m reference_service keys` and
    # kept hashed in Redis (REDIS_URL required), budgets per key and tenant, usage per key.
    class_mode: bool = False
    budget_timezone: str = Field("UTC", description="where a budget's day and week begin")
    budget_hold_s: float = Field(600.0, gt=0, description="longest a request holds budget")
    # The lecture's /chat/limited: at most this many requests in any 60 s per X-Client-ID
    # (client "anonymous" without the header), on top of the limits above.
    limited_rpm: int = Field(30, ge=1)

    # Response cache (exact tier + semantic tier on Redis 8 vector sets + verifier).
    cache_enabled: bool = True
    cache_similarity_threshold: float = Field(
        0.925, ge=-1, le=1, description="cosine similarity, not distance"
    )
    cache_ttl_s: float = Field(24 * 3600, gt=0)
    cache_max_entries: int = Field(100_000, ge=1, description="per scope")
    cache_max_temperature: float = Field(
        1.0, ge=0, le=2, description="requests above it bypass the cache"
    )
    cache_verify: bool = True
    cache_search_ef: int = Field(100, ge=1, description="HNSW exploration factor of a lookup")
    cache_vector_reduce: int = Field(
        128,
        ge=0,
        description="index dimensions after random projection (VADD REDUCE); "
        "0: none. Real Redis only (fakeredis mishandles REDUCE)",
    )
    # The question's embedding (docs/CACHE.md, "Embedder backends"): sentence-transformers on
    # torch, or the same graph on ONNX Runtime (fp32, or int8-quantized weights), built from
    # the packaged weights into EMBEDDER_ONNX_DIR on first start if absent. onnx: the same
    # decisions as torch on every eval pair for half the CPU; int8 changes some.
    embedder_backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    embedder_onnx_dir: Path | None = Field(
        None, description="default: $XDG_CACHE_HOME or ~/.cache, /llm-production-lab/onnx"
    )
    # Questions of concurrent requests embedded together, up to this many a pass (1: one by
    # one); a question alone never waits for company (cache/batching.py).
    embedder_max_batch: int = Field(16, ge=1, le=256)
    admin_token: SecretStr | None = None  # enables /admin/* with `Authorization: Bearer`

    # Safety (docs/SAFETY.md). POST /chat/safe always applies the guards (the lecture guards
    # only that path); SAFETY_GUARDS=true puts them on /chat*, /chat/stream and /v1 too.
    safety_guards: bool = False
    safety_pii: bool = True  # Presidio: mask personal data before the upstream, restore after
    pii_policy: dict[str, Literal["mask", "block", "allow"]] = Field(
        default_factory=dict, description='per entity, e.g. {"US_SSN": "block"}; default mask'
    )
    pii_score_threshold: float = Field(0.4, ge=0, le=1)
    safety_moderate_input: bool = True
    safety_moderate_output: bool = True
    moderation_model: str = "omni-moderation-latest"
    # Where moderation comes from (safety/moderation.py): auto probes the moderation
    # endpoint at start-up and falls back to the local classifier when it has none.
    moderation_mode: Literal["auto", "upstream", "local", "off"] = "auto"
    moderation_base_url: str | None = None  # default: the chat upstream (OPENAI_BASE_URL)
    moderation_api_key: SecretStr | None = None  # default: OPENAI_API_KEY
    moderation_fail_open: bool = False  # moderation unreachable: refuse (503) unless true
    # A text seen again (a repeated question, a conversation's earlier turns) is not analyzed
    # or moderated again: what Presidio found in it and moderation's verdict are remembered
    # per worker and tenant by SHA-256 (never the text), the last SAFETY_MEMO_SIZE texts;
    # a verdict for MODERATION_MEMO_TTL_S (0: always ask). docs/SAFETY.md.
    safety_memo_size: int = Field(10_000, ge=0)
    moderation_memo_ttl_s: float = Field(3600.0, ge=0)
    safety_stream_window_chars: int = Field(
        120, ge=1, description="a guarded stream's answer is moderated every this many characters"
    )
    # hold: each window is released only after moderation passed it (no flagged text is ever
    # sent; tokens arrive in bursts). release: tokens go out as they come and moderation
    # follows a window behind (a flagged answer is cut with an error event, but up to one
    # window of it may already have been sent). Notebooks 02 and 06 measure both.
    safety_stream_mode: Literal["hold", "release"] = "hold"

    # Redis. Unset: an embedded fakeredis (one process only; not shared between workers).
    redis_url: str | None = None

    # Input limits (bad input gets 413/422, never reaches the upstream). A message is at
    # most 4096 characters (the lecture's contract, a 422: schemas.MAX_MESSAGE_CHARS).
    max_body_bytes: int = Field(256 * 1024, gt=0)
    max_history_messages: int = Field(40, ge=0)
    max_total_chars: int = Field(64_000, gt=0)
    max_output_tokens: int = Field(4096, gt=0)

    # Shutdown: SIGTERM -> not ready, refuse new work, let in-flight requests finish.
    drain_timeout_s: float = Field(20.0, ge=0)
    drain_retry_after_s: int = Field(5, ge=1)

    sse_ping_s: float = Field(15.0, gt=0)
    log_level: str = "info"
    log_format: Literal["json", "text"] = "json"

    @field_validator("openai_base_url", "redis_url", "moderation_base_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        return v or None

    @model_validator(mode="after")
    def _breaker_sync_within_cooldown(self) -> Settings:
        # Trusted past the cooldown, a worker would send calls while the breaker is
        # half-open, beside the one probe of the whole deployment.
        if self.breaker_sync_s >= self.breaker_cooldown_s:
            raise ValueError(
                f"BREAKER_SYNC_S ({self.breaker_sync_s}) must be less than "
                f"BREAKER_COOLDOWN_S ({self.breaker_cooldown_s})"
            )
        return self

    @field_validator("budget_timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            zone(v)
        except Exception:
            raise ValueError(
                f"unknown time zone {v!r} (an IANA name, e.g. Europe/Berlin)"
            ) from None
        return v

    @property
    def embedded_llm(self) -> bool:
        return self.openai_base_url is None

    @property
    def models(self) -> tuple[str, ...]:
        """Models a client may ask for."""
        return tuple(dict.fromkeys((self.default_model, self.strong_model)))

    # Prices, USD per 1M tokens, for the cost metrics and what a cache hit saved. JSON:
    # MODEL_PRICES='{"llama3.2:3b": {"usd_per_1m_input": 0, "usd_per_1m_output": 0}}'.
    # Default: OpenAI's list prices of gpt-4o-mini and gpt-4o. A model without a price
    # costs 0, and the log says so once (reference_service/pricing.py).
    model_prices: dict[str, ModelPrice] = Field(default_factory=default_model_prices)
