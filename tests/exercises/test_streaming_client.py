"""Exercise 1 grader: the streaming chat client, against the real service and fake LLM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
import pytest

from mock_llm import free_port
from mock_llm.knowledge import find_entry


def test_parse_sse_reads_named_events_comments_and_multiline_data(streaming_client):
    lines = [": ping", "event: token", "data: Hi", "", "event: token", "data:  there", "",
             "event: token", "data: two", "data: lines", "", "event: usage",
             'data: {"completion_tokens": 3}', "", "event: done", "data: [DONE]", "",
             "data:x", "", "event: empty", ""]
    got = list(streaming_client.parse_sse(lines))
    want = [("token", "Hi"), ("token", " there"), ("token", "two\nlines"),
            ("usage", '{"completion_tokens": 3}'), ("done", "[DONE]"), ("message", "x")]
    # Name the first event that differs: the whole lists do not fit on the grader's line.
    first = next((i for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w),
                 min(len(got), len(want)))
    assert got == want, (
        f"event {first + 1}: expected {want[first] if first < len(want) else 'no more events'}, "
        f"got {got[first] if first < len(got) else 'no more events'} (one space after 'data:' "
        f"dropped, data lines joined with a newline, comments and data-less blocks skipped, "
        f"default event 'message'; {len(want)} events expected, {len(got)} seen)")


def test_ask_streams_tokens_and_reports_the_servers_token_count(streaming_client, service, mock):
    session = streaming_client.ChatSession(service.url)
    seen = []
    stats = session.ask("What is HBM3?", on_token=seen.append)
    answer = find_entry("HBM3").answer
    assert "".join(seen) == answer, (
        f"the tokens passed to on_token, joined, should be the answer word for word "
        f"(spaces included); got {''.join(seen)[:120]!r}")
    body = mock.state.chat_requests()[-1].body
    assert body.get("stream") is True, "the service streamed from the LLM"
    assert stats.tokens_from == "usage" and stats.tokens == len(seen), (
        f"with the usage event the count is the server's completion_tokens ({len(seen)} here, "
        f"one per token event) and tokens_from 'usage'; got {stats.tokens}, {stats.tokens_from!r}")
    assert stats.model == "gpt-4o-mini", f"model: expected 'gpt-4o-mini', got {stats.model!r}"
    assert 0 <= stats.ttft_ms <= stats.total_ms, (
        f"0 <= time to first token <= total; got {stats.ttft_ms}, {stats.total_ms}")
    assert stats.request_id and len(stats.request_id) == 32, (
        f"request_id: the response's X-Request-ID (32 hex digits); got {stats.request_id!r}")


def test_without_usage_the_token_events_are_counted(streaming_client, service):
    session = streaming_client.ChatSession(service.url, include_usage=False)
    seen = []
    stats = session.ask("What is NVLink?", on_token=seen.append)
    assert (stats.tokens, stats.tokens_from) == (len(seen), "events"), (
        f"without the usage event: the number of token events ({len(seen)}) and 'events'; "
        f"got {stats.tokens}, {stats.tokens_from!r}")


def test_history_is_kept_and_sent(streaming_client, service, mock):
    session = streaming_client.ChatSession(service.url)
    session.ask("What is CXL?")
    session.ask("Tell me more")
    roles = [m["role"] for m in session.history]
    assert roles == ["user", "assistant"] * 2, f"history roles after two turns: got {roles}"
    assert session.history[1]["content"] == find_entry("CXL").answer, (
        f"the assistant turn is the whole streamed answer (every token joined as it came); "
        f"got {session.history[1]['content'][:100]!r}")
    last = mock.state.chat_requests()[-1].body["messages"]
    users = [m["content"] for m in last if m["role"] == "user"]
    assert users == ["What is CXL?", "Tell me more"], (
        f"the second request carries the first turn as history; the LLM saw user turns {users}")


def test_errors_raise_chat_error_and_leave_history_alone(streaming_client, service, mock):
    session = streaming_client.ChatSession(service.url)
    mock.state.fail_next(1, "drop", after_chunks=4)
    with pytest.raises(streaming_client.ChatError) as e:
        session.ask("What is HBM3?")
    assert (e.value.status, e.value.type) == (200, "upstream_error"), (
        f"a stream cut after its first tokens ends with an error event: expected ChatError "
        f"status 200, type 'upstream_error'; got {e.value.status}, {e.value.type!r}")
    with pytest.raises(streaming_client.ChatError) as e:
        session.ask(" ")
    assert (e.value.status, e.value.type) == (422, "validation_error"), (
        f"a blank message is refused before streaming: expected ChatError 422 "
        f"'validation_error' (from the JSON error body); got {e.value.status}, {e.value.type!r}")
    assert session.history == [], f"failed turns stay out of the history; got {session.history}"


def test_server_down_is_a_transport_error(streaming_client):
    session = streaming_client.ChatSession(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(httpx.TransportError):
        session.ask("What is HBM3?")


def run_cli(impl, url, stdin_text, interrupt_after=None, args=()):
    proc = subprocess.Popen([sys.executable, "-m", f"{impl}.streaming_client", "--url", url,
                             *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if interrupt_after is None:
        out, _ = proc.communicate(stdin_text, timeout=60)
        return proc.returncode, out
    proc.stdin.write(stdin_text)
    proc.stdin.flush()
    time.sleep(interrupt_after)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


def test_cli_chats_prints_stats_and_survives_errors(impl, streaming_client, service, mock):
    mock.state.fail_next(1, "drop", after_chunks=3)
    code, out = run_cli(impl, service.url, "What is NVLink?\nWhat is HBM3?\n")
    assert code == 0, f"the client should exit 0; it exited {code}; its output ends {out[-300:]!r}"
    assert "[error:" in out, f"a cut stream is reported as '[error: ...]', not a crash; the output ends {out[-300:]!r}"
    assert find_entry("HBM3").answer in out, f"the second answer is printed whole, each token as it came; the output ends {out[-300:]!r}"
    stats = out.strip().splitlines()[-1]
    assert "first token" in stats and "total" in stats and "tokens (counted by the server)" in \
        stats, f"expected a stats line with first token, total and 'N tokens (counted by the " \
               f"server)'; got {stats!r}"
    code, out = run_cli(impl, service.url, "What is HBM3?\n", args=("--no-usage",))
    assert "tokens (token events counted here)" in out, (
        f"with --no-usage the stats line says the tokens were counted from the events; the "
        f"output ends {out[-200:]!r}")


def test_cli_reports_server_down_and_quits_on_ctrl_c(impl, streaming_client):
    code, out = run_cli(impl, f"http://127.0.0.1:{free_port()}", "hello\n", interrupt_after=3)
    assert "cannot reach" in out and "bye" in out and code == 0, (
        f"server down: expected 'cannot reach', then 'bye' on Ctrl-C and exit 0; got exit "
        f"{code}, output ending {out[-300:]!r}")
