"""The lecture's HTTP contract, as a student who has read it would try it: its curl examples
(as the README shows them), its Python streaming client, its request and response fields,
its 4096-character limit, and what each of its four chat paths means."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from mock_llm.knowledge import find_entry
from tests.support import ServiceProcess, services_of

ROOT = Path(__file__).parents[2]
LECTURE_FIELDS = {
    "session_id": str,
    "answer": str,
    "model_used": str,
    "latency_ms": float,
    "tokens_used": int,
}
PATHS = ("/chat", "/chat/smart", "/chat/safe", "/chat/limited")


def readme_curl_commands() -> list[str]:
    """The curl commands of the README's first code block that has any, joined over `\\`."""
    readme = (ROOT / "README.md").read_text()
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        joined = re.sub(r"\\\n\s*", "", block)
        commands = [line.strip() for line in joined.splitlines() if line.strip().startswith("curl")]
        if commands:
            return commands
    raise AssertionError("README.md shows no curl command")


def check_lecture_fields(body: dict) -> None:
    for name, kind in LECTURE_FIELDS.items():
        assert isinstance(body[name], kind), (name, body.get(name))
    assert body["latency_ms"] == round(body["latency_ms"], 1)  # one decimal, as the lecture
    assert body["tokens_used"] == body["usage"]["total_tokens"] > 0  # real usage
    assert body["response"] == body["answer"]  # the lab's older name, kept as an alias


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_lectures_curl_examples_as_the_readme_shows_them(service):
    chat, stream = readme_curl_commands()
    assert "localhost:8000/chat " in chat and "localhost:8000/chat/stream " in stream
    out = [
        subprocess.run(
            c.replace("http://localhost:8000", service.url),
            shell=True,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        for c in (chat, stream)
    ]
    body = json.loads(out[0])
    check_lecture_fields(body)
    assert body["answer"] == find_entry("HBM3").answer and body["model_used"] == "gpt-4o-mini"
    assert re.fullmatch(r"[0-9a-f]{32}", body["session_id"])  # a new hex uuid
    lines = out[1].splitlines()
    assert lines[0] == "event: token" and "event: done" in lines and "data: [DONE]" in lines
    tokens = [
        ln[len("data: ") :] for prev, ln in itertools.pairwise(lines) if prev == "event: token"
    ]
    assert "".join(tokens) == find_entry("NVLink").answer


def test_a_client_that_parses_as_the_lectures_prints_the_answer_and_stops(service, capsys):
    """The lecture's Python client, line for line: it strips every data line, so the
    spaces between tokens are lost (its bug, notebook 02), but it prints the answer's
    words in order, no JSON and no [DONE], and returns when the stream ends."""
    with httpx.stream(
        "POST", service.url + "/chat/stream", json={"message": "Explain HBM3"}, timeout=30
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data:"):
                token = line[5:].strip()
                if token != "[DONE]":
                    print(token, end="", flush=True)
        print()
    printed = capsys.readouterr().out
    answer = find_entry("HBM3").answer
    assert printed == re.sub(r"\s+", "", answer) + "\n"
    assert "{" not in printed and "DONE" not in printed


@pytest.mark.parametrize("path", PATHS)
def test_every_lecture_path_answers_with_the_lectures_fields(client, path):
    r = client.post(
        path,
        json={"message": "What is HBM3?", "session_id": "abc-123"},
        headers={"X-Client-ID": f"fields-{uuid.uuid4().hex[:8]}"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    check_lecture_fields(body)
    assert body["session_id"] == "abc-123"


def test_a_missing_session_id_is_a_new_hex_uuid_each_time(client):
    ids = {
        client.post("/chat", json={"message": "What is CXL?"}).json()["session_id"]
        for _ in range(3)
    }
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@pytest.mark.parametrize("path", (*PATHS, "/chat/stream"))
def test_the_lectures_message_limits_are_422_with_the_labs_error_body(client, mock, path):
    headers = {"X-Client-ID": f"limits-{uuid.uuid4().hex[:8]}"}
    for message in ("", "x" * 4097):
        r = client.post(path, json={"message": message}, headers=headers)
        assert r.status_code == 422, (len(message), r.text)
        err = r.json()["error"]
        assert err["type"] == "validation_error" and err["request_id"] == r.headers["x-request-id"]
        assert "message" in err["message"]
    assert mock.state.chat_requests() == []
    r = client.post(path, json={"message": "x" * 4096}, headers=headers)
    assert r.status_code == 200


def test_plain_chat_answers_on_the_requested_model_without_routing(client, mock):
    hard = (
        "Compare HBM3 and GDDR6X for a 4-GPU inference server and explain the "
        "tradeoff in cost per gigabyte of bandwidth."
    )
    r = client.post("/chat", json={"message": hard})
    assert r.json()["model_used"] == "gpt-4o-mini" and r.json()["routing"]["reason"] == "pinned"
    r = client.post("/chat", json={"message": "What is CXL?", "model": "gpt-4o"})
    assert r.json()["model_used"] == "gpt-4o"
    r = client.post("/chat", json={"message": hard, "model": "auto"})
    assert r.json()["model_used"] == "gpt-4o" and r.json()["routing"]["reason"] == "routed"


def test_smart_chooses_the_model_whatever_the_body_says(client):
    r = client.post("/chat/smart", json={"message": "What does HBM stand for?", "model": "gpt-4o"})
    assert r.json()["model_used"] == "gpt-4o-mini" and r.json()["routing"]["reason"] == "routed"


def _clear_limited(service) -> None:
    redis = services_of(service.app).redis

    async def clear():
        keys = [k async for k in redis.scan_iter("rl:window:*")]
        if keys:
            await redis.delete(*keys)

    service.run_in_loop(clear())


def test_limited_allows_30_a_minute_per_client_id_then_429(service, client):
    _clear_limited(service)
    ask = {"message": "What is HBM3?"}
    codes = [
        client.post("/chat/limited", json=ask, headers={"X-Client-ID": "student-a"})
        for _ in range(40)
    ]
    assert [r.status_code for r in codes] == [200] * 30 + [429] * 10
    refused = codes[-1]
    assert refused.json()["error"]["type"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    # another client has its own 30; the lab's other paths are not the lecture's limit
    assert (
        client.post("/chat/limited", json=ask, headers={"X-Client-ID": "student-b"}).status_code
        == 200
    )
    assert client.post("/chat", json=ask, headers={"X-Client-ID": "student-a"}).status_code == 200


def test_limited_without_a_client_id_is_the_anonymous_client(service, client):
    _clear_limited(service)
    codes = [
        client.post("/chat/limited", json={"message": "What is HBM3?"}).status_code
        for _ in range(31)
    ]
    assert codes == [200] * 30 + [429]
    r = client.post(
        "/chat/limited", json={"message": "What is HBM3?"}, headers={"X-Client-ID": "anonymous"}
    )
    assert r.status_code == 429  # the same client as the header's absence, as in the lecture
    r = client.post("/chat/limited", json={"message": "x"}, headers={"X-Client-ID": "bad id!"})
    assert r.status_code == 422 and r.json()["error"]["type"] == "validation_error"


@pytest.mark.slow
def test_limited_is_exact_across_two_workers_on_a_real_redis(mock, redis_url):
    """30 a minute per client across `--workers 2` sharing a real Redis 8: two clients
    sending 40 each at once get exactly 30 answers each."""
    svc = ServiceProcess(
        {
            "OPENAI_BASE_URL": mock.base_url,
            "OPENAI_API_KEY": "test",
            "REDIS_URL": redis_url,
            "LOG_LEVEL": "warning",
            "CACHE_ENABLED": "false",
        },
        workers=2,
    )
    try:

        async def burst():
            async with httpx.AsyncClient(
                base_url=svc.url, timeout=30, limits=httpx.Limits(max_connections=80)
            ) as c:
                return await asyncio.gather(
                    *[
                        c.post(
                            "/chat/limited",
                            json={"message": "What is HBM3?"},
                            headers={"X-Client-ID": client_id},
                        )
                        for client_id in ["two-workers-a", "two-workers-b"] * 40
                    ]
                )

        results = asyncio.run(burst())
        for client_id in ("two-workers-a", "two-workers-b"):
            codes = [
                r.status_code
                for r, c in zip(results, ["a", "b"] * 40, strict=True)
                if c == client_id[-1]
            ]
            assert codes.count(200) == 30 and codes.count(429) == 10, (client_id, codes)
    finally:
        out = svc.terminate()
    assert "Traceback" not in out, out
