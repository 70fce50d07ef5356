"""llama.cpp's server (`llama-server -m model.gguf`), one model, read at ggml-org/llama.cpp
master (tools/server/, 2025-2026).

Sources (ggml-org/llama.cpp):
- errors: `{"error": {code, message, type}}` with `code` the HTTP status, type
  invalid_request_error 400, not_found_error 404, server_error 500, unavailable_error
  503, exceed_context_size_error 400 (tools/server/server-common.cpp
  `format_error_response`); a bad JSON body is an unhandled exception: 500 server_error
  with nlohmann's parse message (PR #5961); a missing `messages` is 400
  "'messages' is required" (`oaicompat_chat_params_parse`), an empty list is accepted.
- unknown route: 404 `{"error": {"message": "File Not Found", "type": "not_found_error",
  "code": 404}}` (tools/server/server-http.cpp error handler), so no /v1/moderations and
  no GET /v1/models/{id}.
- overloaded: requests beyond the slots wait in a queue; the one 503 is while the model
  loads: "Loading model", unavailable_error (server-http.cpp `middleware_server_state`).
- context too long: 400 exceed_context_size_error "request (N tokens) exceeds the
  available context size (C tokens), try increasing it" with `n_prompt_tokens` and
  `n_ctx` beside it (server-task.cpp `server_task_result_error::to_json`), also for streams
  since PR #16486. C is `-c` (4096 here).
- model naming: the single model answers whatever "model" the request names and echoes
  it (`params.oaicompat_model = json_value(data, "model", model_name)`); /v1/models lists
  the gguf (or `--alias`) with owned_by "llamacpp" and a `meta` object, next to an
  Ollama-style "models" list (server-context.cpp).
- streams (server-task.cpp `to_json_oaicompat_chat_stream`): a first chunk with
  `{"role": "assistant", "content": null}`, content deltas, a finish chunk with an empty
  delta, and only with `stream_options.include_usage` a last chunk with `choices: []`
  and the usage; the last chunk carries `timings`. `system_fingerprint` is the build.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import MockError
from ..timing import ModelProfile
from .base import Completion, Frame, Problem, UpstreamProfile, simple_usage

GGUF = "Llama-3.2-3B-Instruct-Q4_K_M.gguf"
BUILD = "b6500-mock"
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    500: "server_error",
    501: "not_supported_error",
    503: "unavailable_error",
}


class LlamaCppProfile(UpstreamProfile):
    name = "llamacpp"
    summary = "llama.cpp server: one gguf answers any model name, exceed_context_size_error"
    requires_model = False
    accepts_empty_messages = True
    context_length = 4096  # -c 4096

    def models(self) -> dict[str, ModelProfile]:
        return {GGUF: ModelProfile(ttft_ms=120, tokens_per_s=60, detailed=False)}

    def resolve_model(
        self, requested: str | None, served: Mapping[str, ModelProfile]
    ) -> tuple[str, ModelProfile]:
        loaded = next(iter(served))  # one model: the name in the request is only echoed
        return requested or loaded, served[loaded]

    def model_list(self, served: Mapping[str, ModelProfile]) -> dict[str, Any]:
        names = list(served)
        return {
            "models": [
                {
                    "name": n,
                    "model": n,
                    "modified_at": "",
                    "size": "",
                    "digest": "",
                    "type": "model",
                    "description": "",
                    "tags": [""],
                    "capabilities": ["completion"],
                    "parameters": "",
                    "details": {
                        "parent_model": "",
                        "format": "gguf",
                        "family": "",
                        "families": [""],
                        "parameter_size": "",
                        "quantization_level": "",
                    },
                }
                for n in names
            ],
            "object": "list",
            "data": [self.model_card(n) for n in names],
        }

    def model_card(self, name: str) -> dict[str, Any]:
        return {
            "id": name,
            "aliases": [],
            "tags": [],
            "object": "model",
            "created": 1735689600,
            "owned_by": "llamacpp",
            "meta": {
                "vocab_type": 2,
                "n_vocab": 128256,
                "n_ctx_train": 131072,
                "n_embd": 3072,
                "n_params": 3212749888,
                "size": 2019373056,
            },
        }

    def retrieve_model(self, name: str, served: Mapping[str, ModelProfile]) -> dict[str, Any]:
        raise self.route_not_found("GET", f"/v1/models/{name}")

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        outcome: str = "error",
        err_type: str | None = None,
        **extra: Any,
    ) -> MockError:
        body: dict[str, Any] = {
            "error": {
                "code": status,
                "message": message,
                "type": err_type or _TYPES.get(status, "server_error"),
                **extra,
            }
        }
        return MockError(status, body, headers=headers, outcome=outcome)

    def invalid_json(self, raw: bytes, exc: ValueError) -> MockError:
        pos = getattr(exc, "pos", 0)
        return self.error(
            500,
            f"[json.exception.parse_error.101] parse error at line 1, "
            f"column {pos + 1}: syntax error while parsing value",
        )

    def invalid_request(self, problem: Problem) -> MockError:
        words = {
            "messages_missing": "'messages' is required",
            "messages_type": "Expected 'messages' to be an array",
        }
        return self.error(400, words.get(problem.reason, problem.message))

    def route_not_found(self, method: str, path: str) -> MockError:
        return self.error(404, "File Not Found")

    def overloaded(self) -> MockError:
        return self.error(503, "Loading model", outcome="fault")

    def admit_prompt(self, prompt_tokens: int, max_tokens: int | None, context_length: int) -> int:
        if prompt_tokens >= context_length:
            raise self.error(
                400,
                f"request ({prompt_tokens} tokens) exceeds the available "
                f"context size ({context_length} tokens), try increasing it",
                err_type="exceed_context_size_error",
                n_prompt_tokens=prompt_tokens,
                n_ctx=context_length,
            )
        return prompt_tokens

    def completion_id(self, number: int) -> str:
        return f"chatcmpl-mock{number:026d}"  # 32 characters after the prefix, as llama.cpp's

    def completion_body(self, c: Completion) -> dict[str, Any]:
        return {
            "choices": [
                {
                    "finish_reason": c.finish,
                    "index": 0,
                    "message": {"role": "assistant", "content": c.text},
                }
            ],
            "created": c.created,
            "model": c.model,
            "system_fingerprint": BUILD,
            "object": "chat.completion",
            "usage": simple_usage(c),
            "id": self.completion_id(c.number),
            "timings": _timings(c),
        }

    def stream_frames(self, c: Completion, include_usage: bool) -> list[Frame]:
        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {
                "choices": choices,
                "created": c.created,
                "id": self.completion_id(c.number),
                "model": c.model,
                "system_fingerprint": BUILD,
                "object": "chat.completion.chunk",
                **extra,
            }

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"finish_reason": finish, "index": 0, "delta": delta}

        frames = [Frame(chunk([choice({"role": "assistant", "content": None})]))]
        frames += [Frame(chunk([choice({"content": p})]), token=i) for i, p in enumerate(c.pieces)]
        frames.append(Frame(chunk([choice({}, c.finish)])))
        if include_usage:
            frames.append(Frame(chunk([], usage=simple_usage(c))))
        frames[-1].payload["timings"] = _timings(c)
        return frames


def _timings(c: Completion) -> dict[str, Any]:
    return {
        "cache_n": 0,
        "prompt_n": c.prompt_tokens,
        "prompt_ms": 0.0,
        "prompt_per_token_ms": 0.0,
        "prompt_per_second": 0.0,
        "predicted_n": c.completion_tokens,
        "predicted_ms": 0.0,
        "predicted_per_token_ms": 0.0,
        "predicted_per_second": 0.0,
    }
