"""Upstream profiles through the official openai SDK: the fake answering as OpenAI's API,
vLLM, Ollama and llama.cpp's server (mock_llm/profiles/ cites each behaviour's source)."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from mock_llm import PROFILES, MockConfig, get_profile
from reference_service.tokens import count_chat_tokens
from tests.mock_llm.support import HBM, sdk_for, sse_data, sse_json

OWNER = {"openai": "mock_llm", "vllm": "vllm", "ollama": "library", "llamacpp": "llamacpp"}


def name_of(server) -> str:
    return server.config.profile


def test_models_are_listed_with_each_servers_naming(fresh_upstream):
    profile = get_profile(name_of(fresh_upstream))
    models = sdk_for(fresh_upstream).models.list().data
    assert [m.id for m in models] == list(profile.models())
    assert {m.owned_by for m in models} == {OWNER[profile.name]}
    expected_names = {
        "openai": "gpt-4o-mini",
        "vllm": "meta-llama/Llama-3.2-3B-Instruct",
        "ollama": "llama3.2:3b",
        "llamacpp": "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
    }
    assert profile.cheap_model == expected_names[profile.name]


def test_a_chat_answer_carries_real_usage_and_the_model_name(fresh_upstream):
    sdk = sdk_for(fresh_upstream)
    model = fresh_upstream.config.upstream.cheap_model
    r = sdk.chat.completions.create(model=model, messages=HBM)
    assert r.choices[0].message.content.startswith("HBM3 is a stacked DRAM standard")
    assert r.choices[0].finish_reason == "stop" and r.model == model
    assert r.usage.prompt_tokens == count_chat_tokens(HBM)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streams_have_no_usage_unless_include_usage_is_asked(fresh_upstream):
    model = fresh_upstream.config.upstream.cheap_model
    body = {"model": model, "messages": HBM, "stream": True}
    with httpx.stream("POST", fresh_upstream.base_url + "/chat/completions", json=body) as r:
        payloads = sse_data(r.iter_lines())
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all("usage" not in c for c in chunks)
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "stop" and finishes.count("stop") == 1
    if name_of(fresh_upstream) == "llamacpp":  # its last chunk carries the timings
        assert chunks[-1]["timings"]["predicted_n"] > 0


def test_with_include_usage_a_last_chunk_without_choices_carries_it(fresh_upstream):
    sdk = sdk_for(fresh_upstream)
    model = fresh_upstream.config.upstream.cheap_model
    whole = sdk.chat.completions.create(model=model, messages=HBM)
    chunks = list(
        sdk.chat.completions.create(
            model=model, messages=HBM, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_each_server_shapes_its_stream_chunks_its_own_way(fresh_upstream):
    profile = name_of(fresh_upstream)
    body = {
        "model": fresh_upstream.config.upstream.cheap_model,
        "messages": HBM,
        "stream": True,
        "max_tokens": 3,
    }
    with httpx.stream("POST", fresh_upstream.base_url + "/chat/completions", json=body) as r:
        chunks = sse_json(r.iter_lines())
    deltas = [c["choices"][0]["delta"] for c in chunks]
    reasons = [c["choices"][0]["finish_reason"] for c in chunks]
    if profile == "openai":  # a role chunk, 3 tokens, an empty chunk with the finish reason
        assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
        assert len(chunks) == 5 and reasons.index("length") == 4 and deltas[4] == {}
    elif profile == "vllm":  # a role chunk, 3 tokens; the finish reason rides on the last
        assert deltas[0] == {"role": "assistant", "content": ""}
        assert len(chunks) == 4 and reasons.index("length") == 3 and deltas[3]["content"]
    elif profile == "ollama":  # 3 tokens with the role in each, then an empty finishing one
        assert all(d["role"] == "assistant" for d in deltas) and deltas[0]["content"]
        assert len(chunks) == 4 and reasons.index("length") == 3 and deltas[3]["content"] == ""
        assert {c["system_fingerprint"] for c in chunks} == {"fp_ollama"}
    else:  # llama.cpp: a role chunk with content null, 3 tokens, an empty finishing chunk
        assert deltas[0] == {"role": "assistant", "content": None}
        assert len(chunks) == 5 and reasons.index("length") == 4 and deltas[4] == {}


def test_moderations_exist_only_on_openai(fresh_upstream):
    sdk = sdk_for(fresh_upstream)
    if name_of(fresh_upstream) == "openai":
        assert sdk.moderations.create(input="hello").results[0].flagged is False
        return
    with pytest.raises(openai.NotFoundError) as e:
        sdk.moderations.create(input="hello")
    r = e.value.response
    expected = {
        "vllm": {
            "error": {"message": "Not Found", "type": "Not Found", "param": None, "code": 404}
        },
        "llamacpp": {
            "error": {"code": 404, "message": "File Not Found", "type": "not_found_error"}
        },
    }
    if name_of(fresh_upstream) == "ollama":  # gin's own 404, not JSON
        assert r.headers["content-type"].startswith("text/plain")
        assert r.text == "404 page not found"
    else:
        assert r.json() == expected[name_of(fresh_upstream)]
    assert fresh_upstream.state.requests == []  # an unknown route reaches no handler


def test_an_unknown_model_is_each_servers_404_or_any_name_on_llamacpp(fresh_upstream):
    sdk = sdk_for(fresh_upstream)
    profile = name_of(fresh_upstream)
    if profile == "llamacpp":  # one model answers whatever name the request gives
        r = sdk.chat.completions.create(model="gpt-9", messages=HBM)
        assert r.model == "gpt-9" and r.choices[0].message.content.startswith("HBM3")
        return
    with pytest.raises(openai.NotFoundError) as e:
        sdk.chat.completions.create(model="gpt-9", messages=HBM)
    error = e.value.response.json()["error"]
    expected = {
        "openai": (
            "not_found_error",
            "model_not_found",
            "The model `gpt-9` does not exist or you do not have access to it.",
        ),
        "vllm": ("NotFoundError", 404, "The model `gpt-9` does not exist."),
        "ollama": ("not_found_error", None, "model 'gpt-9' not found"),
    }[profile]
    assert (error["type"], error["code"], error["message"]) == expected
    assert fresh_upstream.state.chat_requests()[0].outcome == "error"


def test_ollama_reads_a_name_without_tag_as_latest():
    from mock_llm import MockLLMServer

    with MockLLMServer(MockConfig(profile="ollama", latency="zero")) as server:
        sdk = sdk_for(server)
        assert sdk.chat.completions.create(model="llama3.2:3b", messages=HBM).model == "llama3.2:3b"
        with pytest.raises(openai.NotFoundError, match=r"model 'llama3\.2' not found"):
            sdk.chat.completions.create(model="llama3.2", messages=HBM)  # llama3.2:latest
        assert sdk.models.retrieve("llama3.1:8b").id == "llama3.1:8b"
        with pytest.raises(openai.NotFoundError, match=r"model 'llama3\.2' not found"):
            sdk.models.retrieve("llama3.2")


def test_retrieving_a_model(fresh_upstream):
    sdk = sdk_for(fresh_upstream)
    model = fresh_upstream.config.upstream.cheap_model
    if name_of(fresh_upstream) == "llamacpp":  # llama-server has no /v1/models/{id}
        with pytest.raises(openai.NotFoundError, match="File Not Found"):
            sdk.models.retrieve(model)
        return
    assert sdk.models.retrieve(model).id == model  # vLLM's ids have a slash in them
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no-such-model")


@pytest.mark.parametrize(
    "body,raw", [({"model": "M"}, None), (None, b"{nope")], ids=["no messages", "not JSON"]
)
def test_invalid_bodies_get_each_servers_status_and_shape(fresh_upstream, body, raw):
    profile = name_of(fresh_upstream)
    if body is not None:
        body = {"model": fresh_upstream.config.upstream.cheap_model}
    r = httpx.post(fresh_upstream.base_url + "/chat/completions", json=body, content=raw)
    error = r.json()["error"]
    status = 500 if profile == "llamacpp" and raw else 400  # llama.cpp: an unhandled parse error
    assert r.status_code == status
    expected_type = {
        "openai": "invalid_request_error",
        "vllm": "Bad Request",
        "ollama": "invalid_request_error",
        "llamacpp": "server_error" if raw else "invalid_request_error",
    }[profile]
    assert error["type"] == expected_type
    if profile in ("vllm", "llamacpp"):
        assert error["code"] == status  # both write the status as a number
    if profile == "llamacpp" and not raw:
        assert error["message"] == "'messages' is required"
    if profile == "ollama" and not raw:
        assert error["message"] == "[] is too short - 'messages'"
    assert fresh_upstream.state.requests[-1].status == status


def test_context_too_long_is_an_error_except_on_ollama_which_truncates(fresh_upstream):
    profile = name_of(fresh_upstream)
    sdk = sdk_for(fresh_upstream)
    model = fresh_upstream.config.upstream.cheap_model
    long = [{"role": "user", "content": "What is HBM3? " + "Tell me about memory. " * 20}]
    n = count_chat_tokens(long)
    fresh_upstream.config.context_length = 40
    try:
        assert n > 40
        if profile == "ollama":  # a 200: the front of the prompt was dropped, silently
            r = sdk.chat.completions.create(model=model, messages=long)
            assert r.usage.prompt_tokens == 40 // 2 + 2
            return
        with pytest.raises(openai.BadRequestError) as e:
            sdk.chat.completions.create(model=model, messages=long)
    finally:
        fresh_upstream.config.context_length = None
    error = e.value.response.json()["error"]
    if profile == "openai":
        assert error["code"] == "context_length_exceeded" and error["param"] == "messages"
    elif profile == "vllm":
        assert error["type"] == "BadRequestError" and error["param"] == "input_tokens"
        assert f"your request has {n} input tokens" in error["message"]
    else:
        assert error["type"] == "exceed_context_size_error"
        assert (error["n_prompt_tokens"], error["n_ctx"]) == (n, 40)


def test_vllm_refuses_max_tokens_past_its_context():
    from mock_llm import MockLLMServer

    with (
        MockLLMServer(MockConfig(profile="vllm", latency="zero")) as server,
        pytest.raises(
            openai.BadRequestError,
            match="'max_tokens' or 'max_completion_tokens' is too large: 9000",
        ),
    ):
        sdk_for(server).chat.completions.create(
            model=server.config.upstream.cheap_model, messages=HBM, max_tokens=9000
        )


def test_overloaded_is_each_servers_503(fresh_upstream):
    sdk = sdk_for(fresh_upstream)
    with pytest.raises(openai.InternalServerError) as e:
        sdk.chat.completions.create(
            model=fresh_upstream.config.upstream.cheap_model,
            messages=HBM,
            extra_headers={"X-Mock-Fault": "overloaded"},
        )
    assert e.value.status_code == 503
    message = e.value.response.json()["error"]["message"]
    expected = {
        "openai": "The engine is currently overloaded, please try again later",
        "vllm": "Request rejected: the queue is full (--max-num-queued-reqs).",
        "ollama": "server busy, please try again.  maximum pending requests exceeded",
        "llamacpp": "Loading model",
    }[name_of(fresh_upstream)]
    assert message == expected
    assert fresh_upstream.state.chat_requests()[0].outcome == "fault"


def test_injected_statuses_use_each_servers_error_shape(fresh_upstream):
    fresh_upstream.state.fail_next(1, "429", retry_after=2)
    with pytest.raises(openai.RateLimitError) as e:
        sdk_for(fresh_upstream).chat.completions.create(
            model=fresh_upstream.config.upstream.cheap_model, messages=HBM
        )
    assert e.value.response.headers["retry-after"] == "2"
    error = e.value.response.json()["error"]
    assert {"message", "type"} <= error.keys()
    if name_of(fresh_upstream) in ("vllm", "llamacpp"):
        assert error["code"] == 429


def test_a_model_is_optional_on_vllm_and_llamacpp_only(fresh_upstream):
    r = httpx.post(fresh_upstream.base_url + "/chat/completions", json={"messages": HBM})
    if name_of(fresh_upstream) in ("vllm", "llamacpp"):
        assert r.status_code == 200
        assert r.json()["model"] == fresh_upstream.config.upstream.cheap_model
    else:
        assert r.status_code == 400


def test_vllm_refuses_stream_options_without_stream():
    from mock_llm import MockLLMServer

    with MockLLMServer(MockConfig(profile="vllm", latency="zero")) as server:
        with pytest.raises(openai.BadRequestError) as e:
            sdk_for(server).chat.completions.create(
                model=server.config.upstream.cheap_model,
                messages=HBM,
                stream_options={"include_usage": True},
            )
        error = e.value.response.json()["error"]
        assert error["param"] == "stream_options" and "stream=True" in error["message"]


def test_the_profile_is_chosen_at_run_time_over_http(mock):
    try:
        r = httpx.put(mock.url + "/_mock/config", json={"profile": "ollama"})
        assert r.status_code == 200 and r.json()["profile"] == "ollama"
        ids = [m.id for m in sdk_for(mock).models.list().data]
        assert ids == ["llama3.2:3b", "llama3.1:8b"]
        assert httpx.post(mock.base_url + "/moderations", json={"input": "x"}).status_code == 404
        assert httpx.put(mock.url + "/_mock/config", json={"profile": "tgi"}).status_code == 400
        assert httpx.get(mock.url + "/_mock/config").json()["upstream"]["name"] == "ollama"
    finally:
        mock.config.use_profile("openai")
    assert [m.id for m in sdk_for(mock).models.list().data] == ["gpt-4o-mini", "gpt-4o"]


def test_the_profile_is_chosen_by_config_and_environment(monkeypatch):
    assert MockConfig().profile == "openai"
    assert (
        next(iter(MockConfig(profile="vllm").served_models)) == "meta-llama/Llama-3.2-3B-Instruct"
    )
    monkeypatch.setenv("MOCK_PROFILE", "llamacpp")
    monkeypatch.setenv("MOCK_TTFT_MS", "5")
    cfg = MockConfig.from_env()
    assert cfg.profile == "llamacpp" and cfg.served_models[cfg.upstream.cheap_model].ttft_ms == 5
    assert MockConfig.from_env(profile="ollama").profile == "ollama"  # the CLI flag wins
    with pytest.raises(ValueError, match="unknown profile 'tgi'"):
        MockConfig(profile="tgi")
    assert set(PROFILES) == {"openai", "vllm", "ollama", "llamacpp"}


def test_unknown_routes_answer_as_each_server(fresh_upstream):
    r = httpx.get(fresh_upstream.base_url + "/nothing-here")
    assert r.status_code == 404
    if name_of(fresh_upstream) == "openai":
        assert r.json()["error"]["message"] == "Invalid URL (GET /v1/nothing-here)"
    elif name_of(fresh_upstream) == "ollama":
        assert r.text == "404 page not found"
    else:
        assert r.json()["error"]["code"] == 404
