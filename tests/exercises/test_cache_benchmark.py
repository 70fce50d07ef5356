"""Exercise 2 grader: the cache benchmark, against the service with the fake LLM at
realistic timing, on the embedded store and on a real Redis 8."""

from __future__ import annotations

import importlib

import pytest

from mock_llm import MockConfig, MockLLMServer, ThreadedServer
from reference_service import create_app
from tests.support import make_settings, services_of


@pytest.fixture
def bench(impl):
    return importlib.import_module(f"{impl}.cache_benchmark")


@pytest.fixture(scope="module")
def slow_mock():
    with MockLLMServer(MockConfig(latency="realistic")) as m:
        yield m


@pytest.fixture(params=["embedded", "redis8"])
def service_url(request, slow_mock):
    redis_url = None if request.param == "embedded" else request.getfixturevalue("redis_url")
    if redis_url:
        import redis
        redis.Redis.from_url(redis_url).flushdb()
    app = create_app(make_settings(openai_base_url=slow_mock.base_url, redis_url=redis_url,
                                   routing_enabled=False))
    with ThreadedServer(app) as server:
        server.run_in_loop(services_of(app).cache.clear())
        yield server.url


def test_benchmark_measures_misses_hits_and_wrong_hits(bench, service_url, tmp_path):
    queries = bench.QUERIES[:4] + [q for q in bench.QUERIES if not q[2]][:2]
    results = bench.run_benchmark(service_url, queries)
    assert [(r.question, r.follow_up) for r in results] == [(q, f) for q, f, _ in queries]
    assert all(r.miss_ms > 200 for r in results)  # the fake LLM's 250 ms to the first token
    report = bench.summarize(results)
    should = [r for r in results if r.should_hit]
    hits = [r for r in should if r.follow_up_cache == "HIT"]
    assert hits, "no paraphrase was served from the cache"
    assert report.pairs == len(queries) and report.wrong_hits == 0
    assert report.hit_rate == pytest.approx(len(hits) / len(should))
    assert report.speedup > 10 and report.hit_p50_ms < report.miss_p50_ms
    bench.plot(results, tmp_path / "cache.png")
    assert (tmp_path / "cache.png").read_bytes()[:4] == b"\x89PNG"


def test_summarize_on_known_numbers(bench):
    R = bench.PairResult
    results = [R("a", "a2", True, 1000.0, 10.0, "HIT"), R("b", "b2", True, 1200.0, 900.0, "MISS"),
               R("c", "c2", False, 800.0, 5.0, "HIT"), R("d", "d2", False, 1000.0, 950.0, "MISS")]
    s = bench.summarize(results)
    assert s.hit_rate == 0.5 and s.wrong_hits == 1
    assert s.miss_p50_ms == 1000.0 and s.hit_p50_ms == 10.0 and s.speedup == 100.0
