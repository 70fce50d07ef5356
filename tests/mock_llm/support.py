"""Helpers for the fake server's tests (imported by the tests; fixtures live in conftest)."""

from __future__ import annotations

import json
from collections.abc import Iterable

import openai

from mock_llm import MockLLMServer

HBM = [{"role": "user", "content": "What is HBM3?"}]


def sdk_for(server: MockLLMServer, **options) -> openai.OpenAI:
    """The official SDK on the fake, without retries (a test sees every answer)."""
    return openai.OpenAI(base_url=server.base_url, api_key="mock", max_retries=0, **options)


def sse_data(lines: Iterable[str]) -> list[str]:
    """The `data:` payloads of an OpenAI-style event stream, in order (one line each)."""
    return [line[len("data:") :].strip() for line in lines if line.startswith("data:")]


def sse_json(lines: Iterable[str]) -> list[dict]:
    """The JSON payloads of a stream, without the closing `[DONE]`."""
    return [json.loads(d) for d in sse_data(lines) if d != "[DONE]"]
