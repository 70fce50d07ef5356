"""Settings of the fake OpenAI server: model timing and prices, latency mode."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class ModelProfile:
    """How one fake model behaves: how fast it answers and what it would cost."""

    ttft_ms: float  # time to first token
    tokens_per_s: float  # decode speed after the first token
    usd_per_1m_input: float
    usd_per_1m_output: float
    detailed: bool  # a strong model gives the long form of a knowledge-base answer


# Published OpenAI list prices (USD per 1M tokens) and plausible timings:
# the strong model is slower to start, slower per token and ~16x the price.
DEFAULT_MODELS: dict[str, ModelProfile] = {
    "gpt-4o-mini": ModelProfile(ttft_ms=250, tokens_per_s=80, usd_per_1m_input=0.15,
                                usd_per_1m_output=0.60, detailed=False),
    "gpt-4o": ModelProfile(ttft_ms=600, tokens_per_s=40, usd_per_1m_input=2.50,
                           usd_per_1m_output=10.00, detailed=True),
}


@dataclass
class MockConfig:
    """Knobs of the fake server. `latency="zero"` turns every delay off (tests)."""

    models: dict[str, ModelProfile] = field(default_factory=lambda: dict(DEFAULT_MODELS))
    latency: str = "realistic"  # "realistic" | "zero"
    hang_s: float = 3600.0  # how long a "hang" fault holds a request open
    moderation_model: str = "omni-moderation-latest"

    @classmethod
    def from_env(cls) -> "MockConfig":
        """Read MOCK_LATENCY, MOCK_TTFT_MS and MOCK_TPS (the last two apply to every model)."""
        cfg = cls(latency=os.environ.get("MOCK_LATENCY", "realistic"))
        ttft = os.environ.get("MOCK_TTFT_MS")
        tps = os.environ.get("MOCK_TPS")
        if ttft or tps:
            cfg.models = {
                name: replace(p, ttft_ms=float(ttft) if ttft else p.ttft_ms,
                              tokens_per_s=float(tps) if tps else p.tokens_per_s)
                for name, p in cfg.models.items()
            }
        return cfg
