"""What a chat message carries besides its role: every text a client wrote into it.

A message is an OpenAI chat message: `content` (a string, or a list of parts such as
`{"type": "text", "text": ...}` or `{"type": "image_url", "image_url": {"url": ...}}`),
and optionally `name`, `tool_calls` (with function names and JSON arguments),
`tool_call_id`, and whatever else a client adds. The safety guards must see all of it, not
only `content`: personal data in `name` or in an extra key of a part reaches the upstream
just the same. So the guards work on every *text field*: each string anywhere in the
message, except the few keys that are structure, not text (`role`, `type`, ids).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]

STRUCTURAL_KEYS = frozenset({"role", "type", "id", "tool_call_id"})


def text_fields(message: Message) -> list[str]:
    """Every text a client wrote into the message, in order."""
    out: list[str] = []
    _walk(message, out.append)
    return out


def all_text(message: Message) -> str:
    """The message's text fields joined: what moderation reads."""
    return "\n".join(t for t in text_fields(message) if t)


def map_text(message: Message, fn: Callable[[str], str]) -> Message:
    """A copy of the message with `fn` applied to every text field."""
    mapped: Message = _map(message, fn)
    return mapped


def without_question(message: Message) -> Message:
    """The message with its question text (`content` as a string, or the `text` of text
    parts) taken out, and everything else kept: what, beside the question, shapes the
    answer (a name, an image, extra keys). Part of the cache's scope."""
    rest = {k: v for k, v in message.items() if k != "content"}
    content = message.get("content", _ABSENT)
    if isinstance(content, list):
        rest["content"] = [
            {k: v for k, v in p.items() if not (k == "text" and p.get("type") == "text")}
            if isinstance(p, dict)
            else p
            for p in content
        ]
    elif content is None:
        rest["content"] = None
    elif content is _ABSENT:
        rest["content"] = "(absent)"
    return rest


def shape_key(message: Message) -> str:
    """A stable text form of `without_question`."""
    return json.dumps(without_question(message), sort_keys=True, ensure_ascii=False, default=str)


# Request fields that do not change the answer (who asks, what to store): not cache scope.
NOT_ANSWER_FIELDS = frozenset({"user", "metadata", "store", "service_tier"})


def answer_params(passthrough: dict[str, Any]) -> dict[str, Any]:
    """The pass-through fields that can change the answer."""
    return {k: v for k, v in passthrough.items() if k not in NOT_ANSWER_FIELDS}


_ABSENT = object()


def _walk(value: Any, emit: Callable[[str], None], key: str | None = None) -> None:
    if isinstance(value, str):
        if key not in STRUCTURAL_KEYS:
            emit(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, emit, k)
    elif isinstance(value, list):
        for v in value:
            _walk(v, emit, key)


def _map(value: Any, fn: Callable[[str], str], key: str | None = None) -> Any:
    if isinstance(value, str):
        return value if key in STRUCTURAL_KEYS else fn(value)
    if isinstance(value, dict):
        return {k: _map(v, fn, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_map(v, fn, key) for v in value]
    return value
