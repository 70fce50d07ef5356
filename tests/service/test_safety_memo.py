"""The safety memos: a text seen again is neither analyzed by Presidio nor moderated again,
the memos hold digests (never text), and a moderation verdict expires."""

from __future__ import annotations

import pytest

from reference_service.clock import FakeClock
from reference_service.llm.deadline import Deadline
from reference_service.memo import TextMemo
from reference_service.safety.guard import SafetyGuard, SafetyReport
from reference_service.safety.pii import NotRemembered, Placeholders
from tests.support import chat_requests, moderation_requests, services_of

# -- the memo itself ----------------------------------------------------------------------


def test_the_memo_keeps_digests_of_texts_never_the_texts():
    memo: TextMemo[tuple[str, ...]] = TextMemo(10)
    secret = "My card is 4111 1111 1111 1111"
    memo.put(secret, ("CREDIT_CARD",))
    assert memo.get(secret) == (True, ("CREDIT_CARD",))
    assert memo.get(secret + " ") == (False, None)
    keys = list(memo._data.keys())  # type: ignore[union-attr]
    assert keys and all(isinstance(k, bytes) and len(k) == 32 for k in keys)
    assert all(secret.encode() not in k for k in keys)


def test_the_memo_is_bounded_and_forgets_the_least_recently_used():
    memo: TextMemo[int] = TextMemo(3)
    for i in range(3):
        memo.put(f"text {i}", i)
    memo.get("text 0")  # used: "text 1" is now the oldest
    memo.put("text 3", 3)
    assert len(memo) == 3
    assert memo.get("text 1") == (False, None)
    assert memo.get("text 0") == (True, 0)


def test_an_expiring_memo_reads_the_injected_clock():
    clock = FakeClock()
    memo: TextMemo[tuple[str, ...]] = TextMemo(10, 60.0, clock)
    memo.put("hello", ())
    clock.advance(59)
    assert memo.get("hello") == (True, ())
    clock.advance(2)
    assert memo.get("hello") == (False, None)


def test_size_zero_is_off_and_a_lone_surrogate_still_hashes():
    off: TextMemo[int] = TextMemo(0)
    off.put("x", 1)
    assert off.get("x") == (False, None) and len(off) == 0
    memo: TextMemo[int] = TextMemo(2)
    memo.put("bad \ud800 text", 1)
    assert memo.get("bad \ud800 text") == (True, 1)


def spy_on_analyzer(redactor, monkeypatch) -> list[str]:
    """The texts the analyzer is asked about from now on (it still answers)."""
    calls: list[str] = []
    analyze = redactor.analyzer.analyze
    monkeypatch.setattr(
        redactor.analyzer, "analyze", lambda *a, **k: calls.append(a[0]) or analyze(*a, **k)
    )
    return calls


# -- the PII pass --------------------------------------------------------------------------


def test_a_repeated_text_is_not_analyzed_again_and_gets_the_same_placeholders(
    guarded_server, guarded, monkeypatch
):
    redactor = services_of(guarded_server.app).pipeline.guard.redactor
    calls = spy_on_analyzer(redactor, monkeypatch)
    messages = [{"role": "user", "content": "I am Maria Garcia, call 212-555-0187."}]
    first = redactor.redact(messages)
    assert len(calls) == 1
    with pytest.raises(NotRemembered):
        redactor.redact([{"role": "user", "content": "Never seen before"}], remembered_only=True)
    again = redactor.redact(messages, remembered_only=True)
    assert len(calls) == 1  # answered from the memo
    assert again[0] == first[0] and again[1].by_token == first[1].by_token
    assert again[0][0]["content"] == "I am <PERSON_1>, call <PHONE_NUMBER_1>."
    # the remembered findings are offsets into the text: another request gets its own map
    p = Placeholders()
    assert redactor.redact_text(messages[0]["content"], p)[0] == again[0][0]["content"]


def test_an_exact_repeat_through_the_service_skips_presidio_and_moderation(
    guarded_server, guarded, mock, monkeypatch
):
    redactor = services_of(guarded_server.app).pipeline.guard.redactor
    calls = spy_on_analyzer(redactor, monkeypatch)
    body = {"message": "I am Maria Garcia: what is NVLink?"}
    r1 = guarded.post("/chat", json=body)
    assert r1.status_code == 200 and r1.headers["x-cache"] == "MISS"
    analyzed, moderated = len(calls), len(moderation_requests(mock))
    assert analyzed == 1 and moderated == 2  # the question, then the answer
    r2 = guarded.post("/chat", json=body)
    assert r2.status_code == 200 and r2.headers["x-cache"] == "HIT"
    assert r2.json()["response"] == r1.json()["response"]  # Maria Garcia restored, both times
    assert "Maria Garcia" not in str([r.body for r in mock.state.requests])
    assert len(calls) == analyzed and len(moderation_requests(mock)) == moderated
    assert len(chat_requests(mock)) == 1


def test_a_conversation_resent_with_a_new_turn_analyzes_and_moderates_only_the_new_turn(
    guarded_server, guarded, mock, monkeypatch
):
    redactor = services_of(guarded_server.app).pipeline.guard.redactor
    calls = spy_on_analyzer(redactor, monkeypatch)
    turns = [{"role": "user", "content": "What is HBM3?"}]
    r = guarded.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": turns})
    assert r.status_code == 200
    turns += [
        {"role": "assistant", "content": r.json()["choices"][0]["message"]["content"]},
        {"role": "user", "content": "And how is it stacked?"},
    ]
    mock.state.reset()
    calls.clear()
    r = guarded.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": turns})
    assert r.status_code == 200
    # the new turn, and the answer (read as the client's input for the first time); the
    # first question not again
    assert "What is HBM3?" not in calls and calls[-1] == "And how is it stacked?"
    sent = [m for req in moderation_requests(mock) for m in req.body["input"]]
    assert "What is HBM3?" not in sent and "And how is it stacked?" in sent


# -- moderation ----------------------------------------------------------------------------


def test_a_remembered_verdict_expires_and_moderation_is_asked_again(guarded_server, guarded, mock):
    body = {"message": "What is CXL?"}
    guarded.post("/chat", json={**body}, headers={"Cache-Control": "no-store"})
    asked = len(moderation_requests(mock))
    guarded.post("/chat", json={**body}, headers={"Cache-Control": "no-store"})
    inputs = [m for req in moderation_requests(mock) for m in req.body["input"]]
    assert inputs.count("What is CXL?") == 1  # the second request's question: remembered
    ttl = services_of(guarded_server.app).settings.moderation_memo_ttl_s
    guarded_server.clock.advance(ttl + 1)
    guarded.post("/chat", json={**body}, headers={"Cache-Control": "no-store"})
    inputs = [m for req in moderation_requests(mock) for m in req.body["input"]]
    assert inputs.count("What is CXL?") == 2 and len(moderation_requests(mock)) > asked


def test_a_flagged_verdict_is_remembered_too(guarded, mock):
    bad = {"message": "How do I build a pipe bomb with a GPU?"}
    assert guarded.post("/chat/safe", json=bad).status_code == 400
    n = len(moderation_requests(mock))
    r = guarded.post("/chat/safe", json=bad)
    assert r.status_code == 400 and r.json()["error"]["type"] == "content_flagged"
    assert len(moderation_requests(mock)) == n and chat_requests(mock) == []


def test_a_fail_open_pass_is_not_remembered(guarded_server, guarded, mock):
    services = services_of(guarded_server.app)
    guard = services.pipeline.guard
    guard.fail_open = True
    body = {"message": "Is GDDR7 faster?"}
    try:
        mock.state.fail_next(20, "500", endpoint="moderations")
        r = guarded.post("/chat", json=body, headers={"Cache-Control": "no-store"})
        assert r.status_code == 200
        mock.state.reset()  # moderation is back: the question is asked about, not recalled
        guarded_server.run_in_loop(services.breakers.reset())  # the outage opened it
        r = guarded.post("/chat", json=body, headers={"Cache-Control": "no-store"})
        inputs = [m for req in moderation_requests(mock) for m in req.body["input"]]
        assert r.status_code == 200 and "Is GDDR7 faster?" in inputs
        mock.state.reset()  # and now that it was answered, it is remembered
        guarded.post("/chat", json=body, headers={"Cache-Control": "no-store"})
        inputs = [m for req in moderation_requests(mock) for m in req.body["input"]]
        assert "Is GDDR7 faster?" not in inputs
    finally:
        guard.fail_open = False


# -- one tenant's memory is not another's ----------------------------------------------------


class CountingModerator:
    mode = "local"

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def moderate(self, texts, deadline):
        self.asked += texts
        return [[] for _ in texts]

    async def check(self, timeout_s):
        return True


async def test_verdicts_are_remembered_per_tenant_and_answers_never():
    clock = FakeClock()
    moderator = CountingModerator()
    guard = SafetyGuard(None, moderator, verdicts=TextMemo(100, 3600.0, clock))
    deadline, report = Deadline(clock, 10), SafetyReport()
    ask = [{"role": "user", "content": "What is CXL?"}]
    await guard.check_input(ask, deadline, report, "tenant-a")
    await guard.check_input(ask, deadline, report, "tenant-a")
    assert moderator.asked == ["What is CXL?"]
    await guard.check_input(ask, deadline, report, "tenant-b")  # another tenant: asked again
    assert moderator.asked == ["What is CXL?"] * 2
    for _ in range(2):  # an answer is new text: always asked, never kept
        await guard.check_output("CXL is a cache-coherent link.", deadline, report)
    assert moderator.asked.count("CXL is a cache-coherent link.") == 2


def test_findings_are_remembered_per_tenant(guarded_server, guarded):
    redactor = services_of(guarded_server.app).pipeline.guard.redactor
    messages = [{"role": "user", "content": "I am Maria Garcia from the lab."}]
    redactor.redact(messages, scope="tenant-a")
    assert redactor.redact(messages, remembered_only=True, scope="tenant-a")[0][0]["content"] == (
        "I am <PERSON_1> from the lab."
    )
    with pytest.raises(NotRemembered):  # what tenant a sent says nothing about tenant b
        redactor.redact(messages, remembered_only=True, scope="tenant-b")
