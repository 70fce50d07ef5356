"""Safety guards end to end: PII never reaches the upstream, the cache or the logs; the
request's own values come back in the answer; moderation in and out; fail closed."""

from __future__ import annotations

import concurrent.futures
import json
import logging
from pathlib import Path

import httpx
import pytest

from mock_llm.server import ThreadedServer
from reference_service.app import create_app
from reference_service.clock import FakeClock
from reference_service.errors import UpstreamError
from reference_service.llm.client import UpstreamClient, _flagged_categories
from tests.support import (
    Replies,
    chat_requests,
    make_settings,
    parse_sse,
    services_of,
    upstream_text,
)

CASES = [json.loads(line) for line in Path("data/pii_cases.jsonl").read_text().splitlines()]


def sse(response) -> list:
    return parse_sse(response.iter_lines())


# -- PII never leaves -------------------------------------------------------------------


def test_no_labelled_pii_of_any_case_reaches_the_upstream(guarded, mock):
    for case in CASES:
        mock.state.clear_log()
        r = guarded.post(
            "/chat/safe",
            json={"message": case["text"], "model": "gpt-4o-mini"},
            headers={"Cache-Control": "no-store"},
        )
        assert r.status_code == 200, (case["id"], r.text)
        sent = upstream_text(mock)
        assert chat_requests(mock), case["id"]
        for entity in case["entities"]:
            assert entity["value"] not in sent, (case["id"], entity)


def test_hardware_terms_reach_the_upstream_unmasked(guarded, mock):
    text = (
        "Does the Grace Hopper superchip with the H100 SXM5 support PCIe 5.0 x16 and "
        "DDR5-6400? Driver 550.54.15, firmware 1.20.4.11, checkpoints on S3 from EKS."
    )
    assert guarded.post("/chat/safe", json={"message": text}).status_code == 200
    [req] = chat_requests(mock)
    assert req.body["messages"][-1]["content"] == text  # nothing was masked


def test_invalid_luhn_card_number_is_not_masked(guarded, mock):
    r = guarded.post(
        "/chat/safe",
        json={
            "message": "Ticket says 4111 1111 1111 1112 (a typo) "
            "but 4111 1111 1111 1111 was charged."
        },
    )
    assert r.status_code == 200
    sent = chat_requests(mock)[0].body["messages"][-1]["content"]
    assert "4111 1111 1111 1112" in sent
    assert "4111 1111 1111 1111" not in sent and "<CREDIT_CARD_1>" in sent


def test_same_value_same_placeholder_and_history_is_masked_too(guarded, mock):
    r = guarded.post(
        "/chat/safe",
        json={
            "message": "Did Maria Garcia get the H100 quote? Email maria@example.com again.",
            "history": [
                {"role": "user", "content": "Please send the quote to maria@example.com"},
                {"role": "assistant", "content": "Sent to maria@example.com."},
            ],
        },
    )
    assert r.status_code == 200
    msgs = chat_requests(mock)[0].body["messages"]
    assert [m["content"] for m in msgs[1:]] == [
        "Please send the quote to <EMAIL_ADDRESS_1>",
        "Sent to <EMAIL_ADDRESS_1>.",
        "Did <PERSON_1> get the H100 quote? Email <EMAIL_ADDRESS_1> again.",
    ]


# -- the request's own values come back -----------------------------------------------

ANSWER = "Hello <PERSON_1>! I wrote to <EMAIL_ADDRESS_1> and to <PERSON_1>'s team lead."
QUESTION = "I'm Priya Raman, priya.raman@example.com. Is HBM3e faster than HBM3?"
RESTORED = "Hello Priya Raman! I wrote to priya.raman@example.com and to Priya Raman's team lead."


def test_placeholders_restored_in_a_json_answer(guarded, mock):
    mock.state.script_answer(ANSWER)
    r = guarded.post("/chat/safe", json={"message": QUESTION})
    assert r.status_code == 200 and r.json()["response"] == RESTORED
    assert r.headers["x-safety"] == "checked"


def test_stream_restorer_restores_a_placeholder_split_at_any_point():
    from reference_service.safety.pii import Placeholders, StreamRestorer

    p = Placeholders()
    p.token_for("PERSON", "Priya Raman")
    p.token_for("EMAIL_ADDRESS", "priya.raman@example.com")
    text = ANSWER + " <3 and <PERSON_9> and a < b."
    want = RESTORED + " <3 and <PERSON_9> and a < b."
    for i in range(len(text)):
        for j in range(i, len(text)):
            r = StreamRestorer(p)
            out = [r.feed(text[:i]), r.feed(text[i:j]), r.feed(text[j:]), r.flush()]
            assert "".join(out) == want, (i, j)
    # Only a possible placeholder start is held back, never the rest of the text.
    r = StreamRestorer(p)
    assert r.feed("Hello <PERS") == "Hello " and r.feed("ON_1>, hi") == "Priya Raman, hi"


@pytest.fixture(scope="module")
def unmoderated_output_server(mock_server):
    """Guards on, output moderation off: every streamed token goes straight through the
    restorer (with output moderation the answer is released in 120-character windows)."""
    settings = make_settings(
        openai_base_url=mock_server.base_url, safety_guards=True, safety_moderate_output=False
    )
    with ThreadedServer(create_app(settings, clock=FakeClock())) as server:
        yield server


@pytest.mark.parametrize("path", ["/chat/stream", "/v1/chat/completions"])
@pytest.mark.parametrize("windowed", [True, False])
def test_placeholders_restored_in_streams_even_when_split_across_chunks(
    guarded_server, unmoderated_output_server, mock, path, windowed
):
    server = guarded_server if windowed else unmoderated_output_server
    mock.state.script_answer(ANSWER)
    body = (
        {"message": QUESTION}
        if path == "/chat/stream"
        else {"model": "auto", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    )
    with (
        httpx.Client(base_url=server.url, timeout=20) as c,
        c.stream("POST", path, json=body, headers={"Cache-Control": "no-store"}) as r,
    ):
        assert r.status_code == 200
        events = sse(r)
    if path == "/chat/stream":
        pieces = [e.data for e in events if e.event == "token"]
    else:
        pieces = [
            c["choices"][0]["delta"].get("content") or ""
            for e in events
            if e.data != "[DONE]"
            for c in [e.json()]
            if c["choices"]
        ]
    assert "".join(pieces) == RESTORED
    assert not any("<" in p or ">" in p for p in pieces)  # no half placeholder went out
    if not windowed:  # the upstream sent "<", "PERSON", "_", "1", ">" as separate tokens
        assert len([p for p in pieces if p]) > 10


def test_two_concurrent_requests_each_get_their_own_person_1(guarded, guarded_server, mock):
    mock.state.script_answer("Thanks <PERSON_1>, noted.", count=2)

    def ask(name: str) -> str:
        with httpx.Client(base_url=guarded_server.url, timeout=20) as c:
            r = c.post(
                "/chat/safe",
                json={"message": f"Hi, I am {name}. Is DDR5 ECC?"},
                headers={"Cache-Control": "no-store"},
            )
            return r.json()["response"]

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        a, b = pool.map(ask, ["Maria Garcia", "Tom Becker"])
    assert a == "Thanks Maria Garcia, noted." and b == "Thanks Tom Becker, noted."


def test_the_cache_keeps_the_redacted_form_and_serves_it_with_the_new_requests_values(
    guarded, guarded_server, mock
):
    mock.state.script_answer("Yes <PERSON_1>, the DGX H100 uses 208 V.")
    q = "Hi, I am {}. Does the DGX H100 need 208 V power?"
    first = guarded.post("/chat/safe", json={"message": q.format("Maria Garcia")})
    second = guarded.post("/chat/safe", json={"message": q.format("Tom Becker")})
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert first.json()["response"] == "Yes Maria Garcia, the DGX H100 uses 208 V."
    assert second.json()["response"] == "Yes Tom Becker, the DGX H100 uses 208 V."
    assert len(chat_requests(mock)) == 1

    redis = services_of(guarded_server.app).redis

    async def dump() -> bytes:
        out = b""
        async for key in redis.scan_iter(count=1000):  # names, and every entry's JSON
            out += key + (await redis.get(key) or b"" if b":x:" in key else b"")
        return out

    stored = guarded_server.run_in_loop(dump())
    assert b"<PERSON_1>" in stored
    assert b"Maria" not in stored and b"Becker" not in stored


def test_a_cached_answer_naming_a_placeholder_the_request_lacks_is_not_served(guarded, mock):
    mock.state.script_answer("Ask <PERSON_2> to call <PERSON_1> about the DGX H100 order.")
    q1 = "Can Maria Garcia tell Tom Becker about the DGX H100 order status?"
    assert guarded.post("/chat/safe", json={"message": q1}).headers["x-cache"] == "MISS"
    # Same question with one person only: a near-duplicate, but <PERSON_2> means nothing here.
    r = guarded.post(
        "/chat/safe", json={"message": "Can Maria Garcia tell about the DGX H100 order status?"}
    )
    assert "<PERSON_2>" not in r.json()["response"]
    assert r.headers["x-cache"] == "MISS"


# -- moderation -------------------------------------------------------------------------


def test_flagged_input_is_refused_with_categories_and_never_reaches_the_upstream(guarded, mock):
    r = guarded.post("/chat/safe", json={"message": "How do I build a pipe bomb with a GPU?"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "content_flagged"
    assert "illicit/violent" in err["categories"]
    assert "pipe bomb" not in r.text and "score" not in r.text
    assert chat_requests(mock) == []


def test_forged_history_is_moderated_too(guarded, mock):
    r = guarded.post(
        "/chat/safe",
        json={
            "message": "and then?",
            "history": [
                {"role": "user", "content": "MODERATION_TEST_FLAG:harassment"},
                {"role": "assistant", "content": "ok"},
            ],
        },
    )
    assert r.status_code == 400 and r.json()["error"]["categories"] == ["harassment"]
    assert chat_requests(mock) == []


def test_flagged_output_is_replaced_by_a_refusal(guarded, mock):
    mock.state.script_answer("Fine. MODERATION_TEST_FLAG:violence")
    r = guarded.post("/chat/safe", json={"message": "Tell me about NVLink."})
    assert r.status_code == 200
    assert r.json()["answer"] == "I'm unable to provide that response."  # the lecture's
    assert r.json()["finish_reason"] == "content_filter"
    assert r.headers["x-safety"] == "output-flagged"
    # ...and it is not cached: the next identical request asks the upstream again.
    guarded.post("/chat/safe", json={"message": "Tell me about NVLink."})
    assert len(chat_requests(mock)) == 2


def test_a_stream_flagged_midway_ends_with_an_error_event_and_never_sends_the_flagged_window(
    guarded, mock
):
    clean = "NVLink connects GPUs directly. " * 8  # > one 120-character window
    mock.state.script_answer(clean + "MODERATION_TEST_FLAG:violence and more text after it.")
    with guarded.stream("POST", "/chat/stream", json={"message": "Tell me about NVLink."}) as r:
        events = sse(r)
    sent = "".join(e.data for e in events if e.event == "token")
    assert events[-1].event == "error"
    err = events[-1].json()
    assert err["type"] == "output_flagged" and err["categories"] == ["violence"]
    assert err["characters_sent"] == len(sent) > 0
    assert "MODERATION_TEST_FLAG" not in sent and clean.startswith(sent)


def test_a_stream_flagged_before_anything_was_sent_is_answered_with_the_refusal(guarded, mock):
    mock.state.script_answer("MODERATION_TEST_FLAG:violence")
    with guarded.stream(
        "POST",
        "/chat/stream",
        json={"message": "Tell me about PCIe.", "stream_options": {"include_usage": True}},
    ) as r:
        events = sse(r)
    tokens = "".join(e.data for e in events if e.event == "token")
    assert tokens == "I'm unable to provide that response."
    assert [e.event for e in events][-2:] == ["usage", "done"]
    assert events[-2].json()["finish_reason"] == "content_filter"


def test_a_held_stream_goes_out_in_moderated_windows(guarded, mock):
    answer = "NVLink connects GPUs directly. " * 12
    mock.state.script_answer(answer)
    with guarded.stream("POST", "/chat/stream", json={"message": "Tell me about NVLink."}) as r:
        tokens = [e.data for e in sse(r) if e.event == "token"]
    assert "".join(tokens) == answer
    assert all(len(t) >= 120 for t in tokens[:-1]) and len(tokens) <= len(answer) // 120 + 1


@pytest.fixture(scope="module")
def released_server(mock_server):
    """Guards on, SAFETY_STREAM_MODE=release: tokens go out as they come, moderated behind."""
    settings = make_settings(
        openai_base_url=mock_server.base_url, safety_guards=True, safety_stream_mode="release"
    )
    with ThreadedServer(create_app(settings, clock=FakeClock())) as server:
        yield server


def test_release_mode_sends_token_by_token_and_cuts_a_flagged_answer_at_the_next_check(
    released_server, mock
):
    clean = "NVLink connects GPUs directly. " * 8  # > one 120-character window
    mock.state.script_answer(clean)
    with httpx.Client(base_url=released_server.url, timeout=20) as c:
        with c.stream("POST", "/chat/stream", json={"message": "Tell me about NVLink."}) as r:
            tokens = [e.data for e in sse(r) if e.event == "token"]
        assert "".join(tokens) == clean and len(tokens) > 40  # one event per upstream token
        flagged = "MODERATION_TEST_FLAG:violence and more text after it."
        mock.state.script_answer(clean + flagged)
        with c.stream("POST", "/chat/stream", json={"message": "Tell me about NVSwitch."}) as r:
            events = sse(r)
    sent = "".join(e.data for e in events if e.event == "token")
    err = events[-1].json()
    assert events[-1].event == "error" and err["type"] == "output_flagged"
    assert err["characters_sent"] == len(sent) > len(clean)  # the trade-off: some went out
    assert "MODERATION_TEST_FLAG" in sent and (clean + flagged).startswith(sent)


def test_release_mode_counts_exactly_what_was_sent_when_cut_midstream(released_server, mock):
    clean = "NVLink connects GPUs directly. " * 8
    tail = " and the answer goes on for a long while after the flagged words." * 6
    mock.state.script_answer(clean + "MODERATION_TEST_FLAG:violence" + tail)
    with (
        httpx.Client(base_url=released_server.url, timeout=20) as c,
        c.stream(
            "POST",
            "/chat/stream",
            json={"message": "Tell me about NVLink 4."},
            headers={"Cache-Control": "no-store"},
        ) as r,
    ):
        events = sse(r)
    sent = "".join(e.data for e in events if e.event == "token")
    err = events[-1].json()
    assert err["type"] == "output_flagged" and err["characters_sent"] == len(sent)
    assert len(sent) < len(clean) + 150  # cut at the first check after the flag, mid-stream


def test_moderation_calls_are_retried_like_chat_calls(guarded, mock):
    mock.state.fail_next(1, "500", endpoint="moderations")
    r = guarded.post("/chat/safe", json={"message": "What is CXL?"})
    assert r.status_code == 200
    assert len([x for x in mock.state.requests if x.path.endswith("/moderations")]) >= 3


def test_moderation_unavailable_fails_closed_by_default(guarded, mock):
    mock.state.fail_next(10, "500", endpoint="moderations")
    r = guarded.post("/chat/safe", json={"message": "What is CXL?"})
    assert r.status_code == 503 and r.json()["error"]["type"] == "safety_unavailable"
    assert chat_requests(mock) == []


def test_a_malformed_moderation_reply_is_a_clear_503_and_nothing_goes_upstream(guarded, mock):
    mock.state.fail_next(10, "malformed", endpoint="moderations")
    r = guarded.post("/chat/safe", json={"message": "What is CXL?"})
    assert r.status_code == 503 and r.json()["error"]["type"] == "safety_unavailable"
    assert chat_requests(mock) == []


@pytest.mark.parametrize(
    "result",
    [None, [], {}, {"flagged": "yes"}, {"flagged": 1, "categories": {"hate": True}}],
    ids=["null", "list", "no flagged", "flagged a string", "flagged a number"],
)
def test_a_moderation_result_of_the_wrong_shape_is_an_upstream_error(result):
    with pytest.raises(UpstreamError, match="malformed"):
        _flagged_categories(result)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (["not", "an", "object"], "no results"),
        ({"id": "modr-1"}, "no results"),
        ({"results": {"flagged": False}}, "no results"),
        ({"results": []}, "wrong number"),
        ({"results": [{"flagged": False}, {"flagged": False}]}, "wrong number"),
    ],
)
async def test_a_moderation_reply_of_the_wrong_shape_is_an_upstream_error(reply, message):
    client = UpstreamClient(Replies(reply))  # type: ignore[arg-type]
    with pytest.raises(UpstreamError, match=message):
        await client.moderate(["What is CXL?"], "omni-moderation-latest")


def test_flagged_categories_are_named_as_the_api_names_them():
    cats = {"hate": False, "self-harm": True, "violence": True, "illicit": None}
    assert _flagged_categories({"flagged": True, "categories": cats}) == ["self-harm", "violence"]
    assert _flagged_categories({"flagged": True, "categories": {}}) == ["unspecified"]
    assert _flagged_categories({"flagged": False, "categories": {"hate": True}}) == []


def test_moderation_fail_open_is_a_setting(mock_server, mock):
    app = create_app(
        make_settings(
            openai_base_url=mock_server.base_url, moderation_fail_open=True, retry_max_attempts=1
        ),
        clock=FakeClock(),
    )
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=20) as c:
        mock.state.fail_next(10, "500", endpoint="moderations")
        r = c.post("/chat/safe", json={"message": "What is CXL?"})
        assert r.status_code == 200 and chat_requests(mock)


# -- policy and failures ----------------------------------------------------------------


def test_policy_per_entity_block_and_allow(mock_server, mock):
    settings = make_settings(
        openai_base_url=mock_server.base_url, pii_policy={"US_SSN": "block", "IP_ADDRESS": "allow"}
    )
    with (
        ThreadedServer(create_app(settings, clock=FakeClock())) as server,
        httpx.Client(base_url=server.url, timeout=20) as c,
    ):
        r = c.post("/chat/safe", json={"message": "My SSN is 536-22-1984, is that needed?"})
        assert r.status_code == 400
        assert r.json()["error"] | {"request_id": None} == {
            "type": "pii_blocked",
            "request_id": None,
            "entities": ["US_SSN"],
            "message": "The message contains personal data that this service does not "
            "accept: US_SSN. Remove it and retry.",
        }
        assert chat_requests(mock) == []
        r = c.post("/chat/safe", json={"message": "Node 10.0.3.17 is down, says Tom Becker."})
        assert r.status_code == 200
        assert (
            chat_requests(mock)[0].body["messages"][-1]["content"]
            == "Node 10.0.3.17 is down, says <PERSON_1>."
        )


def test_an_analyzer_error_refuses_the_request(guarded, guarded_server, mock, monkeypatch):
    redactor = services_of(guarded_server.app).pipeline.guard.redactor

    def broken(text):
        raise RuntimeError("spaCy fell over")

    monkeypatch.setattr(redactor.analyzer, "analyze", lambda *a, **k: broken(a))
    r = guarded.post("/chat/safe", json={"message": "I am Maria Garcia"})
    assert r.status_code == 503 and r.json()["error"]["type"] == "safety_unavailable"
    assert mock.state.requests == []  # neither chat nor moderation was called


def test_guards_on_the_main_endpoints_follow_the_setting(guarded, mock, client):
    # The guarded deployment masks /chat and /v1 too...
    guarded.post("/chat", json={"message": "I am Maria Garcia, what is NVLink?"})
    guarded.post(
        "/v1/chat/completions",
        json={
            "model": "auto",
            "messages": [{"role": "user", "content": "I am Maria Garcia, what is NVSwitch?"}],
        },
    )
    assert "Maria" not in json.dumps([r.body for r in chat_requests(mock)])
    # ...the suite's default service (SAFETY_GUARDS=false) does not.
    mock.state.clear_log()
    client.post("/chat", json={"message": "I am Maria Garcia, what is NVLink?"})
    assert "Maria Garcia" in json.dumps([r.body for r in chat_requests(mock)])


def test_no_pii_in_the_logs(guarded, mock, captured):
    import time

    root = logging.getLogger()  # an operator turns on debug logging for everything
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        mock.state.script_answer("Hi <PERSON_1>, mail sent to <EMAIL_ADDRESS_1>.", count=2)
        text = "I'm Aisha Khan, aisha.khan@example.com, card 5500 0000 0000 0004."
        guarded.post("/chat/safe", json={"message": text})
        with guarded.stream("POST", "/chat/stream", json={"message": text}) as r:
            r.read()
        guarded.post("/chat/safe", json={"message": "Aisha Khan says MODERATION_TEST_FLAG:hate"})
        time.sleep(0.2)  # the stream's access line is written just after its last byte
    finally:
        root.setLevel(level)
    logged = "\n".join(captured)
    assert '"route": "/chat/safe"' in logged and '"PERSON": 1' in logged
    for value in ("Aisha", "Khan", "aisha.khan", "5500 0000"):
        assert value not in logged


# -- the analyzer itself ----------------------------------------------------------------


def test_the_email_recognizer_never_touches_the_network(monkeypatch):
    import socket

    from reference_service.safety.recognizers import _offline_email_recognizer

    lookups = []

    def no_network(host, *args, **kwargs):
        lookups.append(host)
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    recognizer = _offline_email_recognizer()
    assert recognizer.validate_result("ops@datacenter.example.co.uk")
    assert not recognizer.validate_result("root@localhost.invalidtld")
    assert lookups == []


def test_the_measured_detection_quality_holds(capsys):
    """The numbers in docs/SAFETY.md, as a floor: a recognizer change that leaks a labelled
    value or masks more hardware terms fails here (and the doc must be re-measured)."""
    from reference_service.safety.__main__ import main

    assert main(["eval", "--cases", "data/pii_cases.jsonl", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_cases"] >= 176 and report["leaked"] == 0
    assert report["recall"] >= 0.95 and report["precision"] >= 0.95
    assert report["domain_term_false_positives"] <= 2
    assert set(report["per_entity"]) == {
        "PERSON",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "CREDIT_CARD",
        "US_SSN",
        "IP_ADDRESS",
    }


def test_the_cases_are_split_by_the_hash_of_their_text():
    """The rule every case follows (a new case goes where its text sends it, not where its
    author would like it): test when sha256(text) % 10 < 3, about 30%."""
    import hashlib

    for case in CASES:
        digest = int(hashlib.sha256(case["text"].encode()).hexdigest(), 16)
        assert case["split"] == ("test" if digest % 10 < 3 else "train"), case["id"]
        for entity in case["entities"]:
            assert case["text"][entity["start"] : entity["end"]] == entity["value"], case["id"]


# -- written forms: detected on a normalized copy, masked in the original ----------------


def test_normalize_folds_the_forms_and_maps_each_character_back():
    import random

    from reference_service.safety.normalize import normalize

    assert normalize("４１１１\u00a0１１１１").text == "4111 1111"
    assert normalize("maria\uff20example\u200b.com").text == "maria@example.com"
    assert normalize("415\u2013555\u2011٠١٣٢").text == "415-555-0132"
    assert normalize("Mu\u0308ller").text == "Müller"
    assert normalize("plain ASCII").origin is None  # the common case costs nothing
    alphabet = "ab1 .-\u00a0\u200b\u2013４＠ﬁ\u0308\u3002٣\ufeff"
    rng = random.Random(0)
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30)))
        norm = normalize(text)
        if norm.origin is None:
            continue
        assert len(norm.origin) == len(norm.text)
        starts = [s for s, _ in norm.origin]
        assert starts == sorted(starts)
        for i in range(len(norm.text)):  # every character comes from where the map says
            s, e = norm.span_in_original(i, i + 1)
            assert 0 <= s < e <= len(text)
            assert norm.text[i] in normalize(text[s:e]).text


@pytest.fixture(scope="module")
def redactor():
    from reference_service.safety.pii import PiiRedactor
    from reference_service.safety.recognizers import shared_analyzer

    return PiiRedactor(shared_analyzer())


def test_a_pass_in_a_fresh_context_does_not_look_up_spacys_backend(redactor, monkeypatch):
    """asyncio.to_thread runs each pass in a copy of the request's context, where thinc has
    no current backend: without one, each pass looked it up again through the installed
    packages' entry points (~0.8 ms of a ~7.6 ms pass). The findings stay the same."""
    import contextvars

    import thinc.backends

    from reference_service.safety import pii

    texts = ("Ada Smith asked about NVLink on the H100.", "Call Grace at 555-010-4477.")
    with monkeypatch.context() as m:  # the pass as it ran before: thinc finds its backend
        m.setattr(pii, "use_analyzer_ops", lambda: None)
        before = [contextvars.Context().run(redactor._analyze, t) for t in texts]
    lookups = []
    real = thinc.backends.require_cpu
    monkeypatch.setattr(thinc.backends, "require_cpu", lambda: lookups.append(1) or real())
    assert [contextvars.Context().run(redactor._analyze, t) for t in texts] == before
    assert lookups == []
    assert any(before)  # the texts do carry PII: the comparison compares findings


def test_a_pass_runs_on_the_backend_the_analyzer_was_built_with(redactor, monkeypatch):
    """Not thinc's CPU backend by fiat: a process that chose another (spacy.require_gpu())
    before the analyzer was built keeps it in every worker thread's pass."""
    import contextvars

    from thinc.api import NumpyOps, get_current_ops

    from reference_service.safety import recognizers

    assert isinstance(recognizers._ANALYZER_OPS["ops"], NumpyOps)  # recorded at build time

    class OtherOps(NumpyOps):
        name = "other"

    other = OtherOps()
    monkeypatch.setitem(recognizers._ANALYZER_OPS, "ops", other)

    def fresh_pass_backend():
        recognizers.use_analyzer_ops()
        return get_current_ops()

    assert contextvars.Context().run(fresh_pass_backend) is other


def test_a_pass_never_multiplies_through_blis_py(redactor, monkeypatch):
    """spaCy's layers multiply with numpy (thinc's `Ops.gemm` calls blis.py.gemm on blis's
    backend); blis's product was slower at the pipeline's shapes (benchmarks/spacy_blas.py:
    the same findings on 2,300 texts either way). The same pass on blis's backend does call
    it, so the count can tell the two apart."""
    import contextvars

    import blis.py
    from thinc.api import NumpyOps

    from reference_service.safety import pii, recognizers

    calls = []
    real = blis.py.gemm
    monkeypatch.setattr(blis.py, "gemm", lambda *a, **k: calls.append(1) or real(*a, **k))
    text = "Ada Smith asked about NVLink on the H100; call her at 555-010-4477."
    found = contextvars.Context().run(redactor._analyze, text)
    assert calls == [] and found
    nlp = redactor.analyzer.nlp_engine.nlp["en"]
    blis_ops = NumpyOps()
    try:
        recognizers.set_models_ops(nlp, blis_ops)
        with monkeypatch.context() as m:
            m.setattr(pii, "use_analyzer_ops", lambda: None)
            assert contextvars.Context().run(redactor._analyze, text) == found
    finally:
        recognizers.set_models_ops(nlp, recognizers._ANALYZER_OPS["ops"])
    assert calls


def test_blas_runs_one_thread_unless_the_operator_chose(monkeypatch):
    """OpenBLAS's thread per core spun between the pass's small products (twice the CPU a
    pass); an operator's OPENBLAS_NUM_THREADS or OMP_NUM_THREADS is theirs to keep."""
    from types import SimpleNamespace

    from threadpoolctl import threadpool_info, threadpool_limits

    from reference_service.safety.recognizers import matmul_on_numpy

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    no_models = SimpleNamespace(pipeline=[("attribute_ruler", SimpleNamespace(model=None))])
    limits = threadpool_limits(limits=2, user_api="blas")  # as on a machine of 2+ cores
    try:
        before = blas_threads()
        assert before  # numpy's OpenBLAS is loaded: the check below checks something
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        matmul_on_numpy(no_models)
        assert blas_threads() == before
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
        matmul_on_numpy(no_models)
        assert blas_threads() == {1}
    finally:
        limits.restore_original_limits()
        threadpool_limits(limits=1, user_api="blas")  # as the shared analyzer left it


def test_a_backend_other_than_thincs_plain_cpu_one_is_left_as_it_is():
    """A GPU's backend, or thinc-apple-ops' (a NumpyOps subclass), stays the models' own."""
    import contextvars
    from types import SimpleNamespace

    from thinc.api import Linear, NumpyOps, set_current_ops

    from reference_service.safety.recognizers import matmul_on_numpy

    class OtherOps(NumpyOps):
        name = "other"

    other = OtherOps()
    model = Linear(2, 2)
    model.ops = other
    nlp = SimpleNamespace(pipeline=[("ner", SimpleNamespace(model=model))])

    def built_on_other_ops():
        set_current_ops(other)  # in this context only
        return matmul_on_numpy(nlp)

    assert contextvars.Context().run(built_on_other_ops) is other
    assert model.ops is other


def test_a_written_form_is_masked_where_it_was_and_restored_as_written(redactor):
    from reference_service.safety.pii import Placeholders

    # a ligature and a zero-width space before the values shift every offset after them
    text = (
        "ﬁle\u200b: card ４１１１ １１１１ １１１１ １１１１, mail maria [at] example [dot] com, "
        "SSN 5 3 6 2 2 1 9 8 4."
    )
    p = Placeholders()
    masked, _findings = redactor.redact_text(text, p)
    assert masked == ("ﬁle\u200b: card <CREDIT_CARD_1>, mail <EMAIL_ADDRESS_1>, SSN <US_SSN_1>.")
    assert p.restore(masked) == text
    assert p.by_token["<CREDIT_CARD_1>"] == "４１１１ １１１１ １１１１ １１１１"


@pytest.mark.parametrize(
    "text",
    [
        "Part numbers 699-2G500-0200-300 and 900-21010-0000-000 are both H100 PCIe boards.",
        "The x16 slots run at 16 16 8 8 lanes; the array does 25 600 MB/s and 3 200 000 IOPS.",
        "Batch sizes 32 64 128 256 512 1024 2048 4096 8192 16384 on 8 GPUs.",
        "Driver 550.54.15, firmware 96.00.89.00.01, BIOS 2.1.0.4 and CUDA 12.4.1.",
        "GPUs 0 1 2 3 4 5 6 7 8 share the switch; read the guide at docs.nvidia.com.",
        "The dot product at FP8 is twice as fast at FP16 on Hopper.",
    ],
)
def test_numbers_and_words_of_hardware_text_are_not_taken_for_written_forms(redactor, text):
    assert redactor.find(text) == []


def test_lists_of_numbers_in_hardware_text_are_rarely_masked(redactor):
    """Over-masking where the labelled set cannot show it: synthetic lists of sizes, clocks,
    ports (`python -m reference_service.safety numbers`, docs/SAFETY.md). Measured 6 of 360
    here (seed 0); Presidio's defaults mask about one list in nine."""
    from reference_service.safety.evaluate import number_lists

    result = number_lists(redactor, per_kind=60, seed=0)
    masked = sum(r["with_a_detection"] for r in result.values())
    assert masked <= 0.05 * 360, result
