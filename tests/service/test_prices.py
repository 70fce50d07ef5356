"""MODEL_PRICES: what tokens cost, per model, as a setting; a model without a price costs 0
and the log says so once."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from reference_service import Settings, create_app
from reference_service.pricing import ModelPrice, PriceTable

LLAMA = {"llama3.2:3b": {"usd_per_1m_input": 0.1, "usd_per_1m_output": 0.4}}


def test_the_defaults_are_openais_list_prices():
    prices = Settings(_env_file=None).model_prices
    assert prices == {
        "gpt-4o-mini": ModelPrice(usd_per_1m_input=0.15, usd_per_1m_output=0.60),
        "gpt-4o": ModelPrice(usd_per_1m_input=2.50, usd_per_1m_output=10.00),
    }
    table = PriceTable(prices)
    assert table.cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.50)
    assert table.cost_usd("gpt-4o-mini", 2_000, 500) == pytest.approx(0.0006)


def test_model_prices_is_read_from_json_in_the_environment(monkeypatch):
    monkeypatch.setenv("MODEL_PRICES", json.dumps(LLAMA))
    prices = Settings(_env_file=None).model_prices
    assert set(prices) == {"llama3.2:3b"}  # the setting replaces the table, it does not merge
    assert PriceTable(prices).cost_usd("llama3.2:3b", 1_000_000, 0) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "bad",
    [
        '{"m": {"usd_per_1m_input": -1, "usd_per_1m_output": 0}}',
        '{"m": {"usd_per_1m_input": 1}}',
        "not json",
    ],
)
def test_a_bad_price_table_is_refused_at_startup(monkeypatch, bad):
    monkeypatch.setenv("MODEL_PRICES", bad)
    with pytest.raises((ValidationError, ValueError)):
        Settings(_env_file=None)


class Records(logging.Handler):
    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_a_model_without_a_price_costs_nothing_and_is_logged_once():
    handler, logger = Records(), logging.getLogger("reference_service.pricing")
    logger.addHandler(handler)
    try:
        table = PriceTable()
        assert table.cost_usd("llama3.2:3b", 1000, 1000) == 0.0
        assert table.cost_usd("llama3.2:3b", 5, 5) == 0.0
        assert table.cost_usd("gpt-4o", 0, 0) == 0.0  # priced, at zero tokens: nothing logged
        table.cost_usd("qwen2.5:7b", 1, 1)
    finally:
        logger.removeHandler(handler)
    assert [r.fields["model"] for r in handler.records] == ["llama3.2:3b", "qwen2.5:7b"]
    assert {r.levelname for r in handler.records} == {"WARNING"}
    assert "MODEL_PRICES" in handler.records[0].getMessage()


def test_the_app_prices_its_metrics_with_the_setting():
    app = create_app(Settings(_env_file=None, model_prices=LLAMA))
    prices = app.state.metrics.prices
    assert prices.cost_usd("llama3.2:3b", 1_000_000, 1_000_000) == pytest.approx(0.5)
    assert prices.cost_usd("gpt-4o", 1_000_000, 0) == 0.0  # not in this deployment's table
