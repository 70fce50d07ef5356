"""Every field that reaches the upstream is in the cache key: two requests that differ in
any of them never share an entry (an exact hit once served the first one's answer)."""

from __future__ import annotations

import pytest

Q = "What is HBM3?"


def v1(client, message):
    return client.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": [message]})


@pytest.mark.parametrize(
    "first,second",
    [
        ({"role": "user", "content": Q}, {"role": "user", "content": Q, "name": "alice"}),
        (
            {"role": "user", "content": Q, "name": "alice"},
            {"role": "user", "content": Q, "name": "bob"},
        ),
        (
            {"role": "user", "content": [{"type": "text", "text": Q}]},
            {"role": "user", "content": [{"type": "text", "text": Q, "note": "in French"}]},
        ),
        (
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": Q},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": Q},
                    {"type": "image_url", "image_url": {"url": "https://example.com/b.png"}},
                ],
            },
        ),
    ],
    ids=["name added", "name changed", "extra part key", "image_url"],
)
def test_requests_that_differ_outside_the_question_text_do_not_share(client, mock, first, second):
    assert v1(client, first).headers["x-cache"] == "MISS"
    assert v1(client, first).headers["x-cache"] == "HIT"  # the same request does share
    assert v1(client, second).headers["x-cache"] == "MISS"


def test_null_and_empty_content_are_different_requests(client, mock):
    base = [{"role": "user", "content": Q}]
    for content in (None, []):
        r = client.post(
            "/v1/chat/completions",
            json={
                "model": "gpt-4o-mini",
                "messages": [
                    *base,
                    {"role": "assistant", "content": content},
                    {"role": "user", "content": Q},
                ],
            },
        )
        assert r.headers["x-cache"] == "MISS", content
