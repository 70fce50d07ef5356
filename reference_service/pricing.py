"""What tokens cost: the `MODEL_PRICES` setting, in USD per 1M tokens, and the table that
applies it.

Used by the cache (what a hit saved) and the metrics (what the upstream cost). The
defaults are OpenAI's published list prices of the lab's two models; a deployment on
another upstream (vLLM, Ollama, llama.cpp) sets its own, e.g. a local model at 0:

    MODEL_PRICES='{"llama3.2:3b": {"usd_per_1m_input": 0, "usd_per_1m_output": 0}}'

A model without a price costs 0, and the log says so once per model and process (a
metric that silently reads 0 would look like a free model rather than a missing price).
Class mode refuses to start with such a model (services.start): its budgets would never
stop a request to it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pydantic import BaseModel, Field

log = logging.getLogger(__name__)


class ModelPrice(BaseModel):
    """List price of one model, USD per 1M tokens."""

    usd_per_1m_input: float = Field(ge=0)
    usd_per_1m_output: float = Field(ge=0)


def default_model_prices() -> dict[str, ModelPrice]:
    """OpenAI's list prices: the strong model is ~16x the cheap one."""
    return {
        "gpt-4o-mini": ModelPrice(usd_per_1m_input=0.15, usd_per_1m_output=0.60),
        "gpt-4o": ModelPrice(usd_per_1m_input=2.50, usd_per_1m_output=10.00),
    }


class PriceTable:
    """The cost of a call, by model. Built once per app from `Settings.model_prices`."""

    def __init__(self, prices: Mapping[str, ModelPrice] | None = None) -> None:
        self._prices = dict(default_model_prices() if prices is None else prices)
        self._unpriced: set[str] = set()

    def cost_usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        """USD for these tokens; 0 for a model without a price (logged once)."""
        price = self._prices.get(model)
        if price is None:
            if model not in self._unpriced:
                self._unpriced.add(model)
                log.warning(
                    "no price for this model: its tokens count as costing 0 (set MODEL_PRICES)",
                    extra={"fields": {"model": model}},
                )
            return 0.0
        return (
            prompt_tokens * price.usd_per_1m_input + completion_tokens * price.usd_per_1m_output
        ) / 1e6
