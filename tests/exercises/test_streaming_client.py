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
    lines = [": ping", "event: token", 'data: {"token": "Hi"}', "", "event: done",
             "data: {\"request_id\":", "data: \"abc\"}", "", 'data: {"x": 1}', ""]
    assert list(streaming_client.parse_sse(lines)) == [
        ("token", {"token": "Hi"}), ("done", {"request_id": "abc"}), ("message", {"x": 1})]


def test_ask_streams_tokens_and_reports_stats(streaming_client, service):
    session = streaming_client.ChatSession(service.url)
    seen = []
    stats = session.ask("What is HBM3?", on_token=seen.append)
    assert "".join(seen) == find_entry("HBM3").answer
    assert stats.tokens == len(seen) and stats.model == "gpt-4o-mini"
    assert 0 <= stats.ttft_ms <= stats.total_ms and len(stats.request_id) == 32


def test_history_is_kept_and_sent(streaming_client, service, mock):
    session = streaming_client.ChatSession(service.url)
    session.ask("What is CXL?")
    session.ask("Tell me more")
    assert [m["role"] for m in session.history] == ["user", "assistant"] * 2
    last = mock.state.chat_requests()[-1].body["messages"]
    assert [m["content"] for m in last if m["role"] == "user"] == ["What is CXL?", "Tell me more"]


def test_errors_raise_chat_error_and_leave_history_alone(streaming_client, service, mock):
    session = streaming_client.ChatSession(service.url)
    mock.state.fail_next(1, "drop", after_chunks=4)
    with pytest.raises(streaming_client.ChatError) as e:
        session.ask("What is HBM3?")
    assert e.value.type == "upstream_error"
    with pytest.raises(streaming_client.ChatError) as e:
        session.ask(" ")
    assert e.value.status == 422
    assert session.history == []


def test_server_down_is_a_transport_error(streaming_client):
    session = streaming_client.ChatSession(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(httpx.TransportError):
        session.ask("What is HBM3?")


def run_cli(impl, url, stdin_text, interrupt_after=None):
    proc = subprocess.Popen([sys.executable, "-m", f"{impl}.streaming_client", "--url", url],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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
    assert code == 0, out
    assert "[error:" in out, out  # the first answer was cut: reported, not a crash
    assert find_entry("HBM3").answer in out and "first token" in out and "tokens]" in out, out


def test_cli_reports_server_down_and_quits_on_ctrl_c(impl, streaming_client):
    code, out = run_cli(impl, f"http://127.0.0.1:{free_port()}", "hello\n", interrupt_after=3)
    assert "cannot reach" in out and "bye" in out and code == 0, out
