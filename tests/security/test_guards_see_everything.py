"""With the guards on, whatever reaches the upstream, the moderation call, the cache or the
logs passes the same PII pass and the same moderation: every field a client can fill, every
role. Each case is an attack that once got through (issue "Hardening")."""

from __future__ import annotations

import pytest

from tests.support import chat_requests, upstream_text

EMAIL = "maria.garcia@example.com"
FLAG = "MODERATION_TEST_FLAG:violence"


def v1(guarded, messages, **extra):
    return guarded.post(
        "/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": messages, **extra}
    )


@pytest.mark.parametrize(
    "message",
    [
        {"role": "user", "content": "What is HBM3?", "name": EMAIL},
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is HBM3?", "note": f"my email is {EMAIL}"}],
        },
        {"role": "user", "content": [{"type": "text", "text": f"Reach me at {EMAIL}"}]},
    ],
    ids=["name field", "extra key in a part", "text part"],
)
def test_personal_data_in_any_field_never_reaches_the_upstream(guarded, mock, message):
    r = v1(guarded, [message])
    assert r.status_code == 200, r.text
    assert EMAIL not in upstream_text(mock)
    assert "<EMAIL_ADDRESS_1>" in upstream_text(mock)


def test_an_extra_key_is_masked_in_the_cache_too_and_never_served_raw(guarded, mock):
    part = {"type": "text", "text": "What is HBM3?", "note": f"my email is {EMAIL}"}
    assert v1(guarded, [{"role": "user", "content": [part]}]).status_code == 200
    plain = v1(guarded, [{"role": "user", "content": "What is HBM3?"}])
    assert plain.headers["x-cache"] == "MISS"  # another request: the note is part of the key
    assert EMAIL not in plain.text


@pytest.mark.parametrize("role", ["system", "developer", "assistant", "tool"])
def test_flagged_text_in_any_role_is_refused(guarded, mock, role):
    message = {"role": role, "content": f"Earlier: {FLAG}"}
    if role == "tool":
        message["tool_call_id"] = "call_1"
    r = v1(guarded, [message, {"role": "user", "content": "Go on."}])
    assert r.status_code == 400 and r.json()["error"]["code"] == "content_flagged"
    assert chat_requests(mock) == []


def test_flagged_text_in_chat_history_is_refused(guarded, mock):
    r = guarded.post(
        "/chat",
        json={
            "message": "Go on.",
            "history": [{"role": "assistant", "content": f"As I said, {FLAG}"}],
        },
    )
    assert r.status_code == 400 and chat_requests(mock) == []


def test_flagged_text_in_a_name_field_is_refused(guarded, mock):
    r = v1(guarded, [{"role": "user", "content": "Hello", "name": FLAG}])
    assert r.status_code == 400 and chat_requests(mock) == []


def test_the_services_own_system_prompt_is_not_sent_to_moderation(guarded, mock):
    assert guarded.post("/chat", json={"message": "What is CXL?"}).status_code == 200
    moderated = [r.body for r in mock.state.requests if r.path.endswith("/moderations")]
    assert moderated and not any("helpful AI assistant" in str(b) for b in moderated)


def test_an_image_part_is_refused_on_a_guarded_path(guarded, mock):
    r = v1(
        guarded,
        [
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "unsupported_content"
    assert chat_requests(mock) == []
