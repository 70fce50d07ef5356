"""Ollama's OpenAI compatibility layer (`ollama serve`, /v1/*), read at ollama/ollama main.

Sources (ollama/ollama):
- errors: `{"error": {message, type, param: null, code: null}}`, type
  "invalid_request_error" for 400, "not_found_error" for 404, "api_error" otherwise
  (openai/openai.go `NewError`); native errors are wrapped by status (middleware/openai.go
  `writeError`); an invalid body 400 with Go's JSON error, empty messages
  "[] is too short - 'messages'" (middleware/openai.go `ChatMiddleware`).
- model required: 400 "model is required"; unknown model: 404 "model 'X' not found"
  (server/routes.go `ChatHandler`, from `GetModel`; older releases, and a model that
  vanishes between lookup and load, answer `model "X" not found, try pulling it first`
  from `handleScheduleError`); a name without a tag means ":latest" (types/model/name.go).
- overloaded: 503 "server busy, please try again.  maximum pending requests exceeded"
  when more than OLLAMA_MAX_QUEUE (512) requests wait (server/sched.go `ErrMaxQueue`).
- context too long: no error. The prompt is cut from the front to fit the context
  (OLLAMA_CONTEXT_LENGTH, 4096 by default) and the answer is a 200 whose usage reports
  the kept part: half the context plus 2 (issues #4967, #3839, #17427; measured 2050 of
  4096 in Stirling-Tools/Stirling-PDF#7770).
- model naming and /v1/models: "llama3.2:3b", owned_by the name's namespace ("library"),
  created = the model's modification time (openai/openai.go `ToListCompletion`);
  GET /v1/models/{model} answers from `ollama show` (middleware/openai.go
  `RetrieveMiddleware`), 404 "model 'X' not found" for a missing one.
- streams (middleware/openai.go `ChatWriter`, openai/openai.go `ToChunk`): every chunk's
  delta carries `role: "assistant"`, `system_fingerprint` is "fp_ollama", the last chunk
  has an empty content and the finish reason; `usage` is omitted unless
  `stream_options.include_usage`, which adds a copy of the last chunk with `choices: []`
  and the usage. Ids are "chatcmpl-" and a number below 999.
- no /v1/moderations: gin's default 404, text/plain "404 page not found".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import MockError
from ..timing import ModelProfile
from .base import Completion, Frame, Problem, UpstreamProfile, simple_usage

_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def canonical(name: str) -> str:
    """Ollama's full name: a name without a tag means its ":latest"."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


class OllamaProfile(UpstreamProfile):
    name = "ollama"
    summary = "Ollama: llama3.2:3b, no context errors (silent truncation), usage on request"
    context_length = 4096  # OLLAMA_CONTEXT_LENGTH's default

    def models(self) -> dict[str, ModelProfile]:
        return {
            "llama3.2:3b": ModelProfile(ttft_ms=200, tokens_per_s=90, detailed=False),
            "llama3.1:8b": ModelProfile(ttft_ms=400, tokens_per_s=45, detailed=True),
        }

    def resolve_model(
        self, requested: str | None, served: Mapping[str, ModelProfile]
    ) -> tuple[str, ModelProfile]:
        full = canonical(requested or "")
        if requested and full in served:
            return requested, served[full]  # the answer carries the name as asked
        raise self.unknown_model(requested or "")

    def model_card(self, name: str) -> dict[str, Any]:
        namespace = name.split("/")[-2] if "/" in name else "library"
        return {"id": name, "object": "model", "created": 1735689600, "owned_by": namespace}

    def retrieve_model(self, name: str, served: Mapping[str, ModelProfile]) -> dict[str, Any]:
        if canonical(name) not in served:
            raise self.unknown_model(name)
        return self.model_card(name)

    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        outcome: str = "error",
    ) -> MockError:
        body: dict[str, Any] = {
            "error": {
                "message": message,
                "type": _TYPES.get(status, "api_error"),
                "param": None,
                "code": None,
            }
        }
        return MockError(status, body, headers=headers, outcome=outcome)

    def invalid_json(self, raw: bytes, exc: ValueError) -> MockError:
        pos = getattr(exc, "pos", 0)
        found = raw[pos : pos + 1].decode("utf-8", "replace") or "EOF"
        return self.error(400, f"invalid character {found!r} looking for beginning of value")

    def invalid_request(self, problem: Problem) -> MockError:
        words = {
            "model_missing": "model is required",
            "messages_empty": "[] is too short - 'messages'",
            "messages_missing": "[] is too short - 'messages'",
        }
        return self.error(400, words.get(problem.reason, problem.message))

    def unknown_model(self, name: str) -> MockError:
        return self.error(404, f"model '{name}' not found")

    def route_not_found(self, method: str, path: str) -> MockError:
        return MockError(404, "404 page not found")

    def overloaded(self) -> MockError:
        return self.error(
            503,
            "server busy, please try again.  maximum pending requests exceeded",
            outcome="fault",
        )

    def admit_prompt(self, prompt_tokens: int, max_tokens: int | None, context_length: int) -> int:
        if prompt_tokens > context_length:
            return context_length // 2 + 2  # the front was dropped; no error
        return prompt_tokens

    def completion_id(self, number: int) -> str:
        return f"chatcmpl-{number % 999}"

    def completion_body(self, c: Completion) -> dict[str, Any]:
        return {
            "id": self.completion_id(c.number),
            "object": "chat.completion",
            "created": c.created,
            "model": c.model,
            "system_fingerprint": "fp_ollama",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": c.text},
                    "finish_reason": c.finish,
                }
            ],
            "usage": simple_usage(c),
        }

    def stream_frames(self, c: Completion, include_usage: bool) -> list[Frame]:
        def chunk(content: str, finish: str | None = None) -> dict[str, Any]:
            return {
                "id": self.completion_id(c.number),
                "object": "chat.completion.chunk",
                "created": c.created,
                "model": c.model,
                "system_fingerprint": "fp_ollama",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": content},
                        "finish_reason": finish,
                    }
                ],
            }

        frames = [Frame(chunk(p), token=i) for i, p in enumerate(c.pieces)]
        last = chunk("", c.finish)
        frames.append(Frame(last))
        if include_usage:
            frames.append(Frame({**last, "choices": [], "usage": simple_usage(c)}))
        return frames
