"""POST /chat and the OpenAI-compatible front door, over real HTTP to the fake LLM."""

from __future__ import annotations

import openai
import pytest

from mock_llm import ThreadedServer
from mock_llm.knowledge import find_entry
from reference_service import Settings, create_app
from tests.support import make_settings, parse_sse


def test_chat_answers_with_usage_model_and_request_id(client, mock):
    r = client.post("/chat", json={"message": "What is HBM3?"})
    assert r.status_code == 200
    body = r.json()
    assert body["answer"] == body["response"] == find_entry("HBM3").answer
    assert body["model_used"] == body["model"] == "gpt-4o-mini" == r.headers["x-model"]
    assert body["request_id"] == r.headers["x-request-id"]
    assert (
        body["tokens_used"]
        == body["usage"]["total_tokens"]
        > body["usage"]["completion_tokens"]
        > 0
    )
    assert body["latency_ms"] > 0 and body["finish_reason"] == "stop"
    [rec] = mock.state.chat_requests()
    assert rec.body["model"] == "gpt-4o-mini" and rec.body["temperature"] == 0.2
    assert rec.body["messages"][0] == {"role": "system", "content": Settings().system_prompt}
    assert rec.body["messages"][-1] == {"role": "user", "content": "What is HBM3?"}


def test_history_is_sent_upstream_in_order(client, mock):
    history = [
        {"role": "user", "content": "What is CXL?"},
        {"role": "assistant", "content": "A coherent interconnect."},
    ]
    r = client.post("/chat", json={"message": "Tell me more", "history": history})
    assert r.json()["answer"].startswith("Following up on CXL")
    [rec] = mock.state.chat_requests()
    assert rec.body["messages"][1:] == [*history, {"role": "user", "content": "Tell me more"}]


def test_a_pinned_model_and_parameters_reach_the_upstream(client, mock):
    r = client.post(
        "/chat",
        json={
            "message": "What is NVLink?",
            "model": "gpt-4o",
            "temperature": 0.3,
            "max_tokens": 7,
            "extra": "ignored",
        },
    )
    assert r.status_code == 200
    body = r.json()
    assert body["model_used"] == "gpt-4o" and body["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 7
    [rec] = mock.state.chat_requests()
    assert rec.body["temperature"] == 0.3 and rec.body["max_tokens"] == 7


@pytest.fixture
def sdk(service):
    return openai.OpenAI(base_url=service.url + "/v1", api_key="anything", max_retries=0)


def test_openai_sdk_uses_the_service_as_base_url(sdk, mock):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is PCIe?"},
    ]
    r = sdk.chat.completions.create(model="gpt-4o", messages=messages)
    assert r.choices[0].message.content.startswith("PCI Express")
    assert r.model == "gpt-4o" and r.usage.total_tokens > 0
    [rec] = mock.state.chat_requests()
    assert rec.body["messages"] == messages  # passed through as given, no system prompt added


def test_openai_sdk_streams_through_the_service_with_usage(sdk):
    full = (
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "What is DDR5?"}]
        )
        .choices[0]
        .message.content
    )
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is DDR5?"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == full
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_openai_sdk_sees_errors_as_its_own_exceptions(sdk, mock):
    with pytest.raises(openai.BadRequestError) as e:
        sdk.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert "unknown model" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:  # OpenAI's status for an invalid request
        sdk.chat.completions.create(model="gpt-4o", messages=[])
    assert e.value.param == "messages" and e.value.code == "validation_error"
    assert e.value.type == "invalid_request_error"
    assert e.value.body["request_id"] == e.value.response.headers["x-request-id"]
    mock.state.fail_next(3, "500")  # every attempt fails
    with pytest.raises(openai.APIStatusError) as e:
        sdk.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert e.value.status_code == 502


def test_openai_stream_failing_midway_ends_with_an_error_the_sdk_raises(sdk, mock):
    mock.state.fail_next(1, "drop", after_chunks=5)
    got = []
    with pytest.raises(openai.APIError):
        for chunk in sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "What is HBM3?"}],
            stream=True,
        ):
            got.append(chunk)
    assert len(got) >= 2


def test_models_list_and_one_model(sdk):
    assert [m.id for m in sdk.models.list()] == ["gpt-4o-mini", "gpt-4o", "auto"]
    assert sdk.models.retrieve("gpt-4o").id == "gpt-4o"
    assert sdk.models.retrieve("auto").id == "auto"
    with pytest.raises(openai.NotFoundError) as e:
        sdk.models.retrieve("gpt-9")
    assert e.value.code == "model_not_found" and e.value.param == "model"


def test_embedded_default_needs_no_url_no_key_and_no_redis():
    """What `make serve` runs: no OPENAI_BASE_URL, no REDIS_URL."""
    app = create_app(make_settings(openai_api_key=None))
    with ThreadedServer(app) as server:
        import httpx

        r = httpx.post(server.url + "/chat", json={"message": "What is ECC memory?"})
        assert r.status_code == 200 and "ECC memory" in r.json()["answer"]
        d = httpx.get(server.url + "/health/detailed").json()
        assert d == {
            "status": "ok",
            "checks": {
                "api_client": True,
                "ready": True,
                "cache": True,
                "upstream": True,
                "moderation": True,
            },
        }
        with httpx.stream("GET", server.url + "/chat/stream", params={"message": "CXL?"}) as s:
            events = parse_sse(s.iter_lines())
        assert events[-1].event == "done" and events[-1].data == "[DONE]"
