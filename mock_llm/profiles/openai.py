"""OpenAI's API (the default profile): what the fake has always answered.

Sources: the API reference (https://platform.openai.com/docs/api-reference/chat, .../moderations,
.../models), its streaming options (`stream_options.include_usage`: every chunk carries
`"usage": null` and a last chunk with empty `choices` carries the counts) and the error
guide (https://platform.openai.com/docs/guides/error-codes: 503 "The engine is currently
overloaded, please try again later"). The context-length message is the one the API
answers with code `context_length_exceeded`.
"""

from __future__ import annotations

from typing import Any

from ..errors import MockError, openai_error_body
from ..timing import ModelProfile
from .base import Completion, Frame, Problem, UpstreamProfile, retry_headers

_INJECTED = {
    429: "Rate limit reached for requests (injected by mock_llm).",
    503: "The server is overloaded (injected by mock_llm).",
}


class OpenAIProfile(UpstreamProfile):
    name = "openai"
    summary = "OpenAI's API: gpt-4o-mini and gpt-4o, moderations, usage on request in streams"
    has_moderations = True
    context_length = 128_000  # gpt-4o and gpt-4o-mini

    def models(self) -> dict[str, ModelProfile]:
        # Plausible timings: the strong model is slower to start and slower per token.
        return {
            "gpt-4o-mini": ModelProfile(ttft_ms=250, tokens_per_s=80, detailed=False),
            "gpt-4o": ModelProfile(ttft_ms=600, tokens_per_s=40, detailed=True),
        }

    def model_card(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": 1715367049, "owned_by": "mock_llm"}

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        outcome: str = "error",
        code: str | None = None,
    ) -> MockError:
        return MockError(
            status,
            openai_error_body(status, message, param=param, code=code),
            headers=headers,
            outcome=outcome,
        )

    def invalid_json(self, raw: bytes, exc: ValueError) -> MockError:
        return self.error(400, "We could not parse the JSON body of your request.")

    def invalid_request(self, problem: Problem) -> MockError:
        return self.error(400, problem.message, param=problem.param)

    def unknown_model(self, name: str) -> MockError:
        return self.error(
            404,
            f"The model `{name}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )

    def route_not_found(self, method: str, path: str) -> MockError:
        return self.error(404, f"Invalid URL ({method} {path})")

    def overloaded(self) -> MockError:
        return self.error(
            503, "The engine is currently overloaded, please try again later", outcome="fault"
        )

    def injected(self, status: int, retry_after: float | None) -> MockError:
        return self.error(
            status,
            _INJECTED.get(status, f"Injected fault: HTTP {status}."),
            code=f"mock_fault_{status}",
            headers=retry_headers(retry_after),
            outcome="fault",
        )

    def admit_prompt(self, prompt_tokens: int, max_tokens: int | None, context_length: int) -> int:
        if prompt_tokens > context_length:
            raise self.error(
                400,
                f"This model's maximum context length is {context_length} "
                f"tokens. However, your messages resulted in {prompt_tokens} "
                "tokens. Please reduce the length of the messages.",
                param="messages",
                code="context_length_exceeded",
            )
        return prompt_tokens

    def completion_id(self, number: int) -> str:
        return f"chatcmpl-mock{number:06d}"

    def completion_body(self, c: Completion) -> dict[str, Any]:
        return {
            "id": self.completion_id(c.number),
            "object": "chat.completion",
            "created": c.created,
            "model": c.model,
            "system_fingerprint": "fp_mock",
            "choices": [
                {"index": 0, "message": _message(c), "logprobs": None, "finish_reason": c.finish}
            ],
            "usage": _usage(c),
            "service_tier": "default",
        }

    def stream_frames(self, c: Completion, include_usage: bool) -> list[Frame]:
        def chunk(
            delta: dict[str, Any] | None,
            finish: str | None = None,
            usage: dict[str, Any] | None = None,
        ) -> dict[str, Any]:
            obj = {
                "id": self.completion_id(c.number),
                "object": "chat.completion.chunk",
                "created": c.created,
                "model": c.model,
                "system_fingerprint": "fp_mock",
                "choices": []
                if delta is None
                else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                obj["usage"] = usage
            return obj

        frames = [Frame(chunk({"role": "assistant", "content": "", "refusal": None}))]
        if c.tool_call is not None:  # the call's id and name, then its arguments in pieces
            call = c.tool_call_object()
            frames.append(
                Frame(
                    chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        }
                    )
                )
            )
        frames += [Frame(chunk(_delta(c, p)), token=i) for i, p in enumerate(c.pieces)]
        frames.append(Frame(chunk({}, finish=c.finish)))
        if include_usage:
            frames.append(Frame(chunk(None, usage=_usage(c))))
        return frames

    def headers(self, c: Completion, request_number: int) -> dict[str, str]:
        return {
            "x-request-id": f"req_mock_{request_number}",
            "openai-processing-ms": "0",
            "x-mock-model": c.model,
        }


def _usage(c: Completion) -> dict[str, Any]:
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.total_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _message(c: Completion) -> dict[str, Any]:
    if c.tool_call is not None:
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [c.tool_call_object()],
            "refusal": None,
            "annotations": [],
        }
    return {"role": "assistant", "content": c.text, "refusal": None, "annotations": []}


def _delta(c: Completion, piece: str) -> dict[str, Any]:
    """One streamed token: of the text, or of a tool call's arguments."""
    if c.tool_call is not None:
        return {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
    return {"content": piece}
