"""Bad input gets a 4xx JSON error with the request id, never a 500, and never reaches
the upstream. Upstream failures map to 502/503/504."""

from __future__ import annotations

import json

import httpx
import pytest

from mock_llm import ThreadedServer, free_port
from reference_service import create_app
from tests.support import make_settings

JSON = {"content-type": "application/json"}
CASES = [
    ("empty body", b"", 422, "validation_error"),
    ("invalid json", b'{"message": "hi"', 400, "invalid_json"),
    ("not an object", b'["hi"]', 422, "validation_error"),
    ("missing message", b'{"msg": "hi"}', 422, "validation_error"),
    ("message wrong type", b'{"message": 42}', 422, "validation_error"),
    ("message empty", b'{"message": ""}', 422, "validation_error"),
    ("message blank", b'{"message": " \\n\\t "}', 422, "validation_error"),
    ("message null", b'{"message": null}', 422, "validation_error"),
    ("message too long", json.dumps({"message": "x" * 4097}).encode(), 422, "validation_error"),
    (
        "history turn too long",
        json.dumps(
            {"message": "hi", "history": [{"role": "user", "content": "x" * 4097}]}
        ).encode(),
        422,
        "validation_error",
    ),
    (
        "session_id too long",
        json.dumps({"message": "hi", "session_id": "s" * 129}).encode(),
        422,
        "validation_error",
    ),
    (
        "history too long",
        json.dumps({"message": "hi", "history": [{"role": "user", "content": "q"}] * 41}).encode(),
        413,
        "request_too_large",
    ),
    (
        "history bad role",
        b'{"message": "hi", "history": [{"role": "system", "content": "x"}]}',
        422,
        "validation_error",
    ),
    ("history wrong type", b'{"message": "hi", "history": "earlier"}', 422, "validation_error"),
    ("temperature out of range", b'{"message": "hi", "temperature": 7}', 422, "validation_error"),
    ("max_tokens zero", b'{"message": "hi", "max_tokens": 0}', 422, "validation_error"),
    ("max_tokens over limit", b'{"message": "hi", "max_tokens": 100000}', 413, "request_too_large"),
    ("unknown model", b'{"message": "hi", "model": "gpt-9"}', 400, "unknown_model"),
    ("body too large", b'{"message": "' + b"x" * 300_000 + b'"}', 413, "request_too_large"),
    ("invalid utf-8", b'{"message": "\xff\xfe"}', 400, "invalid_body"),
]


@pytest.mark.parametrize("name,body,status,type_", CASES, ids=[c[0] for c in CASES])
def test_bad_chat_bodies(client, mock, name, body, status, type_):
    r = client.post("/chat", content=body, headers=JSON)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == type_ and err["message"]
    assert err["request_id"] == r.headers["x-request-id"]
    assert mock.state.chat_requests() == []


def test_validation_errors_never_echo_the_input(client):
    secret = "my card is 4111 1111 1111 1111"
    r = client.post("/chat", json={"message": secret, "temperature": "hot"})
    assert r.status_code == 422 and "4111" not in r.text


def test_chunked_body_over_the_limit_is_413(client, mock):
    def gen():
        yield b'{"message": "'
        for _ in range(40):
            yield b"x" * 10_000
        yield b'"}'

    r = client.post("/chat", content=gen(), headers=JSON)
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("body", [b"message=hi", b"\x00\x01"])
def test_wrong_content_type(client, body):
    r = client.post("/chat", content=body, headers={"content-type": "text/plain"})
    assert 400 <= r.status_code < 500 and "error" in r.json()


def test_openai_front_door_bad_bodies_are_400_in_openais_shape(client, mock):
    for body, param in [
        ({"model": "gpt-4o"}, "messages"),
        ({"messages": []}, "model"),
        ({"model": "gpt-4o", "messages": [{"role": "bot", "content": "x"}]}, "messages.0.role"),
        (
            {"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]},
            "messages.0.content.str",
        ),
        (
            {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
            "max_tokens",
        ),
    ]:
        r = client.post("/v1/chat/completions", json=body)
        assert r.status_code == 400, body
        err = r.json()["error"]
        assert err["type"] == "invalid_request_error" and err["code"] == "validation_error"
        assert err["param"] == param and err["message"], (body, err)
        assert err["request_id"] == r.headers["x-request-id"]
    assert mock.state.chat_requests() == []


def test_unknown_route_and_method(client):
    assert client.get("/nowhere").json()["error"]["type"] == "not_found"
    r = client.put("/chat", json={})
    assert r.status_code == 405 and r.json()["error"]["type"] == "method_not_allowed"


@pytest.mark.parametrize(
    "kind,status,type_,calls",
    [
        ("500", 502, "upstream_error", 3),
        ("502", 502, "upstream_error", 3),
        ("503", 503, "upstream_unavailable", 3),
        ("429", 503, "upstream_unavailable", 3),
        ("malformed", 502, "upstream_error", 3),
        ("drop", 502, "upstream_error", 3),
        ("401", 502, "upstream_error", 1),
        ("404", 502, "upstream_error", 1),
        ("400", 400, "upstream_rejected", 1),
    ],
)
def test_upstream_failures_map_to_clear_statuses(client, mock, kind, status, type_, calls):
    """Transient failures are retried (3 attempts by default), client errors are not."""
    mock.state.fail_next(3, kind, retry_after=4)
    r = client.post("/chat", json={"message": "What is HBM3?"})
    assert r.status_code == status and r.json()["error"]["type"] == type_
    if status == 503:
        assert r.headers["retry-after"] == "4"
    assert "Traceback" not in r.text
    assert len(mock.state.chat_requests()) == calls


def test_hung_upstream_is_504_at_the_deadline(mock):
    app = create_app(make_settings(openai_base_url=mock.base_url, request_timeout_s=0.5))
    mock.state.fail_next(2, "hang")
    with ThreadedServer(app) as server:
        r = httpx.post(server.url + "/chat", json={"message": "What is HBM3?"}, timeout=10)
        assert r.status_code == 504 and r.json()["error"]["type"] == "upstream_timeout"
        r = httpx.post(server.url + "/chat/stream", json={"message": "What is HBM3?"}, timeout=10)
        assert r.status_code == 504


def test_unreachable_upstream_is_502_and_detailed_health_degraded():
    dead = f"http://127.0.0.1:{free_port()}/v1"
    app = create_app(make_settings(openai_base_url=dead))
    with ThreadedServer(app) as server:
        r = httpx.post(server.url + "/chat", json={"message": "What is HBM3?"})
        assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
        d = httpx.get(server.url + "/health/detailed")
        assert d.status_code == 503 and d.json()["status"] == "degraded"
        assert d.json()["checks"]["upstream"] is False and d.json()["checks"]["cache"] is True
        assert httpx.get(server.url + "/health").status_code == 200  # alive all the same
