"""GET /metrics (Prometheus), X-Overhead-Ms, and what the metrics must never hold."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mock_llm.server import ThreadedServer
from reference_service.app import create_app
from reference_service.clock import FakeClock
from tests.support import ServiceProcess, make_settings, parse_sse


def scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def delta(before, after, name, **labels) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def test_a_chat_request_is_counted_with_tokens_cost_routing_cache_and_overhead(client):
    before = scrape(client)
    r = client.post("/chat", json={"message": "What is HBM3?", "model": "gpt-4o-mini"})
    again = client.post("/chat", json={"message": "What is HBM3?", "model": "gpt-4o-mini"})
    after = scrape(client)
    usage = r.json()["usage"]
    assert again.headers["x-cache"] == "HIT"
    assert (
        delta(
            before, after, "llm_gateway_requests_total", route="/chat", method="POST", status="200"
        )
        == 2
    )
    assert (
        delta(before, after, "llm_gateway_tokens_total", model="gpt-4o-mini", direction="prompt")
        == usage["prompt_tokens"]
    )  # the hit is not counted
    assert (
        delta(
            before, after, "llm_gateway_tokens_total", model="gpt-4o-mini", direction="completion"
        )
        == usage["completion_tokens"]
    )
    cost = (usage["prompt_tokens"] * 0.15 + usage["completion_tokens"] * 0.60) / 1e6
    assert delta(before, after, "llm_gateway_cost_usd_total", model="gpt-4o-mini") == pytest.approx(
        cost
    )
    assert delta(
        before, after, "llm_gateway_cost_saved_usd_total", model="gpt-4o-mini"
    ) == pytest.approx(cost)
    assert delta(before, after, "llm_gateway_cache_requests_total", result="MISS", tier="") == 1
    assert delta(before, after, "llm_gateway_cache_requests_total", result="HIT", tier="exact") == 1
    assert (
        delta(
            before,
            after,
            "llm_gateway_routing_decisions_total",
            model="gpt-4o-mini",
            reason="pinned",
        )
        == 2
    )
    assert delta(before, after, "llm_gateway_overhead_seconds_count", route="/chat") == 2
    assert delta(before, after, "llm_gateway_request_duration_seconds_count", route="/chat") == 2
    assert value(after, "llm_gateway_in_flight_requests") == 1  # the scrape itself


def test_overhead_header_is_the_time_not_spent_waiting_for_the_upstream(client, mock):
    mock.config.latency = "realistic"  # gpt-4o-mini: 250 ms to the first token
    t0 = time.perf_counter()
    r = client.post(
        "/chat",
        json={"message": "What is NVLink?", "model": "gpt-4o-mini"},
        headers={"Cache-Control": "no-store"},
    )
    total_ms = (time.perf_counter() - t0) * 1000
    overhead = float(r.headers["x-overhead-ms"])
    assert 0 <= overhead < 100 < 250 <= total_ms  # most of the time was the upstream's
    with client.stream(
        "POST",
        "/chat/stream",
        json={"message": "What is NVLink?"},
        headers={"Cache-Control": "no-store"},
    ) as s:
        first_byte_overhead = float(s.headers["x-overhead-ms"])
        events = parse_sse(s.iter_lines())
    assert 0 <= first_byte_overhead < 100 and events[-1].event == "done"


def test_streams_record_time_to_first_token_and_errors_by_type(client, mock):
    before = scrape(client)
    with client.stream(
        "POST", "/chat/stream", json={"message": "Explain PCIe lanes", "model": "gpt-4o"}
    ) as s:
        s.read()
    client.post("/chat", json={"message": "x", "model": "no-such-model"})
    after = scrape(client)
    assert (
        delta(before, after, "llm_gateway_time_to_first_token_seconds_count", model="gpt-4o") == 1
    )
    assert delta(before, after, "llm_gateway_errors_total", type="unknown_model") == 1
    assert (
        delta(
            before,
            after,
            "llm_gateway_requests_total",
            route="/chat/stream",
            method="POST",
            status="200",
        )
        == 1
    )


def test_unknown_paths_share_one_label(client):
    before = scrape(client)
    for i in range(3):
        client.get(f"/no/such/path/{i}")
    after = scrape(client)
    assert (
        delta(
            before,
            after,
            "llm_gateway_requests_total",
            route="unmatched",
            method="GET",
            status="404",
        )
        == 3
    )
    assert not any("/no/such" in str(k) for k in after)


def test_rate_limits_breaker_and_safety_are_counted_without_text(mock_server, mock):
    settings = make_settings(
        openai_base_url=mock_server.base_url,
        rate_limit_rpm=1,
        safety_guards=True,
        breaker_failure_threshold=1,
        retry_max_attempts=1,
    )
    with (
        ThreadedServer(create_app(settings, clock=FakeClock())) as server,
        httpx.Client(base_url=server.url, timeout=20) as c,
    ):
        c.post(
            "/chat",
            json={"message": "I am Maria Garcia, what is CXL?"},
            headers={"X-Client-ID": "a"},
        )
        assert (
            c.post("/chat", json={"message": "again"}, headers={"X-Client-ID": "a"}).status_code
            == 429
        )
        mock.state.fail_next(1, "500")
        c.post(
            "/chat",
            json={"message": "What is NVMe?", "model": "gpt-4o"},
            headers={"X-Client-ID": "b"},
        )
        text = c.get("/metrics").text
        samples = scrape(c)
    assert value(samples, "llm_gateway_rate_limited_total", route="/chat") == 1
    assert value(samples, "llm_gateway_safety_events_total", kind="pii_person") == 1
    assert value(samples, "llm_gateway_breaker_state", model="gpt-4o") == 2  # open
    assert "Maria" not in text and "CXL" not in text and "NVMe" not in text


def test_metrics_add_up_over_workers(mock, tmp_path):
    svc = ServiceProcess(
        {
            "OPENAI_BASE_URL": mock.base_url,
            "OPENAI_API_KEY": "test",
            "CACHE_ENABLED": "false",
            "LOG_LEVEL": "warning",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        },
        workers=2,
    )
    try:
        for i in range(40):  # new connections: the kernel spreads them over the workers
            with httpx.Client(base_url=svc.url, timeout=30) as fresh:
                assert fresh.post("/chat", json={"message": f"What is HBM{i}?"}).status_code == 200
        totals = set()
        for _ in range(6):  # whichever worker answers the scrape, it reports everyone's
            with httpx.Client(base_url=svc.url, timeout=30) as fresh:
                totals.add(
                    value(
                        scrape(fresh),
                        "llm_gateway_requests_total",
                        route="/chat",
                        method="POST",
                        status="200",
                    )
                )
        writers = {f.name.split("_")[-1] for f in tmp_path.glob("counter_*.db")}
    finally:
        out = svc.terminate()
    assert "Traceback" not in out, out
    assert len(writers) == 2  # both workers served requests and wrote their counters
    assert totals == {40.0}
