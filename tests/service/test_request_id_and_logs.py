"""X-Request-ID on every response; one structured log line per request, without text."""

from __future__ import annotations

import json
import time

import pytest


def test_a_sane_client_id_is_echoed(client):
    r = client.post(
        "/chat", json={"message": "What is HBM3?"}, headers={"X-Request-ID": "abc-123.retry:2"}
    )
    assert r.headers["x-request-id"] == "abc-123.retry:2" == r.json()["request_id"]


@pytest.mark.parametrize(
    "bad", ["", "x" * 129, "has space", "semi;colon", "<script>", "-leading-dash"]
)
def test_an_insane_client_id_is_replaced(client, bad):
    r = client.get("/health", headers={"X-Request-ID": bad})
    rid = r.headers["x-request-id"]
    assert rid != bad and len(rid) == 32


def test_generated_ids_are_unique_and_on_every_kind_of_response(client):
    ids = {client.get("/health").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20
    for r in (
        client.get("/nope"),
        client.post("/chat", content=b"{"),
        client.post("/chat", content=b"x" * 300_000),
        client.get("/readyz"),
        client.get("/"),
    ):
        assert len(r.headers["x-request-id"]) == 32


def test_one_json_line_per_request_without_message_text(client, captured):
    secret = "Jane Doe's HBM3 question about ticket 98765"
    r = client.post("/chat", json={"message": secret})
    with client.stream("POST", "/chat/stream", json={"message": secret}) as s:
        s.read()
    deadline = time.monotonic() + 5  # the stream's line is written just after its last byte
    while len(access := [json.loads(x) for x in captured if '"reference_service.access"' in x]) < 2:
        assert time.monotonic() < deadline, captured
        time.sleep(0.01)
    assert len(access) == 2
    first = access[0]
    assert first["request_id"] == r.headers["x-request-id"]
    assert first["route"] == "/chat" and first["status"] == 200 and first["model"] == "gpt-4o-mini"
    assert first["prompt_tokens"] > 0 and first["completion_tokens"] > 0 and first["latency_ms"] > 0
    assert access[1]["route"] == "/chat/stream" and access[1]["completion_tokens"] > 0
    assert "ttft_ms" in access[1]
    assert all("Jane" not in line and "98765" not in line for line in captured)


def test_a_bug_is_a_json_500_with_the_request_id_and_a_logged_traceback(mock, captured):
    import httpx

    from mock_llm import ThreadedServer
    from reference_service import create_app
    from tests.support import make_settings

    app = create_app(make_settings(openai_base_url=mock.base_url))

    async def boom():
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    with ThreadedServer(app) as server:
        r = httpx.get(server.url + "/boom", headers={"X-Request-ID": "bug-1"})
    assert r.status_code == 500 and r.headers["x-request-id"] == "bug-1"
    assert r.json()["error"] == {
        "type": "internal_error",
        "request_id": "bug-1",
        "message": "Internal error; see the service log.",
    }
    assert any("RuntimeError: a bug" in line for line in captured)
