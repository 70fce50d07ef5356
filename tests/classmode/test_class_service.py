"""Class mode through HTTP, in process on a real Redis 8: keys from the store, revocation on
the next request, budgets (429 budget_exceeded saying when it resets; a new period starts
fresh), a stream charged for what it used when the client goes away, a cache hit that costs
nothing and counts as saved, the errors counted by type, GET /admin/usage as JSON and CSV,
the tenant metrics, and logs that name a key's id, never the key."""

from __future__ import annotations

import csv
import io
import json
import os
import time

import httpx
import pytest
import redis as sync_redis

from mock_llm import ThreadedServer
from reference_service import create_app
from reference_service.budgets import to_nano
from reference_service.clock import FakeClock
from reference_service.services import ClassModeNeedsRedis
from tests.support import make_settings, services_of

ADMIN = {"Authorization": "Bearer admin-secret"}
ENV_KEY = "sk-env-instructor-key-0123456789abcdef"
ASK = {"message": "What is HBM3?", "model": "gpt-4o-mini"}
NO_CACHE = {"Cache-Control": "no-store"}


@pytest.fixture(scope="module")
def class_server(mock_server, redis_url):
    clock = FakeClock()
    settings = make_settings(
        openai_base_url=mock_server.base_url,
        redis_url=redis_url,
        class_mode=True,
        admin_token="admin-secret",
        api_keys={ENV_KEY: {"tenant": "staff"}},
    )
    app = create_app(settings, clock=clock)
    with ThreadedServer(app) as server:
        server.app, server.clock = app, clock
        yield server


@pytest.fixture
def cls(class_server, mock, redis_url):
    """The class-mode service on an empty Redis."""
    sync_redis.Redis.from_url(redis_url).flushdb()
    return class_server


def make_keys(server, n, prefix="cs101", **options):
    store = services_of(server.app).keys
    return server.run_in_loop(store.create(n, prefix, server.clock.time(), **options))


def bearer(key) -> dict[str, str]:
    return {"Authorization": f"Bearer {key.raw if hasattr(key, 'raw') else key}"}


def usage(server, **params) -> dict:
    r = httpx.get(server.url + "/admin/usage", headers=ADMIN, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def key_row(data, key_id) -> dict:
    return next(r for r in data["keys"] if r["id"] == key_id)


def cost(u: dict) -> float:
    return (u["prompt_tokens"] * 0.15 + u["completion_tokens"] * 0.60) / 1e6


async def test_class_mode_without_redis_refuses_to_start():
    from reference_service.pricing import PriceTable
    from reference_service.services import start

    with pytest.raises(ClassModeNeedsRedis, match="REDIS_URL"):
        await start(make_settings(class_mode=True), FakeClock(), PriceTable())


async def test_class_mode_with_an_unpriced_model_refuses_to_start():
    """Its requests would cost 0: no budget would ever stop them. Priced at 0 on purpose, a
    local model is fine."""
    from reference_service.pricing import ModelPrice, PriceTable
    from reference_service.services import ClassModeNeedsPrices, _check_class_mode, start

    local = {"default_model": "llama3.2:3b", "strong_model": "llama3.2:3b"}
    settings = make_settings(class_mode=True, redis_url="redis://unused", **local)
    with pytest.raises(ClassModeNeedsPrices, match=r"MODEL_PRICES has no price for llama3\.2:3b"):
        await start(settings, FakeClock(), PriceTable(settings.model_prices))
    free = {"llama3.2:3b": ModelPrice(usd_per_1m_input=0, usd_per_1m_output=0)}
    _check_class_mode(settings.model_copy(update={"model_prices": free}))
    _check_class_mode(settings.model_copy(update={"class_mode": False}))


def test_a_stored_key_is_served_and_logged_by_its_id_only(cls, captured):
    (key,) = make_keys(cls, 1)
    r = httpx.post(cls.url + "/chat", json=ASK, headers=bearer(key))
    assert r.status_code == 200
    assert httpx.post(cls.url + "/chat", json=ASK).status_code == 401
    other = "B" if key.raw.endswith("A") else "A"  # a key one character off, never the key
    wrong = httpx.post(cls.url + "/chat", json=ASK, headers=bearer(key.raw[:-1] + other))
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "unauthorized"
    env = httpx.post(cls.url + "/chat", json=ASK, headers=bearer(ENV_KEY))  # API_KEYS too
    assert env.status_code == 200
    # the request's log line is written when its response ends, which can be just after
    # the client has read it: wait for both lines (a busy machine showed the race)
    deadline = time.monotonic() + 5
    while True:
        lines = [json.loads(line) for line in captured if '"msg": "request"' in line]
        served = [line for line in lines if line.get("status") == 200]
        if len(served) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert [line["key_id"] for line in served] == ["cs101-001", "env-" + served[1]["key_id"][4:]]
    assert served[0]["tenant"] == "cs101" and served[1]["tenant"] == "staff"
    everything = "\n".join(captured)
    for secret in (key.raw, key.raw.split("-", 2)[2], ENV_KEY):
        assert secret not in everything


def test_a_revoked_key_is_refused_on_its_next_request(cls):
    a, b = make_keys(cls, 2)
    assert httpx.post(cls.url + "/chat", json=ASK, headers=bearer(a)).status_code == 200
    store = services_of(cls.app).keys
    cls.run_in_loop(store.revoke([a.record.id], cls.clock.time()))
    r = httpx.post(cls.url + "/chat/stream", json=ASK, headers=bearer(a))
    assert r.status_code == 401
    body = r.json()["error"]
    assert body["code"] == "key_revoked" and "cs101-001" in body["message"]
    assert httpx.post(cls.url + "/chat", json=ASK, headers=bearer(b)).status_code == 200
    (rotated,) = cls.run_in_loop(store.rotate([b.record.id], cls.clock.time()))
    assert httpx.post(cls.url + "/chat", json=ASK, headers=bearer(b)).status_code == 401
    assert httpx.post(cls.url + "/chat", json=ASK, headers=bearer(rotated)).status_code == 200
    row = key_row(usage(cls), "cs101-001")
    assert row["status"] == "revoked" and row["refusals"] == {"key_revoked": 1}


def test_a_key_budget_allows_the_request_that_crosses_it_and_refuses_the_next(cls, mock):
    probe = httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(ENV_KEY), **NO_CACHE})
    one = cost(probe.json()["usage"])
    (key,) = make_keys(cls, 1, budget_usd=2.5 * one, period="day")
    statuses = [
        httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(key), **NO_CACHE})
        for _ in range(4)
    ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    refused = statuses[-1]
    error = refused.json()["error"]
    assert error["type"] == "budget_exceeded" and "resets at" in error["message"]
    budget = error["budget"]
    assert budget["scope"] == "key" and budget["owner"] == "cs101-001"
    assert budget["spent_usd"] == pytest.approx(3 * one, abs=1e-9)
    midnight = (int(cls.clock.time()) // 86400 + 1) * 86400
    assert budget["resets_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(midnight))
    assert abs(int(refused.headers["retry-after"]) - (midnight - cls.clock.time())) <= 2
    assert len(mock.state.chat_requests()) == 4  # the probe and three: the 429 never went up
    row = key_row(usage(cls), "cs101-001")
    assert row["requests"] == 3 and row["refusals"] == {"budget_exceeded": 1}
    assert row["budget"]["spent_usd"] == pytest.approx(3 * one, abs=1e-9)
    cls.clock.advance(midnight - cls.clock.time() + 1)  # the next day: a fresh budget
    again = httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(key), **NO_CACHE})
    assert again.status_code == 200


def test_a_tenant_budget_is_shared_by_its_keys(cls):
    probe = httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(ENV_KEY), **NO_CACHE})
    one = cost(probe.json()["usage"])
    keys = make_keys(cls, 3, prefix="lab")
    cls.run_in_loop(services_of(cls.app).keys.set_tenant("lab", 3.5 * one, "week"))
    codes = [
        httpx.post(
            cls.url + "/chat", json=ASK, headers={**bearer(keys[i % 3]), **NO_CACHE}
        ).status_code
        for i in range(6)
    ]
    assert codes == [200, 200, 200, 200, 429, 429]
    data = usage(cls)
    tenant = next(t for t in data["tenants"] if t["tenant"] == "lab")
    assert tenant["requests"] == 4 and tenant["keys"] == 3
    assert tenant["budget"]["period"] == "week"
    assert tenant["budget"]["spent_usd"] == pytest.approx(4 * one, abs=1e-9)


def test_a_stream_the_client_leaves_is_charged_for_what_it_used(cls, mock):
    (key,) = make_keys(cls, 1, budget_usd=1.0)
    full = httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(ENV_KEY), **NO_CACHE})
    mock.config.latency = "realistic"  # ~12 ms a token: time to leave after the first
    with httpx.stream(
        "POST", cls.url + "/chat/stream", json=ASK, headers={**bearer(key), **NO_CACHE}
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data:"):
                break  # one token, then the client goes away
    deadline = time.monotonic() + 10
    while (row := key_row(usage(cls), "cs101-001"))["requests"] == 0:
        assert time.monotonic() < deadline, "the early end was never charged"
        time.sleep(0.05)
    full_usage = full.json()["usage"]
    assert 1 <= row["completion_tokens"] < full_usage["completion_tokens"]
    assert row["prompt_tokens"] == full_usage["prompt_tokens"]
    assert row["cost_usd"] == pytest.approx(cost(row), abs=1e-9)
    assert row["budget"]["spent_usd"] == pytest.approx(row["cost_usd"], abs=1e-9)
    assert row["budget"]["held_usd"] == 0


def test_a_cache_hit_costs_nothing_and_counts_as_saved(cls):
    (key,) = make_keys(cls, 1, budget_usd=1.0)
    first = httpx.post(cls.url + "/chat", json=ASK, headers=bearer(key))
    hit = httpx.post(cls.url + "/chat", json=ASK, headers=bearer(key))
    with httpx.stream("POST", cls.url + "/chat/stream", json=ASK, headers=bearer(key)) as s:
        assert s.headers["x-cache"] == "HIT"
        s.read()
    assert first.json()["cache"] == "MISS" and hit.json()["cache"] == "HIT"
    row = key_row(usage(cls), "cs101-001")
    one = cost(first.json()["usage"])
    assert row["requests"] == 3 and row["cache_hits"] == 2
    assert row["cost_usd"] == pytest.approx(one, abs=1e-9)
    assert row["saved_usd"] == pytest.approx(2 * one, abs=1e-9)
    assert row["tokens"] == first.json()["usage"]["total_tokens"]  # paid tokens only
    assert row["budget"]["spent_usd"] == pytest.approx(one, abs=1e-9)


def test_an_upstream_failure_gives_the_hold_back_and_is_counted(cls, mock):
    (key,) = make_keys(cls, 1, budget_usd=1.0)
    mock.state.fail_next(3, "500")
    r = httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(key), **NO_CACHE})
    assert r.status_code == 502
    row = key_row(usage(cls), "cs101-001")
    assert row["requests"] == 0 and row["refusals"] == {"upstream_error": 1}
    assert row["budget"] == {**row["budget"], "spent_usd": 0, "held_usd": 0}


def test_usage_as_csv_and_the_admin_token(cls):
    keys = make_keys(cls, 2, budget_usd=2, period="day")
    httpx.post(cls.url + "/chat", json=ASK, headers=bearer(keys[0]))
    assert httpx.get(cls.url + "/admin/usage").status_code == 401
    assert (
        httpx.get(cls.url + "/admin/usage", headers={"Authorization": "Bearer nope"}).status_code
        == 403
    )
    r = httpx.get(cls.url + "/admin/usage", headers=ADMIN, params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["id"] for row in rows] == ["cs101-001", "cs101-002"]
    assert rows[0]["requests"] == "1" and rows[1]["requests"] == "0"
    assert rows[0]["budget_usd"] == "2.0" and rows[0]["period"] == "day"
    by_tenant = httpx.get(
        cls.url + "/admin/usage", headers=ADMIN, params={"format": "csv", "by": "tenant"}
    )
    assert [row["tenant"] for row in csv.DictReader(io.StringIO(by_tenant.text))] == ["cs101"]
    data = usage(cls, tenant="cs101")
    assert data["totals"]["requests"] == 1 and data["totals"]["keys"] == 2
    assert data["live"]["in_flight"] == 0 and "gpt-4o-mini" in data["live"]["breakers"]
    for bad in ({"tenant": "a b"}, {"format": "xml"}, {"by": "student"}):
        bad_r = httpx.get(cls.url + "/admin/usage", headers=ADMIN, params=bad)
        assert bad_r.status_code == 422 and bad_r.json()["error"]["type"] == "validation_error"
    page = httpx.get(cls.url + "/admin")
    assert page.status_code == 200 and "Class usage" in page.text  # the page holds no data


def test_usage_needs_class_mode(service):
    app = create_app(make_settings(admin_token="t"))
    with ThreadedServer(app) as s:
        r = httpx.get(s.url + "/admin/usage", headers={"Authorization": "Bearer t"})
    assert r.status_code == 404 and r.json()["error"]["type"] == "class_mode_off"


def test_tenant_metrics_count_keyed_requests(cls):
    (key,) = make_keys(cls, 1, prefix="metrics", budget_usd=1e-9)
    ok = httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(key), **NO_CACHE})
    refused = httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(key), **NO_CACHE})
    assert ok.status_code == 200 and refused.status_code == 429
    text = httpx.get(cls.url + "/metrics").text
    assert 'llm_gateway_tenant_cost_usd_total{model="gpt-4o-mini",tenant="metrics"}' in text
    assert 'llm_gateway_tenant_refusals_total{tenant="metrics",type="budget_exceeded"} 1.0' in text
    assert to_nano(1e-9) == 1


@pytest.mark.browser
def test_the_instructor_page_shows_usage_and_updates_live(cls, browser_page, tmp_path):
    page = browser_page
    keys = make_keys(cls, 2)
    store = services_of(cls.app).keys
    cls.run_in_loop(store.update([keys[1].record.id], budget_usd=1e-9))
    for key in (keys[0], keys[0], keys[1], keys[1]):
        httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(key), **NO_CACHE})
    page.goto(cls.url + "/admin?every=0.3")
    page.fill("#token", "not-the-token")
    page.click("#show")
    page.wait_for_selector("body[data-state=login]")
    page.wait_for_function("document.getElementById('status').textContent.includes('wrong')")
    page.fill("#token", "admin-secret")
    page.click("#show")
    page.wait_for_selector("body[data-state=ok]", timeout=10_000)
    first = page.locator('#keys tr[data-id="cs101-001"] td')
    assert first.nth(3).text_content() == "2"  # requests
    over = page.locator('#keys tr[data-id="cs101-002"]')
    assert "over" in over.get_attribute("class")
    assert over.locator("td.refusals").text_content() == "budget_exceeded 1"
    assert page.text_content("#c-requests") == "3"
    assert page.text_content("#c-refused") == "1"
    assert page.locator('#tenants tr[data-id="cs101"] td').nth(2).text_content() == "3"
    httpx.post(cls.url + "/chat", json=ASK, headers={**bearer(keys[0]), **NO_CACHE})
    page.wait_for_function(
        "document.getElementById('c-requests').textContent === '4'", timeout=10_000
    )  # refreshed by itself
    page.fill("#filter", "002")
    assert page.locator("#keys tbody tr").count() == 1
    page.screenshot(
        path=os.environ.get("ADMIN_PAGE_SCREENSHOT", str(tmp_path / "admin.png")), full_page=True
    )


def test_with_redis_gone_class_mode_fails_closed_with_a_clear_503(mock):
    from mock_llm import free_port

    settings = make_settings(
        openai_base_url=mock.base_url,
        class_mode=True,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        cache_enabled=False,
        admin_token="admin-secret",
    )
    with ThreadedServer(create_app(settings)) as s:
        r = httpx.post(s.url + "/chat", json=ASK, headers=bearer("sk-cs101-whatever"))
        report = httpx.get(s.url + "/admin/usage", headers=ADMIN)
    assert r.status_code == 503 and r.json()["error"]["type"] == "key_store_unavailable"
    assert r.headers["retry-after"] == "5"
    assert report.status_code == 503
    assert report.json()["error"]["type"] == "key_store_unavailable"
    assert len(mock.state.chat_requests()) == 0


def test_chat_limited_counts_per_key_in_class_mode_not_per_header(cls):
    """The lecture's 30 a minute per client: with keys, the key is the client; a made-up
    X-Client-ID on each request must not buy a fresh window."""
    (key,) = make_keys(cls, 1)
    codes = [
        httpx.post(
            cls.url + "/chat/limited",
            json=ASK,
            headers={**bearer(key), **NO_CACHE, "X-Client-ID": f"me-{i}"},
        ).status_code
        for i in range(31)
    ]
    assert codes == [200] * 30 + [429]
