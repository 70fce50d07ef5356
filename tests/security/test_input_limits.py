"""Bad input that must be refused with a 4xx, never a 500 or a silent pass: oversized request
heads, invalid Unicode, unbounded names; and budgets that must not be bypassed."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from mock_llm import ThreadedServer
from reference_service import create_app
from reference_service.http_protocol import BoundedHttpToolsProtocol
from tests.support import ServiceProcess, make_settings


def raw_request(port: int, head: bytes) -> bytes:
    """Send a request head (in chunks, as a slow client would) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            for i in range(0, len(head), 4096):
                s.sendall(head[i : i + 4096])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading: what we want; its answer is already sent
        chunks = []
        try:
            while chunk := s.recv(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
    return b"".join(chunks)


@pytest.fixture(scope="module")
def bounded(mock_server):
    """The service on the protocol `python -m reference_service` runs."""
    app = create_app(make_settings(openai_base_url=mock_server.base_url))
    with ThreadedServer(app, http=BoundedHttpToolsProtocol) as server:
        yield server


@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (16 * 1024 * 1024) + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
        + b"\r\n",
    ],
    ids=["one 16 MiB header", "5,000 headers"],
)
def test_an_oversized_request_head_is_431_without_reading_the_rest(bounded, head):
    answer = raw_request(bounded.port, head)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"type": "request_header_too_large"' in answer
    assert httpx.get(bounded.url + "/livez").status_code == 200  # the server is fine


def test_a_normal_request_head_passes(bounded):
    headers = {f"X-H{i}": "v" * 100 for i in range(50)}
    assert httpx.get(bounded.url + "/livez", headers=headers).status_code == 200


@pytest.mark.slow
def test_the_service_process_runs_on_the_bounded_protocol(mock):
    svc = ServiceProcess(
        {
            "OPENAI_BASE_URL": mock.base_url,
            "OPENAI_API_KEY": "t",
            "MAX_HEADERS": "20",
            "LOG_LEVEL": "warning",
        }
    )
    try:
        r = httpx.get(svc.url + "/livez", headers={f"X-H{i}": "v" for i in range(30)})
        assert r.status_code == 431
        assert httpx.get(svc.url + "/livez").status_code == 200
    finally:
        svc.terminate()


@pytest.fixture(scope="module", params=[False, True], ids=["unguarded", "guarded"])
def either(request, mock_server):
    app = create_app(
        make_settings(openai_base_url=mock_server.base_url, safety_guards=request.param)
    )
    with ThreadedServer(app) as server:
        yield server


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "\ud83d"}]},
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi \udc00"}]}],
        },
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi", "name": "\ud800"}]},
    ],
    ids=["content", "part", "name"],
)
def test_a_lone_surrogate_is_422_not_500(either, mock, body):
    raw = json.dumps(body).encode()  # json.dumps writes the surrogate as a \\u escape
    r = httpx.post(
        either.url + "/v1/chat/completions",
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"  # /v1: OpenAI's
    r = httpx.post(
        either.url + "/chat",
        content=b'{"message": "hi \\ud83d"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert mock.state.chat_requests() == []


def test_a_huge_model_name_is_refused_and_not_echoed(client):
    name = "m" * 100_000
    r = client.post(
        "/v1/chat/completions",
        json={"model": name, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 400 and r.json()["error"]["param"] == "model" and len(r.text) < 2000
    r = client.post("/chat", json={"message": "hi", "model": "x" * 300})
    assert r.status_code == 422 and len(r.text) < 2000


def test_request_heads_over_the_limit_in_many_shapes(bounded, scale):
    """More shapes of the same attack in `make soak`: sizes and counts around the limits."""
    sizes = [33 * 1024, 64 * 1024, 1024 * 1024, 16 * 1024 * 1024][: 1 + scale // 4]
    counts = [101, 500, 5000][: 1 + scale // 5]
    heads = [b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * n + b"\r\n\r\n" for n in sizes]
    heads += [
        b"GET /livez HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(n))
        + b"\r\n"
        for n in counts
    ]
    heads += [
        b"GET /livez HTTP/1.1\r\nHost: x\r\nX-Many: "
        + b"a" * 1000
        + b"\r\n" * 0
        + b"\r\n".join(b"X-P%d: %s" % (i, b"b" * 400) for i in range(90))
        + b"\r\n\r\n"
    ]
    for head in heads * scale:
        answer = raw_request(bounded.port, head)
        assert answer.startswith(b"HTTP/1.1 431 "), (len(head), answer[:80])
    assert httpx.get(bounded.url + "/livez").status_code == 200


@pytest.mark.parametrize("guarded", [False, True], ids=["unguarded", "guarded"])
def test_pass_through_text_counts_toward_the_size_limit_on_a_guarded_path(
    mock_server, mock, guarded
):
    """The PII pass reads the pass-through fields too, so there they share the conversation's
    character limit (MAX_TOTAL_CHARS); unguarded, nothing analyzes them."""
    settings = make_settings(
        openai_base_url=mock_server.base_url, safety_guards=guarded, max_total_chars=5_000
    )
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "What is HBM3?"}],
        "metadata": {"note": "x" * 6_000},
    }
    with ThreadedServer(create_app(settings)) as server:
        r = httpx.post(server.url + "/v1/chat/completions", json=body)
    if guarded:
        assert r.status_code == 400 and r.json()["error"]["code"] == "request_too_large", r.text
        assert mock.state.chat_requests() == []
    else:
        assert r.status_code == 200, r.text
