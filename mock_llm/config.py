"""Settings of the fake OpenAI server: which upstream it imitates, its models' timing,
latency mode."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from .profiles import DEFAULT_PROFILE, UpstreamProfile, get_profile
from .timing import ModelProfile

LATENCIES = ("realistic", "zero")


@dataclass
class MockConfig:
    """Knobs of the fake server. `latency="zero"` turns every delay off (tests).

    `profile` picks the upstream it behaves like ("openai", "vllm", "ollama", "llamacpp");
    `models` defaults to that profile's models (name -> timing); `context_length` to the
    profile's context.
    """

    profile: str = DEFAULT_PROFILE
    models: dict[str, ModelProfile] | None = None
    latency: str = "realistic"  # "realistic" | "zero"
    hang_s: float = 3600.0  # how long a "hang" fault holds a request open
    moderation_model: str = "omni-moderation-latest"
    context_length: int | None = None

    def __post_init__(self) -> None:
        upstream = get_profile(self.profile)  # an unknown name fails here, early
        if self.models is None:
            self.models = upstream.models()
        if self.latency not in LATENCIES:
            raise ValueError(f"latency must be one of {', '.join(LATENCIES)}")

    @property
    def upstream(self) -> UpstreamProfile:
        return get_profile(self.profile)

    @property
    def served_models(self) -> dict[str, ModelProfile]:
        assert self.models is not None  # set in __post_init__
        return self.models

    @property
    def effective_context_length(self) -> int:
        return self.context_length or self.upstream.context_length

    def use_profile(self, name: str) -> None:
        """Switch to another upstream, with its own models and context."""
        self.models = get_profile(name).models()
        self.profile = name
        self.context_length = None

    @classmethod
    def from_env(cls, profile: str | None = None) -> MockConfig:
        """Read MOCK_PROFILE (unless `profile` is given), MOCK_LATENCY, MOCK_TTFT_MS and
        MOCK_TPS (the last two apply to every model)."""
        cfg = cls(
            profile=profile or os.environ.get("MOCK_PROFILE", DEFAULT_PROFILE),
            latency=os.environ.get("MOCK_LATENCY", "realistic"),
        )
        ttft = os.environ.get("MOCK_TTFT_MS")
        tps = os.environ.get("MOCK_TPS")
        if ttft or tps:
            cfg.models = {
                name: replace(
                    p,
                    ttft_ms=float(ttft) if ttft else p.ttft_ms,
                    tokens_per_s=float(tps) if tps else p.tokens_per_s,
                )
                for name, p in cfg.served_models.items()
            }
        return cfg
