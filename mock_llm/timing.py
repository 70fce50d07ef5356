"""How fast a fake model answers: its profile (time to first token, decode speed) and the
schedule of one request's tokens."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelProfile:
    """How one fake model behaves: how fast it answers and how long its answers are."""

    ttft_ms: float  # time to first token
    tokens_per_s: float  # decode speed after the first token
    detailed: bool = False  # a strong model gives the long form of a knowledge-base answer


class Timing:
    """When each token of one answer is due, relative to the start of the request.

    `latency` is the server's mode ("zero" turns every delay off); the headers
    `X-Mock-Latency`, `X-Mock-TTFT-Ms` and `X-Mock-TPS` override it for one request.
    """

    def __init__(self, model: ModelProfile, latency: str, headers: Mapping[str, str]) -> None:
        zero = headers.get("x-mock-latency", latency) == "zero"
        self.ttft = 0.0 if zero else float(headers.get("x-mock-ttft-ms", model.ttft_ms)) / 1000
        tps = float(headers.get("x-mock-tps", model.tokens_per_s))
        self.per_token = 0.0 if zero or tps <= 0 else 1.0 / tps
        self.start = asyncio.get_running_loop().time()

    async def until(self, offset: float) -> None:
        """Sleep until `offset` seconds after the start."""
        delay = self.start + offset - asyncio.get_running_loop().time()
        # sleep(0) still yields, so even at zero latency a disconnect is noticed
        await asyncio.sleep(max(delay, 0.0))

    def token_due(self, i: int) -> float:
        """Offset of token `i` (0 is the first token, due at the TTFT)."""
        return self.ttft + i * self.per_token
