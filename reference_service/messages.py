"""What a chat message carries besides its role: every text a client wrote into it.

A message is an OpenAI chat message: `content` (a string, or a list of parts such as
`{"type": "text", "text": ...}` or `{"type": "image_url", "image_url": {"url": ...}}`),
and optionally `name`, `tool_calls` (with function names and JSON arguments),
`tool_call_id`, and whatever else a client adds. The safety guards must see all of it, not
only `content`: personal data in `name` or in an extra key of a part reaches the upstream
just the same. So the guards work on every *text field*: each string anywhere in the
message, except the few keys that are structure, not text (`role`, `type`, ids), and only
where they are structure: in the message itself and in its parts and tool calls. Deeper
down (an extra key's value, a /v1 pass-through field) an `id` or a `type` is text.
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


# Where the structural keys are structure: in the message itself, and in each item of its
# `content` parts and `tool_calls`. Anywhere deeper (an extra key's value, a pass-through
# field) an `id` or a `type` is a client's text like any other and is analyzed.
_STRUCTURED_LISTS = frozenset({"content", "tool_calls"})


def _walk(value: Any, emit: Callable[[str], None]) -> None:
    for text in _texts(value, _MESSAGE):
        emit(text)


_MESSAGE, _ITEM = 0, 1  # a dict that is the message itself; an item of its parts or tool calls


def _below(level: int | None, key: str) -> int | None:
    """The level of a dict under `key` of a dict at `level`: the items of the message's parts
    and tool calls are structured; anything else, and anything below an item, is not (None)."""
    return _ITEM if level == _MESSAGE and key in _STRUCTURED_LISTS else None


def _exempt(level: int | None, key: str) -> bool:
    """A string under `key` of a dict at `level` is structure, not text."""
    return level is not None and key in STRUCTURAL_KEYS


def _texts(value: Any, level: int | None) -> list[str]:
    """Every text field in `value`, a dict at `level` or anything below one."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [
            t
            for k, v in value.items()
            if not (isinstance(v, str) and _exempt(level, k))
            for t in _texts(v, _below(level, k))
        ]
    if isinstance(value, list):
        return [t for v in value for t in _texts(v, level)]
    return []


def _map(value: Any, fn: Callable[[str], str], level: int | None = _MESSAGE) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {
            k: v if isinstance(v, str) and _exempt(level, k) else _map(v, fn, _below(level, k))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_map(v, fn, level) for v in value]
    return value
