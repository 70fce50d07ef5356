"""Probes and the web page."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from mock_llm import ThreadedServer
from reference_service import create_app
from tests.support import make_settings


def test_probes_answer_with_the_lectures_bodies(client):
    before = time.time()
    health = client.get("/health").json()
    assert health["status"] == "ok" and before - 1 <= health["timestamp"] <= time.time() + 1
    assert set(health) == {"status", "timestamp"}
    assert client.get("/livez").json() == {"alive": True}
    assert client.get("/readyz").json() == {"ready": True}
    r = client.get("/ready")
    assert r.status_code == 200 and r.json() == {"status": "ready", "moderation": "upstream"}


def test_detailed_health_has_the_lectures_checks_as_booleans(client):
    r = client.get("/health/detailed")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "checks": {
            "api_client": True,
            "ready": True,
            "cache": True,
            "upstream": True,
            "moderation": True,
        },
    }


def test_detailed_health_tells_details_only_to_the_admin(mock_server):
    app = create_app(make_settings(openai_base_url=mock_server.base_url, admin_token="s3cret"))
    with ThreadedServer(app) as server:
        public = httpx.get(server.url + "/health/detailed").json()
        assert "details" not in public and mock_server.base_url not in str(public)
        wrong = httpx.get(
            server.url + "/health/detailed", headers={"Authorization": "Bearer nope"}
        ).json()
        assert "details" not in wrong
        admin = httpx.get(
            server.url + "/health/detailed", headers={"Authorization": "Bearer s3cret"}
        ).json()
        details = admin["details"]
        assert details["cache"]["ok"] is True and details["upstream"]["ok"] is True
        assert "gpt-4o" in details["upstream"]["detail"]["models"]


def test_page_uses_eventsource_on_the_get_stream(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "new EventSource" in r.text and "/chat/stream?" in r.text


def test_openapi_schema_documents_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in (
        "/chat",
        "/chat/stream",
        "/v1/chat/completions",
        "/v1/models",
        "/health",
        "/ready",
        "/health/detailed",
        "/livez",
        "/readyz",
    ):
        assert p in paths


def test_the_tokenizer_is_loaded_before_the_service_is_ready():
    # A fresh process: the first token count used to load the tokenizer inside a request
    # (0.8 s, and every request behind it waited). Counted in a process of its own because
    # this one has loaded it long ago.
    code = (
        "from fastapi.testclient import TestClient\n"
        "from reference_service import tokens\n"
        "from reference_service.app import create_app\n"
        "from tests.support import make_settings\n"
        "app = create_app(make_settings(cache_enabled=False, safety_pii=False))\n"
        "assert tokens.encoding.cache_info().currsize == 0\n"
        "with TestClient(app) as c:\n"
        "    assert c.get('/readyz').status_code == 200\n"
        "    print(tokens.encoding.cache_info().currsize)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).parents[2],  # `tests.support` imports from the repository root
    )
    assert out.stdout.strip() == "1"
