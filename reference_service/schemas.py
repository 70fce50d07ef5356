"""Request and response bodies of the HTTP API (the lecture's shapes, extra fields allowed)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Turn(BaseModel):
    """One earlier turn of the conversation, sent back by the client."""

    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class ChatQuery(BaseModel):
    """A question: the query parameters of GET /chat/stream, and the core of ChatRequest."""

    model_config = ConfigDict(extra="ignore")

    message: str = Field(min_length=1, description="the user's new message")
    user_id: str | None = Field(None, max_length=128)
    model: str | None = Field(None, description="pin a model; default: the service chooses")
    temperature: float | None = Field(None, ge=0, le=2)
    max_tokens: int | None = Field(None, ge=1)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("message must not be blank")
        return v


class ChatRequest(ChatQuery):
    """Body of POST /chat and /chat/stream. Sizes are checked against the settings."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={
        "examples": [{"message": "What is HBM3?"}]})

    history: list[Turn] = Field(default_factory=list, description="earlier turns, oldest first")


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Routing(BaseModel):
    reason: str = Field(description="pinned (the request named a model), routed or sticky "
                                    "(the conversation's earlier choice)")
    router: str | None = None
    score: float | None = Field(None, description="router score; >= threshold: strong model")
    fallback_from: str | None = Field(None, description="the chosen model, when its circuit "
                                                        "breaker was open and the other answered")


class ChatResponse(BaseModel):
    """Body of a POST /chat answer."""

    response: str
    model: str
    model_used: str
    routing: Routing
    request_id: str
    tokens_used: int
    usage: Usage
    finish_reason: str | None = None
    latency_ms: float
    cache: str = Field("BYPASS", description="what the cache did: HIT, MISS or BYPASS")


# -- OpenAI-compatible front door ---------------------------------------------------------

class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """Body of POST /v1/chat/completions (the subset of OpenAI's this service honours;
    other fields are accepted and ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[OpenAIMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    user: str | None = Field(None, max_length=256)
