"""vLLM's OpenAI-compatible server (`vllm serve <hf-repo-id>`), as of v0.11+ (read at
vllm-project/vllm main, 2025-2026).

Sources (vllm-project/vllm):
- errors: `ErrorResponse{error: {message, type, param, code}}` with `code` the HTTP status
  as an int (vllm/entrypoints/openai/engine/protocol.py); unknown model 404 `NotFoundError`
  "The model `X` does not exist." (engine/serving.py `_check_model`); context too long
  400 `BadRequestError` "This model's maximum context length is ... However, your request
  has N input tokens ..." and the max_tokens variant, param `input_tokens` / `max_tokens`
  (engine/serving.py `_validate_input`); an invalid body 400 type "Bad Request" with
  "N validation error(s): ..." (serve/utils/server_utils.py `validation_exception_handler`);
  an unknown route 404 type "Not Found" through the same `ErrorResponse`
  (`http_exception_handler`, same file).
- overloaded: vLLM queues without limit by default (issues #2901, #18826); with
  `--max-num-queued-reqs` (v0.29, PR #49445) a request over the limit gets 503
  (issue #58192); the error type follows `RequestRejectedError` in PR #27064's review
  ("ServiceUnavailableError"); the message wording is the fake's.
- model naming: the HF repo id given to `vllm serve` (or `--served-model-name`); a
  request without "model" gets the first served model (`_is_model_supported`);
  /v1/models cards carry owned_by "vllm", root, parent, max_model_len, permission
  (engine/protocol.py `ModelCard`); GET /v1/models/{id:path} exists (models/api_router.py).
- streams (chat_completion/serving.py): the first chunk carries the role with content "";
  the finish reason rides on the last content chunk; chunks are written with
  `exclude_unset`, so no `usage` key at all unless `stream_options.include_usage`, which
  adds a last chunk with `choices: []` and the usage (no other chunk gets usage unless
  `continuous_usage_stats`). `stream_options` without `stream: true` is a 400.
- no /v1/moderations.

One vLLM process serves one model; the profile lists two (as two vLLM servers behind one
address would) so the lab's router has a choice.
"""

from __future__ import annotations

from typing import Any

from ..errors import MockError
from ..timing import ModelProfile
from .base import Completion, Frame, Problem, UpstreamProfile, simple_usage

_TYPES = {
    400: "BadRequestError",
    404: "NotFoundError",
    500: "InternalServerError",
    501: "NotImplementedError",
    503: "ServiceUnavailableError",
}


class VLLMProfile(UpstreamProfile):
    name = "vllm"
    summary = "vLLM: HF repo ids, {error: {type, code: int}}, usage only with include_usage"
    requires_model = False
    context_length = 8192  # as started with --max-model-len 8192

    def models(self) -> dict[str, ModelProfile]:
        return {
            "meta-llama/Llama-3.2-3B-Instruct": ModelProfile(
                ttft_ms=150, tokens_per_s=120, detailed=False
            ),
            "meta-llama/Llama-3.1-8B-Instruct": ModelProfile(
                ttft_ms=300, tokens_per_s=60, detailed=True
            ),
        }

    def model_card(self, name: str) -> dict[str, Any]:
        return {
            "id": name,
            "object": "model",
            "created": 1735689600,
            "owned_by": "vllm",
            "root": name,
            "parent": None,
            "max_model_len": self.context_length,
            "permission": [
                {
                    "id": "modelperm-mock",
                    "object": "model_permission",
                    "created": 1735689600,
                    "allow_create_engine": False,
                    "allow_sampling": True,
                    "allow_logprobs": True,
                    "allow_search_indices": False,
                    "allow_view": True,
                    "allow_fine_tuning": False,
                    "organization": "*",
                    "group": None,
                    "is_blocking": False,
                }
            ],
        }

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        outcome: str = "error",
        err_type: str | None = None,
    ) -> MockError:
        body: dict[str, Any] = {
            "error": {
                "message": message,
                "type": err_type or _TYPES.get(status, "Error"),
                "param": param,
                "code": status,
            }
        }
        return MockError(status, body, headers=headers, outcome=outcome)

    def invalid_json(self, raw: bytes, exc: ValueError) -> MockError:
        return self._validation("json_invalid", "body", f"JSON decode error: {exc}")

    def invalid_request(self, problem: Problem) -> MockError:
        kind = "missing" if problem.reason.endswith("_missing") else "value_error"
        error = self._validation(kind, f"body.{problem.param}", problem.message)
        # a VLLMValidationError names its parameter (self.error's body is always a dict)
        if problem.reason == "stream_options" and isinstance(error.body, dict):
            error.body["error"]["param"] = "stream_options"
        return error

    def extra_problem(self, body: dict[str, Any]) -> Problem | None:
        if body.get("stream_options") and not body.get("stream"):
            return Problem(
                "stream_options",
                "Value error, Stream options can only be defined when `stream=True`.",
                "stream_options",
            )
        return None

    def _validation(self, kind: str, param: str, msg: str) -> MockError:
        loc = tuple(param.split("."))
        return self.error(
            400,
            f"1 validation error:\n  {{'type': '{kind}', 'loc': {loc!r}, 'msg': {msg!r}}}",
            param=param,
            err_type="Bad Request",
        )

    def unknown_model(self, name: str) -> MockError:
        return self.error(404, f"The model `{name}` does not exist.", param="model")

    def route_not_found(self, method: str, path: str) -> MockError:
        return self.error(404, "Not Found", err_type="Not Found")

    def overloaded(self) -> MockError:
        return self.error(
            503, "Request rejected: the queue is full (--max-num-queued-reqs).", outcome="fault"
        )

    def admit_prompt(self, prompt_tokens: int, max_tokens: int | None, context_length: int) -> int:
        if prompt_tokens >= context_length:
            raise self.error(
                400,
                f"This model's maximum context length is {context_length} "
                f"tokens. However, your request has {prompt_tokens} input "
                "tokens. Please reduce the length of the input messages.",
                param="input_tokens",
            )
        if max_tokens is not None and prompt_tokens + max_tokens > context_length:
            raise self.error(
                400,
                "'max_tokens' or 'max_completion_tokens' is too large: "
                f"{max_tokens}. This model's maximum context length is "
                f"{context_length} tokens and your request has {prompt_tokens}"
                f" input tokens ({max_tokens} > {context_length} - "
                f"{prompt_tokens}).",
                param="max_tokens",
            )
        return prompt_tokens

    def completion_body(self, c: Completion) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": c.text,
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "tool_calls": [],
            "reasoning_content": None,
        }
        return {
            "id": self.completion_id(c.number),
            "object": "chat.completion",
            "created": c.created,
            "model": c.model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": c.finish,
                    "stop_reason": None,
                }
            ],
            "service_tier": None,
            "system_fingerprint": None,
            "usage": {**simple_usage(c), "prompt_tokens_details": None},
            "prompt_logprobs": None,
            "kv_transfer_params": None,
        }

    def stream_frames(self, c: Completion, include_usage: bool) -> list[Frame]:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "id": self.completion_id(c.number),
                "object": "chat.completion.chunk",
                "created": c.created,
                "model": c.model,
                "choices": choices,
                **extra,
            }

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        last = len(c.pieces) - 1
        frames = [Frame(chunk([choice({"role": "assistant", "content": ""})]))]
        for i, piece in enumerate(c.pieces):
            if i < last:
                frames.append(Frame(chunk([choice({"content": piece})]), token=i))
            else:  # the finish reason rides on the last token
                frames.append(
                    Frame(
                        chunk([{**choice({"content": piece}, c.finish), "stop_reason": None}]),
                        token=i,
                    )
                )
        if not c.pieces:
            frames.append(
                Frame(chunk([{**choice({"content": ""}, c.finish), "stop_reason": None}]))
            )
        if include_usage:
            frames.append(Frame(chunk([], usage=simple_usage(c))))
        return frames
