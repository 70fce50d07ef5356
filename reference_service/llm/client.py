"""Calls to the upstream LLM through the official `openai` SDK, with its errors mapped
to the service's own (502/503/504/400), never a traceback.

The SDK is built with `max_retries=0`: retries belong to one layer of our own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
import openai
from openai import AsyncOpenAI

from ..errors import (
    RequestTooLarge,
    ServiceError,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)


@dataclass
class Completion:
    text: str
    model: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    tool_calls: list[dict[str, Any]] | None = None


@dataclass
class Delta:
    """One piece of a streamed answer: text, or tool-call pieces, or (at the end) the
    finish reason and usage."""

    text: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


def build_openai_client(
    base_url: str, api_key: str, timeout_s: float, connect_timeout_s: float
) -> AsyncOpenAI:
    """The SDK with no retries of its own (ours are the only layer) on the SDK's aiohttp
    transport (`openai[aiohttp]`, `DefaultAioHttpClient`), chosen because the default
    httpx transport showed in the profiles (docs/BENCHMARKS.md, "Side by side")."""
    timeout = openai.Timeout(timeout_s, connect=connect_timeout_s)
    return AsyncOpenAI(
        base_url=base_url,
        api_key=api_key,
        timeout=timeout,
        max_retries=0,
        http_client=openai.DefaultAioHttpClient(timeout=timeout),
    )


def _retry_after(exc: openai.APIStatusError) -> int | None:
    value = exc.response.headers.get("retry-after")
    try:
        return max(1, round(float(value))) if value is not None else None
    except ValueError:
        return None


_SDK_ERRORS = (openai.OpenAIError, httpx2.TransportError, ValueError)


def map_error(exc: Exception) -> ServiceError:
    """The service error that stands for an SDK exception."""
    # The aiohttp transport reports every connection error (refused, closed before an
    # answer) and a connect timeout as httpx's ConnectTimeout: nothing reached the upstream,
    # so "could not reach" (502), not "no answer" (504). A read timeout stays 504.
    if isinstance(exc, openai.APITimeoutError) and not isinstance(
        exc.__cause__, httpx2.ConnectTimeout
    ):
        return UpstreamTimeout("The LLM upstream did not answer in time.")
    # A stream's body is read off the raw response, outside the SDK's request: a gap
    # longer than the read timeout arrives as httpx's own ReadTimeout, still "no answer".
    if isinstance(exc, httpx2.TimeoutException) and not isinstance(exc, httpx2.ConnectTimeout):
        return UpstreamTimeout("The LLM upstream stopped sending in time.")
    if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
        return UpstreamError("Could not reach the LLM upstream, or it closed the connection.")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 400:
            return UpstreamRejected(f"The LLM upstream rejected the request: {exc.message}")
        if status == 413:
            return RequestTooLarge("The LLM upstream says the request is too large.")
        if status in (401, 403, 404):  # our configuration (key, model name): retry won't help
            return UpstreamError(
                f"The LLM upstream refused this service (HTTP {status}); "
                "check its key and model names.",
                retryable=False,
            )
        if status == 408:
            return UpstreamTimeout("The LLM upstream timed out.")
        if status in (429, 503, 529):
            return UpstreamUnavailable(
                f"The LLM upstream is busy (HTTP {status}).", retry_after=_retry_after(exc) or 1
            )
        if 400 <= status < 500 and status != 409:  # other client errors: not transient
            return UpstreamError(f"The LLM upstream failed (HTTP {status}).", retryable=False)
        return UpstreamError(f"The LLM upstream failed (HTTP {status}).")
    if isinstance(exc, (ValueError, openai.APIResponseValidationError)):
        return UpstreamError("The LLM upstream sent a malformed response.")
    raise exc


def _flagged_categories(result: object) -> list[str]:
    """One moderation result's flagged categories, by their API names ("self-harm")."""
    if not isinstance(result, dict) or not isinstance(result.get("flagged"), bool):
        raise UpstreamError("The moderation upstream sent a malformed result.")
    if not result["flagged"]:
        return []
    cats = result.get("categories")
    named = sorted(k for k, v in cats.items() if v is True) if isinstance(cats, dict) else []
    return named or ["unspecified"]


_DRAIN_LIMIT = 64 * 1024  # bytes; see _drain
_DRAIN_S = 1.0  # seconds; see _drain


async def _stream_chunks(response: httpx2.Response) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON chunks of a chat stream, read off the SDK's raw response: the SSE framing
    (lines ended by CRLF, LF or CR; a blank line, or the end of the body, ends an event; its
    `data:` lines are its data) and one json.loads each, up to `[DONE]`. The SDK's own
    AsyncStream decoded the same bytes but ran each chunk through a pydantic TypeAdapter as
    well: reading a chunk this way costs ~14% less CPU (docs/BENCHMARKS.md, "Relayed
    chunks"). An error object in the stream (vLLM, OpenAI) is an upstream error, as the SDK
    made it one."""
    buf, data, body, after_cr = b"", list[bytes](), response.aiter_bytes(), False
    async for piece in body:
        if after_cr and piece.startswith(b"\n"):
            piece, after_cr = piece[1:], False  # a CRLF split between pieces: one line end
        if not piece:
            continue
        text = buf + piece
        after_cr = text.endswith(b"\r")
        if b"\r" in text:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, buf = text.split(b"\n")
        for line in lines:
            if line:
                _data_line(line, data)
            elif data:
                event, data = b"\n".join(data), []
                if event.startswith(b"[DONE]"):
                    await _drain(body)
                    return
                yield _chunk(event)
    _data_line(buf, data)  # a last event with no blank line after it
    if data and not (event := b"\n".join(data)).startswith(b"[DONE]"):
        yield _chunk(event)


async def _drain(body: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] (normally nothing but the body's end), so the connection can
    be reused (HTTP/1.1), as the SDK does; but no more than _DRAIN_LIMIT bytes and no longer
    than _DRAIN_S seconds: past either the response is closed instead, and its connection
    with it. The answer is complete by now, so a read that fails here (a reset, the read
    timeout) costs the connection only, never the answer."""
    read = 0
    try:
        async with asyncio.timeout(_DRAIN_S):
            async for piece in body:
                read += len(piece)
                if read > _DRAIN_LIMIT:
                    return
    except (TimeoutError, httpx2.HTTPError, OSError):
        return


def _data_line(line: bytes, data: list[bytes]) -> None:
    """Keep the value of a `data:` line (other fields, `event:` and `id:`, say nothing here)."""
    if line.startswith(b"data:"):
        value = line[5:]
        data.append(value[1:] if value.startswith(b" ") else value)


def _chunk(text: bytes) -> dict[str, Any]:
    """One chunk, checked for the shape the relay reads (a chunk of another shape is a
    malformed answer, a 502, never a 500)."""
    chunk = json.loads(text)
    if not isinstance(chunk, dict):
        raise ValueError("a stream chunk that is not a JSON object")
    if error := chunk.get("error"):
        raise _stream_error(error)
    usage, choices = chunk.get("usage"), chunk.get("choices")
    if not isinstance(usage, dict | None) or not isinstance(choices, list | None):
        raise ValueError("a stream chunk of the wrong shape")
    if choices:
        choice = choices[0]
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if not (
            isinstance(choice, dict)
            and isinstance(delta, dict | None)
            and isinstance(content, str | None)
        ):
            raise ValueError("a stream chunk of the wrong shape")
    return chunk


def _stream_error(error: object) -> UpstreamError:
    """An error object sent inside a stream (vLLM, OpenAI): a 4xx code says the request
    itself was refused (too long a context, say): not worth a retry, but for 408, 409 and
    429, which map_error retries as HTTP statuses too."""
    message = error.get("message") if isinstance(error, dict) else None
    code = str(error.get("code") if isinstance(error, dict) else None).removesuffix(".0")
    refused = code.isdigit() and 400 <= int(code) < 500 and int(code) not in (408, 409, 429)
    text = f"The LLM upstream sent an error in the stream: {message or error}"[:300]
    return UpstreamError(text, retryable=not refused)


class UpstreamClient:
    """The LLM behind the service: complete or stream one chat."""

    def __init__(self, client: AsyncOpenAI) -> None:
        self._client = client

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    # Chat goes through the SDK's own low-level `post` (its documented way to send a request
    # it has no types for), with `cast_to=object`: the JSON comes back as plain data. The
    # typed `chat.completions.create` walked every parameter through the SDK's TypedDict
    # transform and built a pydantic object per answer, and per *chunk* of a stream: with
    # its HTTP, ~39% of the gateway's CPU per request (py-spy; docs/BENCHMARKS.md, "Gateway
    # overhead").
    # Same HTTP, same errors, same retries setting.

    async def complete(
        self,
        messages: list[dict[str, Any]],
        model: str,
        params: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """One answer. `extra`: request fields the gateway does not interpret, sent as given."""
        body = {**(extra or {}), "model": model, "messages": messages, **params}
        try:
            resp = await self._client.post("/chat/completions", body=body, cast_to=object)
        except _SDK_ERRORS as exc:
            raise map_error(exc) from exc
        # cast_to=object: the SDK hands back the parsed JSON, typed as object
        reply: dict[str, Any] = resp if isinstance(resp, dict) else {}
        try:
            choice = reply["choices"][0]
            message = choice["message"]
        except (TypeError, KeyError, IndexError):
            raise UpstreamError("The LLM upstream sent an answer with no choices.") from None
        usage = reply.get("usage") or {}
        if not (
            isinstance(message, dict)
            and isinstance(usage, dict)
            and isinstance(message.get("content"), str | None)
        ):
            raise UpstreamError("The LLM upstream sent a malformed response.")
        return Completion(
            text=message.get("content") or "",
            model=reply.get("model") or model,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            tool_calls=message.get("tool_calls") or None,
        )

    async def stream(
        self,
        messages: list[dict[str, Any]],
        model: str,
        params: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> AsyncGenerator[Delta, None]:
        """Yield text (or tool-call) deltas, then one final Delta with finish reason and
        usage. A stream that ends without a finish reason is an error, not an answer."""
        final = Delta()
        body = {
            **(extra or {}),
            "model": model,
            "messages": messages,
            **params,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        try:
            response = await self._client.post(
                "/chat/completions", body=body, cast_to=httpx2.Response, stream=True
            )
            try:
                async with aclosing(_stream_chunks(response)) as chunks:
                    async for chunk in chunks:
                        if usage := chunk.get("usage"):
                            final.prompt_tokens = usage.get("prompt_tokens")
                            final.completion_tokens = usage.get("completion_tokens")
                        for choice in chunk.get("choices") or ():
                            delta = choice.get("delta") or {}
                            if text := delta.get("content"):
                                yield Delta(text=text)
                            if calls := delta.get("tool_calls"):
                                yield Delta(tool_calls=calls)
                            if reason := choice.get("finish_reason"):
                                final.finish_reason = reason
                            break  # one choice: the gateway asks for n=1
            finally:
                await response.aclose()  # a client that went away: the upstream call ends too
        except _SDK_ERRORS as exc:
            raise map_error(exc) from exc
        if final.finish_reason is None:  # closed cleanly, but before the answer was finished
            raise UpstreamError(
                "The LLM upstream ended the stream before the answer was "
                "complete (no finish reason)."
            )
        yield final

    async def moderate(self, texts: list[str], model: str) -> list[list[str]]:
        """The flagged categories of each text (an empty list: not flagged). Through the
        SDK's `post` with `cast_to=object`, as chat: the typed call built a pydantic object
        of every category and score per text, on every guarded request."""
        try:
            resp = await self._client.post(
                "/moderations", body={"model": model, "input": texts}, cast_to=object
            )
        except _SDK_ERRORS as exc:
            raise map_error(exc) from exc
        results = resp.get("results") if isinstance(resp, dict) else None
        if not isinstance(results, list):
            raise UpstreamError("The moderation upstream sent a malformed reply (no results).")
        if len(results) != len(texts):
            raise UpstreamError("The moderation upstream sent the wrong number of results.")
        return [_flagged_categories(r) for r in results]

    async def probe_moderations(
        self, model: str, timeout_s: float
    ) -> Literal["ok", "missing", "unreachable"]:
        """Does this server have a working /v1/moderations? One small call."""
        try:
            await self._client.with_options(timeout=timeout_s).moderations.create(
                model=model, input=["ping"]
            )
        except openai.APIStatusError as exc:
            return "missing" if exc.status_code in (404, 405, 501) else "unreachable"
        except _SDK_ERRORS:
            return "unreachable"
        return "ok"

    async def served_models(self, timeout_s: float) -> list[str] | None:
        """The model names the server lists, or None when it has no /v1/models."""
        try:
            return await self.list_models(timeout_s)
        except UpstreamError as exc:
            if isinstance(exc.__cause__, openai.APIStatusError) and exc.__cause__.status_code in (
                404,
                405,
                501,
            ):
                return None
            raise

    async def list_models(self, timeout_s: float) -> list[str]:
        try:
            page = await self._client.with_options(timeout=timeout_s).models.list()
        except _SDK_ERRORS as exc:
            raise map_error(exc) from exc
        return [m.id for m in page.data]

    async def aclose(self) -> None:
        await self._client.close()
