"""What an upstream profile decides, and the parts the four servers share.

A profile is everything that differs between OpenAI's API and the OpenAI-compatible
servers people run themselves: which models exist and how they are named, which routes
exist, the shape of error bodies and their status codes, and the chunks of a stream
(where usage goes, where the finish reason goes). Answers, token counts, timing and
fault injection are the same for every profile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import MockError
from ..timing import ModelProfile


@dataclass(frozen=True)
class Completion:
    """One answer, ready to be written in any server's format."""

    number: int  # 1, 2, ... per server: ids are made from it
    created: int  # unix seconds
    model: str  # the name the response carries
    pieces: list[str]  # the answer's tokens
    finish: str  # "stop" | "length" | "tool_calls"
    prompt_tokens: int
    tool_call: tuple[str, str] | None = None  # (function name, JSON arguments): a tool call

    def tool_call_object(self) -> dict[str, Any]:
        """The tool call as OpenAI writes it in a message."""
        assert self.tool_call is not None
        name, arguments = self.tool_call
        return {
            "id": f"call_mock{self.number:06d}",
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def completion_tokens(self) -> int:
        return len(self.pieces)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Frame:
    """One `data:` event of a stream; `token` is the index of the answer token it carries
    (sent when that token is due), None for frames sent as soon as they can be."""

    payload: dict[str, Any]
    token: int | None = None


@dataclass(frozen=True)
class Problem:
    """What is wrong with a chat request body: the parameter, OpenAI's wording, and a
    short reason a profile can word its own way."""

    param: str
    message: str
    reason: str  # body, model_missing, messages_missing, messages_empty, role, content, ...


def simple_usage(c: Completion) -> dict[str, Any]:
    """The usage object most servers write: three counts."""
    return {
        "prompt_tokens": c.prompt_tokens,
        "completion_tokens": c.completion_tokens,
        "total_tokens": c.total_tokens,
    }


def retry_headers(retry_after: float | None) -> dict[str, str]:
    if retry_after is None:
        return {}
    return {"retry-after": f"{retry_after:g}", "retry-after-ms": str(int(retry_after * 1000))}


class UpstreamProfile:
    """Base: subclasses set the class attributes and write the bodies."""

    name: ClassVar[str]
    summary: ClassVar[str]  # one line for --help and /_mock/config
    has_moderations: ClassVar[bool] = False
    requires_model: ClassVar[bool] = True  # False: a request without "model" gets the first
    accepts_empty_messages: ClassVar[bool] = False
    context_length: ClassVar[int]

    # -- models ------------------------------------------------------------------------
    def models(self) -> dict[str, ModelProfile]:
        """The served models, cheap first, strong second."""
        raise NotImplementedError

    @property
    def cheap_model(self) -> str:
        return next(iter(self.models()))

    @property
    def strong_model(self) -> str:
        return list(self.models())[-1]

    def resolve_model(
        self, requested: str | None, served: Mapping[str, ModelProfile]
    ) -> tuple[str, ModelProfile]:
        """(the name the answer carries, the model's timing), or this server's
        unknown-model error."""
        if requested is None and not self.requires_model:
            requested = next(iter(served))
        if requested is not None and requested in served:
            return requested, served[requested]
        raise self.unknown_model(str(requested))

    def model_list(self, served: Mapping[str, ModelProfile]) -> dict[str, Any]:
        return {"object": "list", "data": [self.model_card(n) for n in served]}

    def model_card(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    def retrieve_model(self, name: str, served: Mapping[str, ModelProfile]) -> dict[str, Any]:
        """GET /v1/models/{name}: the card, or this server's answer for a missing one."""
        if name not in served:
            raise self.unknown_model(name)
        return self.model_card(name)

    # -- errors ------------------------------------------------------------------------
    def error(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        outcome: str = "error",
    ) -> MockError:
        """An error with this server's body for `status`."""
        raise NotImplementedError

    def invalid_json(self, raw: bytes, exc: ValueError) -> MockError:
        return self.error(400, f"Invalid JSON body: {exc}")

    def invalid_request(self, problem: Problem) -> MockError:
        return self.error(400, problem.message, param=problem.param)

    def extra_problem(self, body: dict[str, Any]) -> Problem | None:
        """A problem only this server finds in a body the common checks accepted."""
        return None

    def unknown_model(self, name: str) -> MockError:
        return self.error(404, f"The model `{name}` does not exist.", param="model")

    def route_not_found(self, method: str, path: str) -> MockError:
        return self.error(404, "Not Found")

    def overloaded(self) -> MockError:
        return self.error(503, "The server is overloaded.", outcome="fault")

    def injected(self, status: int, retry_after: float | None) -> MockError:
        """An injected `status` fault (X-Mock-Fault or the schedule)."""
        return self.error(
            status,
            f"Injected fault: HTTP {status}.",
            headers=retry_headers(retry_after),
            outcome="fault",
        )

    def admit_prompt(self, prompt_tokens: int, max_tokens: int | None, context_length: int) -> int:
        """The prompt tokens this server will count, or its context-length error."""
        if prompt_tokens >= context_length:
            raise self.error(
                400,
                f"The prompt ({prompt_tokens} tokens) is longer than the "
                f"context ({context_length} tokens).",
                param="messages",
            )
        return prompt_tokens

    # -- answers -----------------------------------------------------------------------
    def completion_id(self, number: int) -> str:
        return f"chatcmpl-{number:032x}"

    def completion_body(self, c: Completion) -> dict[str, Any]:
        raise NotImplementedError

    def stream_frames(self, c: Completion, include_usage: bool) -> list[Frame]:
        raise NotImplementedError

    def headers(self, c: Completion, request_number: int) -> dict[str, str]:
        """Response headers of an answer (`x-mock-model`: which fake model served it)."""
        return {"x-mock-model": c.model}

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "moderations": self.has_moderations,
            "context_length": self.context_length,
            "cheap_model": self.cheap_model,
            "strong_model": self.strong_model,
        }
