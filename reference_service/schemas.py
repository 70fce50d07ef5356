"""Request and response bodies of the HTTP API (the lecture's shapes, extra fields allowed)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from .config import Settings


def _integral(v: Any) -> Any:
    """JSON has one number type: 5.0 is the integer 5 (JSON Schema agrees); 5.5 and "5"
    are not integers."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


Int = Annotated[int, BeforeValidator(_integral)]


def _valid_unicode(value: Any) -> Any:
    """Refuse text that is not valid Unicode: JSON may carry a lone surrogate escape
    ("\\ud83d"), which no UTF-8 encoder (ours, Presidio's, the upstream's) accepts."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(
                "text must be valid Unicode (an unpaired surrogate was sent)"
            ) from None
    elif isinstance(value, dict):
        for v in value.values():
            _valid_unicode(v)
    elif isinstance(value, list):
        for v in value:
            _valid_unicode(v)
    return value


class Body(BaseModel):
    """A request body or query: every string in it is valid Unicode (else 422)."""

    @model_validator(mode="before")
    @classmethod
    def _unicode(cls, data: Any) -> Any:
        return _valid_unicode(data)


# The lecture's ChatRequest: a message of 1 to 4096 characters (a 422 otherwise).
MAX_MESSAGE_CHARS = 4096


def new_session_id() -> str:
    return uuid.uuid4().hex


class Turn(BaseModel):
    """One earlier turn of the conversation, sent back by the client."""

    model_config = ConfigDict(strict=True)

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class ChatQuery(Body):
    """A question: the query parameters of GET /chat/stream, and the core of ChatRequest.

    The lecture's fields (`message`, `session_id`, `model`) with the lecture's limits and
    defaults; the rest is the lab's."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(
        min_length=1,
        max_length=MAX_MESSAGE_CHARS,
        pattern=r"\S",
        description="the user's new message: 1 to 4096 characters, not blank",
    )
    session_id: str = Field(
        default_factory=new_session_id,
        min_length=1,
        max_length=128,
        description="echoed in the answer; default: a new hex uuid",
    )
    model: str | None = Field(
        None,
        max_length=256,
        description='default: DEFAULT_MODEL (gpt-4o-mini); "auto": the router chooses',
    )
    user_id: str | None = Field(None, max_length=128)
    temperature: float | None = Field(
        None, ge=0, le=2, description="default: DEFAULT_TEMPERATURE (0.2)"
    )
    max_tokens: Int | None = Field(None, ge=1)


class StreamQuery(ChatQuery):
    """GET /chat/stream's query parameters."""

    include_usage: bool = Field(False, description="send a `usage` event before `done`")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    include_usage: bool = False


class ChatRequest(ChatQuery):
    """Body of POST /chat* and /chat/stream. Sizes are checked against the settings."""

    # strict: a JSON body says what it means ("0.5" is not a temperature); the GET form
    # (ChatQuery) stays lax, since query parameters are all strings.
    model_config = ConfigDict(
        extra="ignore", strict=True, json_schema_extra={"examples": [{"message": "What is HBM3?"}]}
    )

    history: list[Turn] = Field(default_factory=list, description="earlier turns, oldest first")
    stream_options: StreamOptions | None = Field(
        None, description='/chat/stream: {"include_usage": true} sends a `usage` event'
    )


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Routing(BaseModel):
    reason: str = Field(
        description="pinned (the request named a model), routed or sticky "
        "(the conversation's earlier choice)"
    )
    router: str | None = None
    score: float | None = Field(None, description="router score; >= threshold: strong model")
    fallback_from: str | None = Field(
        None,
        description="the chosen model, when its circuit breaker was open and the other answered",
    )


class ChatResponse(BaseModel):
    """Body of a POST /chat* answer: the lecture's five fields, then the lab's."""

    session_id: str = Field(description="the request's, echoed")
    answer: str
    model_used: str
    latency_ms: float = Field(description="time in the service, rounded to 0.1 ms")
    tokens_used: int = Field(description="prompt + completion tokens of this answer")
    response: str = Field(description="the same as `answer` (the lab's earlier name)")
    model: str = Field(description="the same as `model_used`")
    routing: Routing
    request_id: str
    usage: Usage
    finish_reason: str | None = None
    cache: str = Field("BYPASS", description="what the cache did: HIT, MISS or BYPASS")


# -- OpenAI-compatible front door ---------------------------------------------------------


class TextPart(BaseModel):
    """A content part: `{"type": "text", "text"}`, or any other part (an image...), passed
    through as sent."""

    model_config = ConfigDict(extra="allow", strict=True)
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # an assistant's earlier tool calls
    tool_call_id: str | None = None  # a tool message answers this call


# What the gateway interprets itself; every other field of a chat completion request goes to
# the upstream as sent (stop, seed, response_format, tools, tool_choice, user, ...).
INTERPRETED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "n",
        "logprobs",
        "top_logprobs",
    }
)


class ChatCompletionRequest(Body):
    """Body of POST /v1/chat/completions. The fields below are the ones the gateway reads;
    any other field OpenAI's API takes is passed to the upstream as sent (and is part of the
    cache's key). `n` other than 1 and `logprobs` are refused (400, named in `param`)."""

    model_config = ConfigDict(extra="allow", strict=True)

    model: str = Field(min_length=1, max_length=256)
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: Int | None = Field(None, ge=1)
    max_completion_tokens: Int | None = Field(None, ge=1)
    n: Int | None = Field(None, ge=1, description="only 1: the gateway returns one choice")
    logprobs: bool | None = Field(
        None, description="not supported: the gateway may change the text (placeholders restored)"
    )
    top_logprobs: Int | None = None
    stop: str | list[str] | None = None
    seed: Int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    user: str | None = Field(None, max_length=256)

    def passthrough(self) -> dict[str, Any]:
        """The fields the gateway does not interpret, for the upstream."""
        return {k: v for k, v in self.model_dump(exclude_none=True).items() if k not in INTERPRETED}


# -- errors and the deployment's limits, in the OpenAPI document ----------------------------


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="allow")  # categories, entities, code, details...
    type: str = Field(description="machine-readable, e.g. rate_limited, upstream_timeout")
    message: str
    request_id: str | None = None


class ErrorBody(BaseModel):
    """Every error response of the service."""

    error: ErrorDetail


def error_doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


CHAT_ERRORS: dict[int | str, dict[str, Any]] = {
    400: error_doc(
        "invalid JSON, unknown model, content flagged by moderation, blocked personal "
        "data, or the upstream rejected the request"
    ),
    401: error_doc("missing or unknown API key (when API_KEYS is set)"),
    413: error_doc("body, history, conversation or max_tokens over the limit"),
    422: error_doc("a field is invalid (e.g. an empty message, or one over 4096 characters)"),
    429: error_doc("rate limited: see Retry-After and the x-ratelimit-* headers"),
    502: error_doc("the upstream LLM failed"),
    503: error_doc(
        "upstream busy, circuit breaker open, safety check unavailable, or shutting "
        "down: see Retry-After"
    ),
    504: error_doc("the request's deadline passed"),
}


# long: one OpenAPI fragment per limit, written out
def document_limits(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The OpenAPI document states this deployment's limits (models, sizes), so a schema-valid
    request is one the service accepts."""
    models = list(settings.models)
    comps = schema.get("components", {}).get("schemas", {})

    def constrain(props: dict[str, Any]) -> None:
        if "model" in props:
            props["model"] = {
                **{k: v for k, v in props["model"].items() if k != "anyOf"},
                "anyOf": [{"type": "string", "enum": [*models, "auto"]}, {"type": "null"}],
            }
        for name in ("max_tokens", "max_completion_tokens"):
            if name in props:
                props[name]["anyOf"] = [
                    {"type": "integer", "minimum": 1, "maximum": settings.max_output_tokens},
                    {"type": "null"},
                ]
        if "history" in props:
            props["history"]["maxItems"] = settings.max_history_messages
        if "messages" in props:
            props["messages"]["maxItems"] = settings.max_history_messages + 2

    for name in ("ChatRequest", "ChatQuery", "StreamQuery", "ChatCompletionRequest"):
        if name in comps:
            constrain(comps[name].get("properties", {}))
    if "ChatCompletionRequest" in comps:  # required there: a string from the list
        comps["ChatCompletionRequest"]["properties"]["model"] = {
            "type": "string",
            "enum": [*models, "auto"],
            "title": "Model",
        }
    if "ChatCompletionRequest" in comps:  # what the /v1 door refuses by name (a 400)
        props = comps["ChatCompletionRequest"]["properties"]
        props["n"] = {
            "anyOf": [{"type": "integer", "minimum": 1, "maximum": 1}, {"type": "null"}],
            "title": "N",
        }
        props["logprobs"] = {
            "anyOf": [{"type": "boolean", "enum": [False]}, {"type": "null"}],
            "title": "Logprobs",
        }
        props["top_logprobs"] = {"type": "null", "title": "Top Logprobs"}
        if settings.safety_guards:  # tools are refused on guarded paths
            props["tools"] = {"type": "null", "title": "Tools"}
    for op in schema.get("paths", {}).get("/v1/models/{model_id}", {}).values():
        for param in op.get("parameters", []):
            if param["name"] == "model_id":
                param["schema"] = {"type": "string", "enum": [*models, "auto"]}
    if settings.safety_guards and "TextPart" in comps:  # the guards read text parts only
        comps["TextPart"]["properties"]["type"] = {
            "type": "string",
            "enum": ["text"],
            "title": "Type",
        }
    for op in schema.get("paths", {}).get("/chat/stream", {}).values():
        params = {p["name"]: p for p in op.get("parameters", [])}
        if params:
            schemas = {k: p["schema"] for k, p in params.items()}
            constrain(schemas)
            for k, p in params.items():
                p["schema"] = schemas[k]
    return schema
