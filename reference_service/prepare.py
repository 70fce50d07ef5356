"""Turning an endpoint's validated body into a `ChatCall`: the system prompt, the limits the
schema cannot state, the model asked for, the sampling parameters, the cache policy."""

from __future__ import annotations

from typing import Any

from .call import CacheMode, ChatCall, Message
from .clients import Client
from .config import Settings
from .errors import BadRequest, RequestTooLarge, UnknownModel
from .messages import all_text, text_fields
from .schemas import ChatCompletionRequest, ChatRequest


class CallFactory:
    """Makes calls for one deployment's settings."""

    def __init__(self, settings: Settings, cache_enabled: bool) -> None:
        self.settings = settings
        self.cache_enabled = cache_enabled

    def from_chat(
        self,
        req: ChatRequest,
        request_id: str,
        client: Client,
        cache_control: str = "",
        *,
        guarded: bool | None = None,
        routed: bool = False,
    ) -> ChatCall:
        """A /chat* request: the lecture's system prompt first, then the history and the
        message; the lecture's model (DEFAULT_MODEL) and temperature (0.2) unless the
        client gave its own. `routed` (/chat/smart): the router chooses the model."""
        s = self.settings
        if len(req.history) > s.max_history_messages:
            raise RequestTooLarge(
                f"history has {len(req.history)} messages; the limit is {s.max_history_messages}."
            )
        messages: list[Message] = [{"role": "system", "content": s.system_prompt}]
        messages += [{"role": t.role, "content": t.content} for t in req.history]
        messages.append({"role": "user", "content": req.message})
        self._check_model(req.model)  # also on /chat/smart, which does not use it
        model = None if routed else (req.model or s.default_model)
        temperature = s.default_temperature if req.temperature is None else req.temperature
        return self._call(
            messages, model, temperature, req.max_tokens, request_id, client, cache_control, guarded
        )

    def from_completion(
        self,
        req: ChatCompletionRequest,
        request_id: str,
        client: Client,
        cache_control: str = "",
        *,
        guarded: bool | None = None,
    ) -> ChatCall:
        """A /v1/chat/completions request: the client's messages as given."""
        s = self.settings
        _refuse_what_cannot_be_honoured(req)
        messages: list[Message] = [m.model_dump(exclude_none=True) for m in req.messages]
        if len(messages) > s.max_history_messages + 2:
            raise RequestTooLarge(
                f"{len(messages)} messages; the limit is {s.max_history_messages + 2}."
            )
        for name in ("max_tokens", "max_completion_tokens"):
            value = getattr(req, name)
            if value is not None and value > s.max_output_tokens:
                raise RequestTooLarge(f"{name} is {value}; the limit is {s.max_output_tokens}.")
        passthrough = req.passthrough()
        call = self._call(
            messages,
            req.model,
            req.temperature,
            req.max_completion_tokens or req.max_tokens,
            request_id,
            client,
            cache_control,
            guarded,
            passthrough_chars=sum(len(t) for t in text_fields({"passthrough": passthrough})),
        )
        if req.top_p is not None:
            call.params["top_p"] = req.top_p
        call.passthrough = passthrough
        if call.guarded and call.passthrough.get("tools"):
            raise BadRequest(
                "`tools` are not accepted on a guarded path: tool-call arguments "
                "would reach the client without the personal-data restore and "
                "moderation that text gets.",
                param="tools",
                code="unsupported_parameter",
            )
        return call

    def _call(
        self,
        messages: list[Message],
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        request_id: str,
        client: Client,
        cache_control: str,
        guarded: bool | None,
        passthrough_chars: int = 0,
    ) -> ChatCall:
        s = self.settings
        guarded = s.safety_guards if guarded is None else guarded
        total = sum(len(all_text(m)) for m in messages)
        if guarded:  # the PII pass reads the /v1 pass-through fields too: the same bound
            total += passthrough_chars
        if total > s.max_total_chars:
            raise RequestTooLarge(
                f"the conversation is {total} characters; the limit is {s.max_total_chars}."
            )
        if max_tokens is not None and max_tokens > s.max_output_tokens:
            raise RequestTooLarge(
                f"max_tokens is {max_tokens}; the limit is {s.max_output_tokens}."
            )
        self._check_model(model)
        if guarded:
            _check_readable(messages)
        params: dict[str, Any] = {}
        if temperature is not None:
            params["temperature"] = temperature
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        return ChatCall(
            messages=messages,
            model=None if model == "auto" else model,
            client=client,
            request_id=request_id,
            params=params,
            guarded=guarded,
            cache_mode=self._cache_mode(cache_control, temperature),
        )

    def _check_model(self, model: str | None) -> None:
        if model is not None and model != "auto" and model not in self.settings.models:
            raise UnknownModel(
                f"unknown model {model[:100]!r}; available: "
                f"{', '.join(self.settings.models)}, auto."
            )

    def _cache_mode(self, cache_control: str, temperature: float | None) -> CacheMode:
        """The cache policy of one request (see docs/CACHE.md)."""
        directives = {d.strip().lower() for d in cache_control.split(",")}
        if not self.cache_enabled or "no-store" in directives:
            return "bypass"
        if temperature is not None and temperature > self.settings.cache_max_temperature:
            return "bypass"  # the client asked for variety; a stored answer is not that
        return "refresh" if "no-cache" in directives else "use"


def _check_readable(messages: list[Message]) -> None:
    """A guarded call sends nothing the guards cannot read: only text content parts."""
    for i, m in enumerate(messages):
        content = m.get("content")
        for part in content if isinstance(content, list) else []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text":
                raise BadRequest(
                    f"messages[{i}] has a content part of type {kind!r}; on a "
                    "guarded path only text parts are accepted (the personal-data "
                    "check and moderation read text only).",
                    code="unsupported_content",
                )


def _refuse_what_cannot_be_honoured(req: ChatCompletionRequest) -> None:
    """Parameters the gateway cannot honour are refused by name, never dropped silently."""
    if req.n is not None and req.n != 1:
        raise BadRequest(
            "`n` must be 1: the gateway returns one choice (its cache, moderation "
            "and placeholder restore work on one answer).",
            param="n",
            code="unsupported_parameter",
        )
    if req.logprobs or req.top_logprobs is not None:
        raise BadRequest(
            "`logprobs` is not supported: the gateway may change the answer's text "
            "(placeholders restored, a refusal), so token log-probabilities would "
            "not describe what you receive.",
            param="logprobs",
            code="unsupported_parameter",
        )
