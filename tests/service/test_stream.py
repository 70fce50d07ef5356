"""SSE: every event of POST /chat/stream and GET /chat/stream, and failures in a stream."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from mock_llm.knowledge import find_entry
from tests.conftest import parse_sse


def stream(client, method="POST", **kw):
    with client.stream(method, "/chat/stream", **kw) as r:
        return r, parse_sse(r.iter_lines())


def check_complete(events, answer):
    kinds = [e.event for e in events]
    assert kinds[-2:] == ["usage", "done"] and set(kinds[:-2]) == {"token"}
    assert "".join(e.json()["token"] for e in events[:-2]) == answer
    usage, done = events[-2].json(), events[-1].json()
    assert usage["completion_tokens"] == len(events) - 2
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    return done


def test_post_stream_sends_tokens_usage_done(client):
    r, events = stream(client, json={"message": "What is HBM3?"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-accel-buffering"] == "no" and r.headers["x-model"] == "gpt-4o-mini"
    done = check_complete(events, find_entry("HBM3").answer)
    assert done["request_id"] == r.headers["x-request-id"]
    assert done["model"] == "gpt-4o-mini" and done["finish_reason"] == "stop"
    assert done["latency_ms"] >= done["ttft_ms"] >= 0


def test_get_stream_for_eventsource(client):
    r, events = stream(client, "GET", params={"message": "What is NVLink?", "model": "gpt-4o"})
    assert r.status_code == 200
    e = find_entry("NVLink")
    check_complete(events, f"{e.answer} {e.detail}")


def test_stream_bad_input_is_a_json_error_not_a_stream(client, mock):
    r = client.get("/chat/stream")
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation_error"
    r = client.get("/chat/stream", params={"message": "   "})
    assert r.status_code == 422
    r = client.post("/chat/stream", json={"message": "x", "model": "nope"})
    assert r.status_code == 400
    assert mock.state.chat_requests() == []


def test_upstream_failure_before_the_first_token_gets_its_status(client, mock):
    mock.state.fail_next(3, "503", retry_after=3)  # every attempt fails
    r = client.post("/chat/stream", json={"message": "What is HBM3?"})
    assert r.status_code == 503 and r.headers["retry-after"] == "3"
    assert r.json()["error"]["type"] == "upstream_unavailable"


def test_stream_cut_after_the_first_token_ends_with_an_error_event(client, mock):
    mock.state.fail_next(1, "drop", after_chunks=4)
    r, events = stream(client, json={"message": "What is HBM3?"})
    assert r.status_code == 200
    assert [e.event for e in events] == ["token"] * 3 + ["error"]
    err = events[-1].json()
    assert err["type"] == "upstream_error" and err["request_id"] == r.headers["x-request-id"]
    assert len(mock.state.chat_requests()) == 1  # no retry once bytes have gone out


def test_malformed_chunk_ends_with_an_error_event(client, mock):
    mock.state.fail_next(1, "malformed", after_chunks=3)
    _, events = stream(client, json={"message": "What is HBM3?"})
    assert events[-1].event == "error" and "malformed" in events[-1].json()["message"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_lecture_curl_examples(service):
    out = subprocess.run(["curl", "-s", "-X", "POST", f"{service.url}/chat",
                          "-H", "Content-Type: application/json",
                          "-d", '{"message": "What is HBM3?"}'],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert '"response":"HBM3 is a stacked DRAM' in out
    out = subprocess.run(["curl", "-s", "-N", "-X", "POST", f"{service.url}/chat/stream",
                          "-H", "Content-Type: application/json",
                          "-d", '{"message": "What is HBM3?"}'],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    assert out.startswith("event: token") and "event: done" in out
