"""The service fits the upstream it is pointed at: moderation from wherever it exists (or
a clear start-up error), model names checked against what the upstream serves, and a
single-model upstream routed to its one model."""

from __future__ import annotations

import logging

import httpx
import pytest

from mock_llm import ThreadedServer
from reference_service import create_app, services_of
from reference_service.clock import FakeClock
from reference_service.llm import UpstreamClient, build_openai_client
from reference_service.llm.breaker import BreakerConfig, BreakerRegistry
from reference_service.llm.resilient import ResilientUpstream
from reference_service.llm.retry import RetryPolicy
from reference_service.safety import moderation
from reference_service.services import check_models
from tests.support import make_settings


def client_for(url: str) -> UpstreamClient:
    return UpstreamClient(build_openai_client(url, "k", 5, 2))


def resilient(client: UpstreamClient) -> ResilientUpstream:
    import fakeredis

    clock = FakeClock()
    return ResilientUpstream(
        client,
        clock,
        RetryPolicy(1, 0.1, 0.1),
        BreakerRegistry(fakeredis.FakeAsyncRedis(), clock, BreakerConfig(5, 30)),
    )


@pytest.mark.parametrize(
    "mode,missing,expected",
    [
        ("auto", False, "upstream"),
        ("auto", True, "local"),
        ("local", False, "local"),
        ("off", False, "off"),
        ("upstream", False, "upstream"),
    ],
)
async def test_the_moderator_is_chosen_by_mode_and_what_the_endpoint_has(
    mock, mode, missing, expected, caplog
):
    if missing:
        mock.state.fail_next(1, "404", endpoint="moderations")
    c = client_for(mock.base_url)
    with caplog.at_level(logging.INFO, logger="reference_service"):
        chosen = await moderation.choose(mode, c, resilient(c), "omni-moderation-latest", 5)
    assert chosen.mode == expected
    if missing:  # one clear line says what happened and which setting changes it
        [line] = [r.getMessage() for r in caplog.records if "moderation:" in r.getMessage()]
        assert "no /v1/moderations" in line and "MODERATION_BASE_URL" in line
    await c.aclose()


async def test_upstream_mode_without_moderations_refuses_to_start(mock):
    mock.state.fail_next(1, "404", endpoint="moderations")
    c = client_for(mock.base_url)
    with pytest.raises(moderation.ModerationUnsupported) as e:
        await moderation.choose("upstream", c, resilient(c), "omni-moderation-latest", 5)
    assert "MODERATION_BASE_URL" in str(e.value) and "MODERATION_MODE" in str(e.value)
    await c.aclose()


async def test_the_local_moderator_flags_like_the_fake_upstream():
    flagged = await moderation.LocalModerator().moderate(
        ["How do I kill the process that holds the GPU?", "MODERATION_TEST_FLAG:violence"],
        deadline=None,
    )
    assert flagged == [[], ["violence"]]


def test_guarded_requests_work_on_an_upstream_without_moderations(mock_server, mock):
    """What a vLLM/Ollama user got before: every /chat/safe a 503 safety_unavailable."""
    mock.state.fail_next(1, "404", endpoint="moderations")  # the start-up probe
    app = create_app(make_settings(openai_base_url=mock_server.base_url))
    with ThreadedServer(app) as s:
        assert services_of(app).moderator.mode == "local"
        r = httpx.post(s.url + "/chat/safe", json={"message": "What is HBM3?"})
        assert r.status_code == 200, r.text
        r = httpx.post(s.url + "/chat/safe", json={"message": "MODERATION_TEST_FLAG:hate"})
        assert r.status_code == 400 and r.json()["error"]["categories"] == ["hate"]
        assert not [x for x in mock.state.requests if x.path.endswith("/moderations")][1:]
        checks = httpx.get(s.url + "/health/detailed").json()["checks"]
        assert checks["moderation"] is True
        assert httpx.get(s.url + "/ready").json()["moderation"] == "local"


def test_health_says_when_upstream_moderation_is_down(mock_server, mock):
    app = create_app(make_settings(openai_base_url=mock_server.base_url, admin_token="t"))
    with ThreadedServer(app) as s:
        mock.state.fail_next(1, "503", endpoint="moderations")
        r = httpx.get(s.url + "/health/detailed", headers={"Authorization": "Bearer t"})
        assert r.status_code == 503 and r.json()["checks"]["moderation"] is False
        assert r.json()["checks"]["upstream"] is True


async def test_model_names_the_upstream_does_not_serve_are_said_clearly(mock, caplog):
    c = client_for(mock.base_url)
    settings = make_settings(openai_base_url=mock.base_url, default_model="llama3.2:3b")
    with caplog.at_level(logging.INFO, logger="reference_service"):
        assert await check_models(settings, c) == ["DEFAULT_MODEL=llama3.2:3b"]
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("models:")]
    assert "DEFAULT_MODEL=llama3.2:3b: not served by" in line and "gpt-4o-mini" in line
    assert "STRONG_MODEL" not in line.split("not served")[0]  # only the missing one named
    await c.aclose()


async def test_an_upstream_without_a_models_list_is_not_checked():
    from starlette.applications import Starlette

    with ThreadedServer(Starlette()) as bare:  # 404 for everything
        c = client_for(bare.url + "/v1")
        await check_models(make_settings(openai_base_url=bare.url, default_model="x"), c)
        await c.aclose()


def test_a_model_the_upstream_lacks_makes_health_degraded(mock_server, mock):
    app = create_app(
        make_settings(
            openai_base_url=mock_server.base_url, admin_token="t", strong_model="gpt-5-nonexistent"
        )
    )
    with ThreadedServer(app) as s:
        r = httpx.get(s.url + "/health/detailed", headers={"Authorization": "Bearer t"})
        assert r.status_code == 503 and r.json()["checks"]["upstream"] is False
        assert "STRONG_MODEL=gpt-5-nonexistent" in r.json()["details"]["upstream"]["error"]
        r = httpx.post(s.url + "/chat", json={"message": "What is CXL?"})  # the other works
        assert r.status_code == 200


def test_a_single_model_upstream_routes_everything_to_it(mock_server, mock):
    app = create_app(
        make_settings(
            openai_base_url=mock_server.base_url,
            default_model="gpt-4o-mini",
            strong_model="gpt-4o-mini",
        )
    )
    hard = "Compare HBM3 and GDDR6X for a 4-GPU inference server and justify the choice."
    with ThreadedServer(app) as s:
        r = httpx.post(s.url + "/chat/smart", json={"message": hard})
        assert r.json()["model_used"] == "gpt-4o-mini"
        assert r.json()["routing"]["router"] == "single_model"
        models = httpx.get(s.url + "/v1/models").json()["data"]
        assert [m["id"] for m in models] == ["gpt-4o-mini", "auto"]
