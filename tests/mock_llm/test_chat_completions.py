"""The fake server through the official openai SDK, unmodified, via base_url."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from mock_llm.knowledge import KNOWLEDGE
from reference_service.tokens import count_chat_tokens, split_tokens
from tests.mock_llm.support import HBM, sse_data


def test_answer_comes_from_the_knowledge_base_with_real_token_counts(sdk):
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM)
    text = r.choices[0].message.content
    assert text.startswith("HBM3 is a stacked DRAM standard")
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.completion_tokens == len(split_tokens(text))
    assert r.usage.prompt_tokens == count_chat_tokens(HBM)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_strong_model_gives_the_detailed_answer(sdk):
    mini = sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM).choices[0].message.content
    strong = sdk.chat.completions.create(model="gpt-4o", messages=HBM).choices[0].message.content
    assert strong.startswith(mini) and len(strong) > len(mini)


def test_answers_are_deterministic_and_unknown_topics_get_a_template(sdk):
    msgs = [{"role": "user", "content": "How do I bake sourdough bread?"}]
    a = sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs).choices[0].message.content
    b = sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs).choices[0].message.content
    assert a == b and "How do I bake sourdough bread?" in a and "mock answer" in a


def test_every_knowledge_entry_is_reachable_by_its_topic(sdk):
    for entry in KNOWLEDGE:
        msgs = [{"role": "user", "content": f"Explain {entry.topic}"}]
        text = (
            sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs)
            .choices[0]
            .message.content
        )
        assert text.startswith(entry.answer[:40]), entry.topic


def test_follow_up_without_a_topic_uses_the_conversation(sdk):
    msgs = [
        {"role": "user", "content": "What is CXL?"},
        {"role": "assistant", "content": "..."},
        {"role": "user", "content": "Tell me more"},
    ]
    text = (
        sdk.chat.completions.create(model="gpt-4o-mini", messages=msgs).choices[0].message.content
    )
    assert text.startswith("Following up on CXL:")


def test_stream_joins_to_the_same_answer_with_a_final_usage_chunk(sdk):
    full = sdk.chat.completions.create(model="gpt-4o", messages=HBM).choices[0].message.content
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o", messages=HBM, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full
    assert chunks[-2].choices[0].finish_reason == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == len(split_tokens(full))
    assert all(c.usage is None for c in chunks[:-1])


def test_stream_without_include_usage_has_no_usage_and_ends_with_done(mock):
    body = {"model": "gpt-4o-mini", "messages": HBM, "stream": True}
    with httpx.stream("POST", mock.base_url + "/chat/completions", json=body) as r:
        events = sse_data(r.iter_lines())
    assert events[-1] == "[DONE]"
    assert all("usage" not in json.loads(e) for e in events[:-1])


def test_max_tokens_truncates_with_finish_reason_length(sdk):
    r = sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM, max_tokens=5)
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 5


def test_unknown_model_and_bad_bodies_are_openai_style_errors(sdk, mock):
    with pytest.raises(openai.NotFoundError) as e:
        sdk.chat.completions.create(model="gpt-9", messages=HBM)
    assert e.value.body["code"] == "model_not_found"
    for body in (
        {"model": "gpt-4o-mini"},
        {"model": "gpt-4o-mini", "messages": []},
        {"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]},
        {"messages": HBM},
    ):
        r = httpx.post(mock.base_url + "/chat/completions", json=body)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = httpx.post(mock.base_url + "/chat/completions", content=b"{nope")
    assert r.status_code == 400


def test_models_endpoint_lists_both_models(sdk):
    assert {m.id for m in sdk.models.list()} >= {"gpt-4o-mini", "gpt-4o"}
    assert sdk.models.retrieve("gpt-4o").id == "gpt-4o"


def test_realistic_timing_honours_the_headers(mock):
    mock.config.latency = "realistic"
    sdk = openai.OpenAI(
        base_url=mock.base_url,
        api_key="mock",
        max_retries=0,
        default_headers={"X-Mock-TTFT-Ms": "300", "X-Mock-TPS": "1000"},
    )
    start = time.perf_counter()
    stream = sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM, stream=True)
    next(iter(stream))
    assert time.perf_counter() - start >= 0.3  # the first token waits for the TTFT
    stream.close()


def test_zero_latency_header_overrides_realistic_config(mock):
    mock.config.latency = "realistic"
    sdk = openai.OpenAI(
        base_url=mock.base_url,
        api_key="mock",
        max_retries=0,
        default_headers={"X-Mock-Latency": "zero"},
    )
    start = time.perf_counter()
    sdk.chat.completions.create(model="gpt-4o", messages=HBM)
    # realistic gpt-4o would need 0.6 s + ~70 tokens / 40 tok/s > 2 s
    assert time.perf_counter() - start < 2.0


def test_request_log_records_what_was_received_without_the_key(sdk, mock):
    sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM, temperature=0.2)
    [rec] = mock.state.chat_requests()
    assert rec.body["messages"] == HBM and rec.body["temperature"] == 0.2
    assert rec.status == 200 and rec.outcome == "completed"
    assert "authorization" not in rec.headers
    listed = httpx.get(mock.url + "/_mock/requests").json()
    assert listed[0]["body"]["model"] == "gpt-4o-mini"
    assert httpx.delete(mock.url + "/_mock/requests").status_code == 204
    assert mock.state.requests == []


def test_scripted_answers_replace_the_knowledge_base(sdk, mock):
    mock.state.script_answer("Scripted <PERSON_1> answer.", count=1)
    first = sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM)
    second = sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM)
    assert first.choices[0].message.content == "Scripted <PERSON_1> answer."
    assert second.choices[0].message.content.startswith("HBM3")
    assert httpx.post(mock.url + "/_mock/answers", json={"text": "via http"}).status_code == 204
    assert (
        sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM).choices[0].message.content
        == "via http"
    )
