"""The service's contract on every upstream it claims to work with: OpenAI, vLLM, Ollama and
llama.cpp's server, as the fake imitates each (mock_llm/README.md, "Upstream profiles"),
with only OPENAI_BASE_URL and the model names set, as docs/REAL_MODELS.md says. Chat, the
lecture's streams, the /v1 door through the SDK, errors, the cache's scope and moderation."""

from __future__ import annotations

import httpx
import openai
import pytest

from mock_llm import ThreadedServer
from reference_service import create_app, services_of
from tests.support import make_settings, parse_sse

ASK = "What is HBM3?"


@pytest.fixture(scope="module")
def gateway(upstream):
    """The service on this upstream: its two models, moderation left to `auto`."""
    profile = upstream.config.upstream
    app = create_app(
        make_settings(
            openai_base_url=upstream.base_url,
            default_model=profile.cheap_model,
            strong_model=profile.strong_model,
        )
    )
    with ThreadedServer(app) as server:
        server.app, server.profile = app, profile
        yield server


@pytest.fixture
def gw(gateway, upstream):
    upstream.state.reset()
    gateway.run_in_loop(services_of(gateway.app).cache.clear())
    with httpx.Client(base_url=gateway.url, timeout=20) as c:
        yield c


def test_chat_answers_with_the_lectures_fields(gw, gateway):
    body = gw.post("/chat", json={"message": ASK}).json()
    assert body["answer"].startswith("HBM3") and body["model_used"] == gateway.profile.cheap_model
    assert body["tokens_used"] == body["usage"]["total_tokens"] > body["usage"]["prompt_tokens"]


def test_the_lectures_stream_arrives_token_by_token_with_usage(gw):
    with gw.stream(
        "POST", "/chat/stream", json={"message": ASK, "stream_options": {"include_usage": True}}
    ) as r:
        events = parse_sse(r.iter_lines())
    tokens = [e.data for e in events if e.event == "token"]
    assert [e.event for e in events][-2:] == ["usage", "done"] and len(tokens) > 10
    usage = events[-2].json()
    assert usage["completion_tokens"] == len(tokens)  # the upstream's own count, per token
    assert usage["finish_reason"] == "stop"


def test_the_openai_door_through_the_sdk(gateway, upstream):
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    model = gateway.profile.strong_model
    whole = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": ASK}],
        response_format={"type": "json_object"},
        seed=3,
    )
    assert whole.choices[0].message.content and whole.usage.total_tokens > 0
    chunks = list(
        sdk.chat.completions.create(
            model=model,
            messages=[{"role": "user", "content": "Explain NVLink"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].usage.completion_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_a_json_mode_request_is_never_served_the_plain_answer(gateway, upstream):
    sdk = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    model = gateway.profile.cheap_model
    ask = [{"role": "user", "content": ASK}]
    for _ in range(2):
        sdk.chat.completions.create(model=model, messages=ask)
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=ask, response_format={"type": "json_object"}
    )
    assert raw.headers["x-cache"] == "MISS"


def test_upstream_errors_become_the_services_statuses(gw, upstream):
    upstream.state.fail_next(3, "overloaded")  # every attempt: each server's own 503
    r = gw.post("/chat", json={"message": ASK})
    assert r.status_code == 503 and r.json()["error"]["type"] == "upstream_unavailable"
    assert "retry-after" in r.headers
    r = gw.post("/chat", json={"message": ASK, "model": "no-such-model"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "unknown_model"


def test_guarded_chat_works_with_whatever_moderation_there_is(gw, gateway):
    mode = services_of(gateway.app).moderator.mode
    assert mode == ("upstream" if gateway.profile.has_moderations else "local")
    assert gw.post("/chat/safe", json={"message": ASK}).status_code == 200
    r = gw.post("/chat/safe", json={"message": "MODERATION_TEST_FLAG:violence"})
    assert r.status_code == 400 and r.json()["error"]["categories"] == ["violence"]
    assert gw.get("/health/detailed").json()["checks"]["moderation"] is True
