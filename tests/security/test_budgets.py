"""Budgets that cannot be bypassed: a stream read and dropped is charged for what was
generated; a request larger than the whole per-minute budget is refused, not clamped."""

from __future__ import annotations

import time

import httpx

from mock_llm import ThreadedServer
from reference_service import create_app
from reference_service.ratelimit import Limits, NoLimits, RateLimiter
from tests.support import make_settings, services_of


async def test_a_prompt_over_the_token_budget_is_refused_outright():
    import fakeredis

    limiter = RateLimiter(fakeredis.FakeAsyncRedis())
    try:
        await limiter.check("c", Limits(rpm=10, tpm=100), 17_107)
    except Exception as exc:
        assert exc.status == 413 and exc.code == "over_token_limit"
        assert "17107" in exc.message and "100" in exc.message
    else:
        raise AssertionError("a 17,107-token prompt was admitted at tpm=100")


def test_a_big_prompt_is_413_over_http(mock_server, mock):
    app = create_app(make_settings(openai_base_url=mock_server.base_url, rate_limit_tpm=100))
    with ThreadedServer(app) as s:
        r = httpx.post(s.url + "/chat", json={"message": "word " * 800})
        assert r.status_code == 413 and r.json()["error"]["code"] == "over_token_limit"
    assert mock.state.chat_requests() == []


class RecordingLimits(NoLimits):
    """Admits everything and records every charge (client id, tokens)."""

    def __init__(self) -> None:
        self.charges: list[tuple[str, int]] = []

    async def charge(self, client, limits, tokens, now_ms=None) -> None:
        self.charges.append((client, tokens))


def test_a_stream_dropped_by_the_client_is_charged_for_what_was_generated(mock_server, mock):
    mock.config.latency = "realistic"  # slow enough to leave in the middle
    app = create_app(make_settings(openai_base_url=mock_server.base_url, cache_enabled=False))
    with ThreadedServer(app) as s:
        limits = services_of(app).pipeline.limiter = RecordingLimits()
        tokens = 0
        with httpx.stream(
            "POST",
            s.url + "/chat/stream",
            json={"message": "Explain NVLink", "model": "gpt-4o"},
            headers={"X-Client-ID": "dropper"},
        ) as r:
            for line in r.iter_lines():
                tokens += line.startswith("event: token")
                if tokens == 40:
                    break  # the client goes away mid-answer
        deadline = time.monotonic() + 10
        while not limits.charges and time.monotonic() < deadline:
            time.sleep(0.02)  # the charge lands when the producer task sees the disconnect
    assert limits.charges, "nothing was charged for a stream the client dropped"
    [(client, charged)] = limits.charges
    assert client == "id:dropper" and charged >= 40, charged
    [rec] = mock.state.chat_requests()
    assert rec.outcome == "client_disconnected"  # and the upstream call was cancelled


def test_pass_through_schemas_count_as_prompt_tokens(mock_server, mock):
    """A tools or response_format schema is billed as prompt by the upstream: a small
    question with a schema larger than the whole per-minute budget is refused too."""
    app = create_app(make_settings(openai_base_url=mock_server.base_url, rate_limit_tpm=200))
    schema = {"type": "object", "description": "a field " * 400}
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is HBM3?"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    }
    with ThreadedServer(app) as s:
        r = httpx.post(s.url + "/v1/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "over_token_limit", r.text
        body.pop("response_format")
        assert httpx.post(s.url + "/v1/chat/completions", json=body).status_code == 200
    assert len(mock.state.chat_requests()) == 1
