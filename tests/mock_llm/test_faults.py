"""Fault injection: per request (header) and by schedule, seen through the openai SDK."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from mock_llm import MockState
from tests.mock_llm.support import HBM


def ask(sdk, **kw):
    return sdk.chat.completions.create(model="gpt-4o-mini", messages=HBM, **kw)


def test_429_with_retry_after_from_the_schedule(sdk, mock):
    mock.state.fail_next(1, "429", retry_after=2)
    with pytest.raises(openai.RateLimitError) as e:
        ask(sdk)
    assert e.value.response.headers["retry-after"] == "2"
    assert e.value.body["type"] == "rate_limit_exceeded"
    assert ask(sdk).choices[0].message.content  # the next one succeeds


@pytest.mark.parametrize(
    "kind,exc",
    [
        ("500", openai.InternalServerError),
        ("503", openai.InternalServerError),
        ("400", openai.BadRequestError),
        ("401", openai.AuthenticationError),
    ],
)
def test_status_faults_by_header(sdk, kind, exc):
    with pytest.raises(exc) as e:
        ask(sdk, extra_headers={"X-Mock-Fault": kind})
    assert e.value.status_code == int(kind)


def test_fail_next_n_then_recover(sdk, mock):
    mock.state.fail_next(2, "500")
    outcomes = []
    for _ in range(3):
        try:
            ask(sdk)
            outcomes.append(200)
        except openai.InternalServerError:
            outcomes.append(500)
    assert outcomes == [500, 500, 200]
    assert [r.status for r in mock.state.chat_requests()] == [500, 500, 200]
    assert mock.state.rules() == []  # an exhausted rule goes away


def test_random_faults_are_reproducible_for_a_seed():
    def pattern(seed):
        state = MockState()
        state.fail_randomly(0.3, "500", seed=seed)
        return [state.next_fault("chat", "gpt-4o-mini") is not None for _ in range(200)]

    a, b = pattern(7), pattern(7)
    assert a == b
    assert 40 <= sum(a) <= 80  # about 30% of 200
    assert pattern(8) != a


def test_rules_filter_by_model_and_endpoint(sdk, mock):
    mock.state.fail_next(1, "503", model="gpt-4o")
    assert ask(sdk).choices  # gpt-4o-mini is not affected
    with pytest.raises(openai.InternalServerError):
        sdk.chat.completions.create(model="gpt-4o", messages=HBM)
    mock.state.fail_next(1, "500", endpoint="moderations")
    assert ask(sdk).choices
    with pytest.raises(openai.InternalServerError):
        sdk.moderations.create(input="hello")


def test_hang_holds_past_the_client_timeout_and_sees_the_disconnect(sdk, mock):
    mock.state.fail_next(1, "hang")
    start = time.perf_counter()
    with pytest.raises(openai.APITimeoutError):
        sdk.with_options(timeout=0.3).chat.completions.create(model="gpt-4o-mini", messages=HBM)
    assert time.perf_counter() - start >= 0.3
    deadline = time.monotonic() + 5
    while mock.state.chat_requests()[0].outcome != "client_disconnected":
        assert time.monotonic() < deadline, "the mock never noticed the client leaving"
        time.sleep(0.02)


def test_drop_cuts_the_stream_after_n_chunks(sdk, mock):
    mock.state.fail_next(1, "drop", after_chunks=4)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in ask(sdk, stream=True):
            received.append(chunk)
    assert len(received) == 4  # the role chunk and three tokens
    assert mock.state.chat_requests()[0].outcome == "fault"


def test_drop_without_stream_cuts_the_body(sdk, mock):
    mock.state.fail_next(1, "drop")
    with pytest.raises(openai.APIConnectionError):
        ask(sdk)


def test_malformed_chunk_and_body(sdk, mock):
    mock.state.fail_next(1, "malformed", after_chunks=2)
    got = []
    with pytest.raises(ValueError):  # json.JSONDecodeError inside the SDK's stream
        for chunk in ask(sdk, stream=True):
            got.append(chunk)
    assert len(got) == 2
    mock.state.fail_next(1, "malformed")
    with pytest.raises(ValueError):
        ask(sdk)


def test_http_control_api(mock, sdk):
    r = httpx.post(mock.url + "/_mock/faults", json={"kind": "429", "count": 1, "retry_after": 1})
    assert r.status_code == 201 and r.json()["count"] == 1
    assert httpx.get(mock.url + "/_mock/faults").json()[0]["fault"]["kind"] == "429"
    with pytest.raises(openai.RateLimitError):
        ask(sdk)
    httpx.post(mock.url + "/_mock/faults", json={"kind": "500", "rate": 1.0, "seed": 3})
    assert httpx.delete(mock.url + "/_mock/faults").status_code == 204
    assert ask(sdk).choices
    for bad in (
        {"kind": "teapot", "count": 1},
        {"kind": "500"},
        {"kind": "500", "count": 1, "rate": 0.5},
        {"count": 1},
    ):
        assert httpx.post(mock.url + "/_mock/faults", json=bad).status_code == 400
    assert (
        httpx.put(mock.url + "/_mock/config", json={"latency": "realistic"}).json()["latency"]
        == "realistic"
    )
    assert httpx.put(mock.url + "/_mock/config", json={"latency": "fast"}).status_code == 400


def test_bad_control_input_is_a_400_not_a_500(mock, sdk):
    assert httpx.post(mock.url + "/_mock/faults", json=["500"]).status_code == 400
    assert httpx.put(mock.url + "/_mock/config", content=b"{nope").status_code == 400
    with pytest.raises(openai.BadRequestError):
        ask(sdk, extra_headers={"X-Mock-TPS": "fast"})
    with pytest.raises(openai.BadRequestError):
        ask(sdk, extra_headers={"X-Mock-Fault": "teapot"})
