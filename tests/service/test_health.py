"""Probes and the web page."""

from __future__ import annotations


def test_probes(client):
    for path in ("/health", "/livez"):
        assert client.get(path).json() == {"status": "ok"}
    for path in ("/ready", "/readyz"):
        r = client.get(path)
        assert r.status_code == 200 and r.json() == {"status": "ready"}


def test_detailed_health_checks_redis_and_upstream(client):
    r = client.get("/health/detailed")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok" and body["ready"] is True
    assert body["checks"]["redis"]["status"] == "ok"
    assert body["checks"]["upstream"]["status"] == "ok"
    assert "gpt-4o" in body["checks"]["upstream"]["detail"]["models"]


def test_page_uses_eventsource_on_the_get_stream(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "new EventSource" in r.text and "/chat/stream?" in r.text


def test_openapi_schema_documents_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/chat", "/chat/stream", "/v1/chat/completions", "/v1/models", "/health",
              "/ready", "/health/detailed", "/livez", "/readyz"):
        assert p in paths
