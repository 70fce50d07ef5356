"""What tokens cost, at the lab's list prices (mock_llm.config); unknown models cost 0.

Used by the cache (what a hit saved) and the metrics (what the upstream cost)."""

from __future__ import annotations

from mock_llm.config import DEFAULT_MODELS


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    price = DEFAULT_MODELS.get(model)
    if price is None:
        return 0.0
    return (prompt_tokens * price.usd_per_1m_input
            + completion_tokens * price.usd_per_1m_output) / 1e6
