"""SSE: every event of POST /chat/stream and GET /chat/stream, and failures in a stream."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest

from mock_llm import MockConfig, MockLLMServer, ThreadedServer
from mock_llm.knowledge import find_entry
from mock_llm.timing import ModelProfile
from reference_service import create_app
from tests.support import make_settings, parse_sse


def stream(client, method="POST", **kw):
    with client.stream(method, "/chat/stream", **kw) as r:
        return r, parse_sse(r.iter_lines())


def check_complete(events, answer, usage=True):
    """Tokens (plain text, joined: the answer), then `usage` if asked, then `done`."""
    kinds = [e.event for e in events]
    tail = ["usage", "done"] if usage else ["done"]
    assert kinds[-len(tail) :] == tail and set(kinds[: -len(tail)]) == {"token"}
    assert "".join(e.data for e in events[: -len(tail)]) == answer
    assert events[-1].data == "[DONE]"
    if not usage:
        return None
    u = events[-2].json()
    assert u["completion_tokens"] == len(events) - 2
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    return u


def test_post_stream_sends_the_lectures_token_and_done_events(client):
    r, events = stream(client, json={"message": "What is HBM3?"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-accel-buffering"] == "no" and r.headers["x-model"] == "gpt-4o-mini"
    check_complete(events, find_entry("HBM3").answer, usage=False)
    assert len(events) > 10  # one event per upstream token, not one blob


def test_usage_event_when_asked(client):
    r, events = stream(
        client,
        json={
            "message": "What is HBM3?",
            "session_id": "s-1",
            "stream_options": {"include_usage": True},
        },
    )
    u = check_complete(events, find_entry("HBM3").answer)
    assert u["request_id"] == r.headers["x-request-id"] and u["session_id"] == "s-1"
    assert u["model"] == "gpt-4o-mini" and u["finish_reason"] == "stop"
    assert u["latency_ms"] >= u["ttft_ms"] >= 0


def test_tokens_with_spaces_and_newlines_survive_sse_framing(client, mock):
    text = " leading space,\ntwo lines,\n\nan empty line and a trailing space "
    mock.state.script_answer(text)
    _, events = stream(client, json={"message": "framing test"})
    assert "".join(e.data for e in events if e.event == "token") == text


def test_get_stream_for_eventsource(client):
    r, events = stream(
        client,
        "GET",
        params={"message": "What is NVLink?", "model": "gpt-4o", "include_usage": "true"},
    )
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


def test_a_stream_that_stalls_after_its_first_token_ends_with_a_timeout_event():
    # The first token at once, then one every 4 s; the read timeout is 2 s (it is also the
    # deadline for the first token, which a loaded machine needs room for). The stream's
    # body is read off the SDK's raw response, so the stall is httpx's own ReadTimeout:
    # still "no answer in time" (upstream_timeout), not "could not reach" (upstream_error).
    slow = ModelProfile(ttft_ms=20, tokens_per_s=0.25, detailed=False)
    with MockLLMServer(MockConfig(models={"gpt-4o-mini": slow, "gpt-4o": slow})) as mock:
        settings = make_settings(
            openai_base_url=mock.base_url, request_timeout_s=2.0, cache_enabled=False
        )
        app = create_app(settings)
        with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=20) as c:
            r, events = stream(c, json={"message": "What is HBM3?"})
    assert r.status_code == 200
    assert events[0].event == "token" and events[-1].event == "error", [e.event for e in events]
    assert events[-1].json()["type"] == "upstream_timeout"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_lecture_curl_examples(service):
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-X",
            "POST",
            f"{service.url}/chat",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"message": "What is HBM3?"}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert '"response":"HBM3 is a stacked DRAM' in out
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-N",
            "-X",
            "POST",
            f"{service.url}/chat/stream",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"message": "What is HBM3?"}',
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert out.startswith("event: token") and "event: done" in out
