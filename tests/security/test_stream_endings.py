"""A stream the upstream ends early must never look complete: the upstream closing cleanly
after some chunks (no finish reason, no [DONE]) ends the client's stream with an error."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.support import parse_sse


@pytest.mark.parametrize("after", [3, 20])
def test_a_truncated_upstream_stream_ends_the_chat_stream_with_an_error(client, mock, after):
    mock.state.fail_next(1, "truncate", after_chunks=after)
    with client.stream("POST", "/chat/stream", json={"message": "Explain NVLink 4.0"}) as r:
        events = parse_sse(r.iter_lines())
    kinds = [e.event for e in events]
    assert kinds[-1] == "error" and "done" not in kinds, kinds[-3:]
    assert events[-1].json()["type"] == "upstream_error"
    assert "before the answer was complete" in events[-1].json()["message"]


def test_a_truncated_upstream_stream_is_an_error_on_v1_not_a_stop(service, mock):
    sdk = openai.OpenAI(base_url=service.url + "/v1", api_key="x", max_retries=0)
    mock.state.fail_next(1, "truncate", after_chunks=20)
    got = []
    with pytest.raises(openai.APIError):
        for chunk in sdk.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Explain NVLink"}],
            stream=True,
        ):
            got.append(chunk)
    assert got and not any(c.choices and c.choices[0].finish_reason for c in got)


def test_the_raw_v1_stream_has_no_done_after_a_truncation(service, mock):
    mock.state.fail_next(1, "truncate", after_chunks=10)
    with httpx.stream(
        "POST",
        service.url + "/v1/chat/completions",
        json={
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "Explain NVLink"}],
        },
    ) as r:
        body = r.read().decode()
    assert "[DONE]" not in body and '"finish_reason": "stop"' not in body
    assert '"type": "server_error"' in body and '"code": "upstream_error"' in body


def test_a_truncation_before_the_first_token_is_retried(client, mock):
    mock.state.fail_next(1, "truncate", after_chunks=0)
    with client.stream("POST", "/chat/stream", json={"message": "What is HBM3?"}) as r:
        events = parse_sse(r.iter_lines())
    assert events[-1].event == "done" and len(mock.state.chat_requests()) == 2
