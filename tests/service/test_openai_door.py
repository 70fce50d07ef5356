"""The OpenAI-compatible door is honest: what it does not interpret reaches the upstream as
sent and is part of the cache's key; what it cannot honour is refused by name."""

from __future__ import annotations

import openai
import pytest


@pytest.fixture
def sdk(service):
    return openai.OpenAI(base_url=service.url + "/v1", api_key="anything", max_retries=0)


ASK = [{"role": "user", "content": "What is HBM3?"}]
PASSED = {
    "stop": ["\n\n"],
    "seed": 7,
    "response_format": {"type": "json_object"},
    "user": "student-17",
    "presence_penalty": 0.5,
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"part": {"type": "string"}}},
            },
        }
    ],
    "tool_choice": "auto",
}


def test_what_the_door_does_not_interpret_reaches_the_upstream_as_sent(sdk, mock):
    sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, **PASSED)
    [rec] = mock.state.chat_requests()
    for name, value in PASSED.items():
        assert rec.body[name] == value, name


def test_tool_messages_reach_the_upstream_whole(sdk, mock):
    messages = [
        {"role": "user", "content": "Which part is in stock?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"part": "H100"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"in_stock": 4}'},
    ]
    sdk.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=PASSED["tools"])
    [rec] = mock.state.chat_requests()
    assert rec.body["messages"] == [{k: v for k, v in m.items() if v is not None} for m in messages]


@pytest.mark.parametrize(
    "extra",
    [
        {"response_format": {"type": "json_object"}},
        {"seed": 1},
        {"stop": ["."]},
        {"tools": PASSED["tools"]},
    ],
    ids=["json mode", "seed", "stop", "tools"],
)
def test_a_request_with_another_answer_parameter_is_never_served_the_plain_answer(sdk, mock, extra):
    plain = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=ASK)
    again = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=ASK)
    assert (plain.headers["x-cache"], again.headers["x-cache"]) == ("MISS", "HIT")
    other = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=ASK, **extra
    )
    assert other.headers["x-cache"] == "MISS"
    assert len(mock.state.chat_requests()) == 2


def test_the_end_user_id_does_not_split_the_cache(sdk, mock):
    a = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=ASK, user="alice"
    )
    b = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=ASK, user="bob")
    assert (a.headers["x-cache"], b.headers["x-cache"]) == ("MISS", "HIT")


@pytest.mark.parametrize(
    "extra,param",
    [({"n": 2}, "n"), ({"logprobs": True}, "logprobs"), ({"top_logprobs": 3}, "logprobs")],
)
def test_what_the_door_cannot_honour_is_refused_by_name(sdk, mock, extra, param):
    with pytest.raises(openai.BadRequestError) as e:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, **extra)
    assert e.value.param == param and e.value.code == "unsupported_parameter"
    assert mock.state.chat_requests() == []


def test_n_of_one_is_fine(sdk):
    assert sdk.chat.completions.create(model="gpt-4o-mini", messages=ASK, n=1).choices


def test_tools_are_refused_on_a_guarded_path(guarded, mock):
    r = guarded.post(
        "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": ASK, "tools": PASSED["tools"]},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"


ARGS = '{"part": "H100 SXM5", "warehouse": "eu-west"}'


def test_a_tool_call_answer_is_relayed_and_not_cached(sdk, mock):
    mock.state.script_tool_call("lookup", ARGS)
    r = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=ASK, tools=PASSED["tools"]
    )
    choice = r.parse().choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls
    assert call.function.name == "lookup" and call.function.arguments == ARGS
    again = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=ASK, tools=PASSED["tools"]
    )
    assert again.headers["x-cache"] == "MISS"  # a tool call is never served from the cache
    assert again.parse().choices[0].message.content  # (this time the fake answered in text)


def test_a_streamed_tool_call_is_relayed_piece_by_piece(sdk, mock):
    mock.state.script_tool_call("lookup", ARGS)
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=ASK, tools=PASSED["tools"], stream=True
        )
    )
    pieces = [
        c.choices[0].delta.tool_calls[0]
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
    ]
    assert len(pieces) > 3  # chunk by chunk, not gathered into one
    assert pieces[0].function.name == "lookup" and pieces[0].id
    assert "".join(p.function.arguments or "" for p in pieces) == ARGS
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_a_json_mode_stream_is_relayed_chunk_by_chunk(sdk, mock):
    mock.state.script_answer('{"answer": "HBM3 is stacked DRAM", "confidence": 0.9}')
    chunks = list(
        sdk.chat.completions.create(
            model="gpt-4o-mini", messages=ASK, stream=True, response_format={"type": "json_object"}
        )
    )
    texts = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(texts) > 5 and "".join(texts).startswith('{"answer"')
    assert mock.state.chat_requests()[0].body["response_format"] == {"type": "json_object"}
