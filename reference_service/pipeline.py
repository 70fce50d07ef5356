"""The request path, top to bottom in one place.

    prepare (size limits, pinned model, cache policy)
    -> redact (guarded calls: PII -> <PERSON_1>...; from here on nothing sees the originals)
    -> route (cheap or strong model, sticky per conversation)
    -> admit (rate limits)
    -> moderate the input (guarded calls; flagged: 400, the upstream is never called)
    -> cache lookup (exact, then semantic + verifier)  -- a hit answers here
    -> call the upstream (retries, deadline, breaker, fallback)
    -> moderate the answer (guarded; streams in windows) -> cache store (complete answers
       only, in their redacted form) -> settle (charge output tokens)
    -> restore (the placeholders become the request's own values again)

Each step is a call into its own module, so a reader sees the whole path of a chat
request in this file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import AsyncIterator

from .tokens import count_chat_tokens, count_tokens, message_text, split_tokens

from .clock import Clock
from .config import Settings
from .cache import Lookup, SemanticCache, scope_of
from .clients import Client
from .errors import CircuitOpen, RateLimited, RequestTooLarge, UnknownModel
from .llm.deadline import Deadline
from .llm.resilient import ResilientUpstream
from .ratelimit import RateLimiter, SlidingWindowLimiter
from .routing import RouteDecision, Router
from .safety.guard import REFUSAL, SafetyGuard, SafetyReport
from .safety.pii import Placeholders, StreamRestorer
from .safety.release import StreamRelease
from .sticky_routes import StickyRoutes
from .schemas import ChatCompletionRequest, ChatRequest


@dataclass
class ChatCall:
    """One chat request as the pipeline sees it, whichever endpoint it came from."""

    messages: list[dict]
    model: str | None  # None: the router chooses
    params: dict = field(default_factory=dict)
    request_id: str = ""
    client: Client | None = None
    limited_client: str | None = None  # /chat/limited: the lecture's per-client key
    response_headers: dict[str, str] = field(default_factory=dict)  # e.g. rate-limit state
    route: RouteDecision | None = None
    cache_mode: str = "use"  # "use" | "refresh" (no-cache: store, don't serve) | "bypass"
    cache: Lookup | None = None
    cache_key: tuple[str, str] | None = None  # (scope, question), set by the lookup
    guarded: bool = False  # safety guards (PII, moderation) apply
    placeholders: Placeholders = field(default_factory=Placeholders)  # this request's only
    safety: SafetyReport = field(default_factory=SafetyReport)
    # Real seconds spent waiting for the upstream LLM ("upstream_s"; for the gateway overhead
    # in X-Overhead-Ms and the metrics). Measured with perf_counter, not the injectable clock:
    # this is a measurement, not a policy.
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class ChatResult:
    text: str
    model: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    ttft_ms: float | None = None
    cache: str = "BYPASS"  # what the cache did: HIT, MISS or BYPASS
    safety: dict = field(default_factory=dict)  # what the guards found (types, never values)
    cache_tier: str | None = None  # "exact" | "semantic" on a hit
    fallback_from: str | None = None  # the model whose breaker was open

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def log_fields(self) -> dict:
        """What the request's log line says about the answer (never its text)."""
        fields = {"model": self.model, "prompt_tokens": self.prompt_tokens,
                  "completion_tokens": self.completion_tokens, "cache": self.cache}
        if self.ttft_ms is not None:
            fields["ttft_ms"] = round(self.ttft_ms, 2)
        if self.safety:
            fields["safety"] = self.safety
        if self.cache_tier:
            fields["cache_tier"] = self.cache_tier
        if self.fallback_from:
            fields["fallback_from"] = self.fallback_from
        return fields


@dataclass
class TokenEvent:
    text: str


@dataclass
class DoneEvent:
    result: ChatResult


StreamEvent = TokenEvent | DoneEvent


class ChatPipeline:
    """Everything between a validated HTTP body and the upstream LLM."""

    def __init__(self, settings: Settings, upstream: ResilientUpstream, clock: Clock,
                 limiter: RateLimiter | None = None, router: Router | None = None,
                 sticky: StickyRoutes | None = None, cache: SemanticCache | None = None,
                 guard: SafetyGuard | None = None,
                 sliding_limiter: SlidingWindowLimiter | None = None) -> None:
        self.settings = settings
        self.upstream = upstream
        self.clock = clock
        self.limiter = limiter
        self.sliding_limiter = sliding_limiter  # the lecture's /chat/limited rule
        self.router = router
        self.sticky = sticky
        self.cache = cache
        self.guard = guard

    # -- prepare: turn an endpoint's body into a ChatCall, enforcing limits -------------
    def prepare_chat(self, req: ChatRequest, request_id: str, client: Client | None = None,
                     cache_control: str = "", guarded: bool | None = None,
                     routed: bool = False) -> ChatCall:
        """A /chat* request as a call: the lecture's system prompt first, then the history
        and the message; the lecture's model (DEFAULT_MODEL) and temperature (0.2) unless
        the client gave its own. `routed` (/chat/smart): the router chooses the model."""
        s = self.settings
        if len(req.history) > s.max_history_messages:
            raise RequestTooLarge(f"history has {len(req.history)} messages; "
                                  f"the limit is {s.max_history_messages}.")
        messages = [{"role": "system", "content": s.system_prompt}]
        messages += [{"role": t.role, "content": t.content} for t in req.history]
        messages.append({"role": "user", "content": req.message})
        self._check_model(req.model)  # also on /chat/smart, which does not use it
        model = None if routed else (req.model or s.default_model)
        temperature = s.default_temperature if req.temperature is None else req.temperature
        return self._call(messages, model, temperature, req.max_tokens, request_id, client,
                          cache_control, guarded)

    def prepare_completion(self, req: ChatCompletionRequest, request_id: str,
                           client: Client | None = None, cache_control: str = "",
                           guarded: bool | None = None) -> ChatCall:
        messages = [m.model_dump(exclude_none=True, include={"role", "content", "name"})
                    for m in req.messages]
        if len(messages) > self.settings.max_history_messages + 2:
            raise RequestTooLarge(f"{len(messages)} messages; the limit is "
                                  f"{self.settings.max_history_messages + 2}.")
        for name in ("max_tokens", "max_completion_tokens"):
            value = getattr(req, name)
            if value is not None and value > self.settings.max_output_tokens:
                raise RequestTooLarge(f"{name} is {value}; the limit is "
                                      f"{self.settings.max_output_tokens}.")
        max_tokens = req.max_completion_tokens or req.max_tokens
        call = self._call(messages, req.model, req.temperature, max_tokens, request_id, client,
                          cache_control, guarded)
        if req.top_p is not None:
            call.params["top_p"] = req.top_p
        return call

    def _call(self, messages: list[dict], model: str | None, temperature: float | None,
              max_tokens: int | None, request_id: str, client: Client | None,
              cache_control: str = "", guarded: bool | None = None) -> ChatCall:
        s = self.settings
        total = sum(len(message_text(m)) for m in messages)
        if total > s.max_total_chars:
            raise RequestTooLarge(f"the conversation is {total} characters; "
                                  f"the limit is {s.max_total_chars}.")
        if max_tokens is not None and max_tokens > s.max_output_tokens:
            raise RequestTooLarge(f"max_tokens is {max_tokens}; the limit is {s.max_output_tokens}.")
        if model == "auto":  # the OpenAI front door's way to ask for routing
            model = None
        if model is None and self.router is None:
            model = s.default_model
        self._check_model(model)
        params: dict = {}
        if temperature is not None:
            params["temperature"] = temperature
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if guarded is None:  # the endpoint did not insist: the deployment's setting decides
            guarded = s.safety_guards
        return ChatCall(messages=messages, model=model, params=params, request_id=request_id,
                        client=client, cache_mode=self._cache_mode(cache_control, temperature),
                        guarded=guarded and self.guard is not None)

    def _check_model(self, model: str | None) -> None:
        if model is not None and model != "auto" and model not in self.settings.models:
            raise UnknownModel(f"unknown model {model[:100]!r}; available: "
                               f"{', '.join(self.settings.models)}, auto.")

    def _cache_mode(self, cache_control: str, temperature: float | None) -> str:
        """The cache policy of one request (see docs/CACHE.md)."""
        directives = {d.strip().lower() for d in cache_control.split(",")}
        if self.cache is None or "no-store" in directives:
            return "bypass"
        if temperature is not None and temperature > self.settings.cache_max_temperature:
            return "bypass"  # the client asked for variety; a stored answer is not that
        return "refresh" if "no-cache" in directives else "use"

    # -- cache: look up before the upstream, store complete answers after ---------------
    def _scope(self, call: ChatCall) -> tuple[str, str] | None:
        """(scope, question): the question is the last user message; everything else that
        shapes the answer (tenant, model, system prompt, parameters, earlier turns) is scope.
        None when there is no user message (nothing to key the answer on)."""
        users = [i for i, m in enumerate(call.messages) if m.get("role") == "user"]
        if not users:
            return None
        last_user = users[-1]
        # Guarded answers passed output moderation: never mixed with unguarded ones.
        params = {**call.params, "guarded": True} if call.guarded else call.params
        scope = scope_of(tenant=call.client.tenant if call.client else "", model=call.model,
                         params=params, context=call.messages[:last_user],
                         after=call.messages[last_user + 1:])
        return scope, message_text(call.messages[last_user])

    async def cache_lookup(self, call: ChatCall) -> ChatResult | None:
        """A cached answer for this call, or None (then the call goes upstream)."""
        if call.cache_mode == "bypass":
            call.response_headers["X-Cache"] = "BYPASS"
            return None
        if call.cache_mode == "refresh":
            call.cache, call.cache_key = Lookup("MISS"), self._scope(call)
            call.response_headers["X-Cache"] = "BYPASS"
            return None
        call.cache_key = self._scope(call)
        if call.cache_key is None:
            call.response_headers["X-Cache"] = "BYPASS"
            return None
        call.cache = lookup = await self.cache.lookup(*call.cache_key)
        if lookup.status == "HIT" and not call.placeholders.knows_all(lookup.entry.answer):
            # The stored answer names a placeholder this request has no value for.
            call.cache = lookup = Lookup("MISS", vector=lookup.vector)
        call.response_headers["X-Cache"] = lookup.status
        if lookup.status != "HIT":
            return None
        e = lookup.entry
        call.response_headers["X-Cache-Tier"] = lookup.tier
        if lookup.tier == "semantic":
            call.response_headers["X-Cache-Similarity"] = f"{lookup.similarity:.4f}"
        return ChatResult(text=e.answer, model=e.model, finish_reason=e.finish_reason,
                          prompt_tokens=e.prompt_tokens, completion_tokens=e.completion_tokens,
                          latency_ms=0.0, cache="HIT")

    async def cache_store(self, call: ChatCall, result: ChatResult) -> None:
        """Keep a complete answer (not a truncated one) for later requests."""
        if (call.cache_key is None or call.cache is None or call.cache.status != "MISS"
                or result.finish_reason != "stop"):
            return
        scope, question = call.cache_key
        await self.cache.store(scope, question, result.text, model=result.model,
                               prompt_tokens=result.prompt_tokens,
                               completion_tokens=result.completion_tokens,
                               vector=call.cache.vector)

    # -- safety: redact and moderate the input, moderate the answer --------------------
    async def redact(self, call: ChatCall) -> None:
        """Replace personal data by placeholders; nothing after this sees the originals."""
        if call.guarded:
            call.response_headers["X-Safety"] = "checked"
            call.messages, call.placeholders = await self.guard.redact(call.messages,
                                                                       call.safety)

    async def moderate_input(self, call: ChatCall, deadline: Deadline) -> None:
        if call.guarded:
            await self.guard.check_input(call.messages, deadline, call.safety)

    async def moderate_output(self, call: ChatCall, text: str, deadline: Deadline) -> list[str]:
        if not call.guarded:
            return []
        flagged = await self.guard.check_output(text, deadline, call.safety)
        if flagged:
            call.response_headers["X-Safety"] = "output-flagged"
        return flagged

    def _finish(self, call: ChatCall, result: ChatResult) -> ChatResult:
        """The answer as the client gets it: its own values back in place of placeholders."""
        result.text = call.placeholders.restore(result.text)
        result.safety = call.safety.log_fields()
        if call.cache is not None and call.cache.status == "HIT":
            result.cache_tier = call.cache.tier
        result.fallback_from = call.route.fallback_from if call.route else None
        return result

    # -- route: which model answers ----------------------------------------------------
    async def route(self, call: ChatCall) -> None:
        """Pinned, or the conversation's earlier choice, or the router's for this query."""
        if call.model is not None:
            decision = RouteDecision(call.model, "pinned")
        else:
            users = [message_text(m) for m in call.messages if m.get("role") == "user"]
            tenant = call.client.tenant if call.client else ""
            key = StickyRoutes.key(tenant, users[0] if users else "")
            remembered = await self.sticky.get(key) if self.sticky and len(users) > 1 else None
            if remembered in self.settings.models:
                decision = RouteDecision(remembered, "sticky")
            else:
                score = self.router.score(users[-1] if users else "")
                strong = score >= self.settings.route_threshold
                model = self.settings.strong_model if strong else self.settings.default_model
                decision = RouteDecision(model, "routed", self.router.name, round(score, 3))
                if self.sticky:
                    await self.sticky.set(key, model)
        call.model, call.route = decision.model, decision
        call.response_headers["X-Model"] = decision.model
        call.response_headers["X-Route-Reason"] = decision.reason

    def fall_back(self, call: ChatCall) -> bool:
        """The chosen model's breaker is open: switch to the other model, if allowed.

        Only for routed (or sticky) requests: a client that pinned a model gets the 503.
        Returns False (the caller re-raises) when there is no fallback.
        """
        s = self.settings
        if not s.breaker_fallback or call.route is None or call.route.reason == "pinned":
            return False
        other = s.strong_model if call.model == s.default_model else s.default_model
        call.route = replace(call.route, model=other, fallback_from=call.model)
        call.response_headers["X-Fallback-From"] = call.model
        call.response_headers["X-Model"] = other
        call.model = other
        if call.cache_key is not None:  # the scope names the model: the answer is other's
            call.cache_key = self._scope(call)
        return True

    # -- admit / settle: the client's rate limits ----------------------------------------
    async def admit(self, call: ChatCall) -> None:
        """Take one request and the prompt's tokens from the client's budget, or 429."""
        if call.limited_client is not None and self.sliding_limiter is not None:
            await self._admit_limited(call.limited_client)
        if self.limiter is None or call.client is None:
            return
        c = call.client
        decision = await self.limiter.check(c.id, c.limits, count_chat_tokens(call.messages))
        if decision is None:  # the limiter's store is down and it fails open
            return
        call.response_headers.update(decision.headers())
        if not decision.allowed:
            raise RateLimited(f"Rate limit reached for {c.tenant}: {c.limits.rpm} requests and "
                              f"{c.limits.tpm} tokens per minute. Retry after "
                              f"{decision.retry_after_s} s.", retry_after=decision.retry_after_s,
                              headers=call.response_headers)

    async def _admit_limited(self, client_key: str) -> None:
        """The lecture's /chat/limited rule: LIMITED_RPM requests in any 60 s per client."""
        decision = await self.sliding_limiter.check(client_key)
        if decision is not None and not decision.allowed:
            raise RateLimited(f"Rate limit exceeded: {decision.limit} requests a minute per "
                              f"client. Retry after {decision.retry_after_s} s.",
                              retry_after=decision.retry_after_s)

    async def settle(self, call: ChatCall, result: "ChatResult") -> None:
        """Charge the answer's tokens, known only now."""
        if self.limiter is not None and call.client is not None:
            await self.limiter.charge(call.client.id, call.client.limits,
                                      result.completion_tokens)

    # -- run --------------------------------------------------------------------------
    async def complete(self, call: ChatCall) -> ChatResult:
        """Answer a chat in one piece, within the request's deadline."""
        start = self.clock.monotonic()
        deadline = Deadline(self.clock, self.settings.request_timeout_s)
        await self.redact(call)
        await self.route(call)
        await self.admit(call)
        await self.moderate_input(call, deadline)
        cached = await self.cache_lookup(call)
        if cached is not None:
            cached.latency_ms = (self.clock.monotonic() - start) * 1000
            return self._finish(call, cached)
        upstream_start = time.perf_counter()
        try:
            c = await self.upstream.complete(call.messages, call.model, call.params, deadline)
        except CircuitOpen:
            if not self.fall_back(call):
                raise
            c = await self.upstream.complete(call.messages, call.model, call.params, deadline)
        finally:
            call.timings["upstream_s"] = time.perf_counter() - upstream_start
        result = ChatResult(
            text=c.text, model=c.model, finish_reason=c.finish_reason,
            prompt_tokens=c.prompt_tokens if c.prompt_tokens is not None
            else count_chat_tokens(call.messages),
            completion_tokens=c.completion_tokens if c.completion_tokens is not None
            else count_tokens(c.text),
            latency_ms=(self.clock.monotonic() - start) * 1000,
            cache=call.response_headers.get("X-Cache", "BYPASS"))
        if await self.moderate_output(call, result.text, deadline):
            result.text, result.finish_reason = REFUSAL, "content_filter"  # and not cached
        await self.cache_store(call, result)
        await self.settle(call, result)
        return self._finish(call, result)

    async def stream(self, call: ChatCall) -> AsyncIterator[StreamEvent]:
        """Answer a chat as TokenEvents, then one DoneEvent with usage and timings.

        The deadline (with its retries) bounds the wait for the first token; after that
        the stream runs as long as the upstream keeps sending (its read timeout bounds
        each gap), and a failure is no longer retried.
        """
        start = self.clock.monotonic()
        deadline = Deadline(self.clock, self.settings.request_timeout_s)
        await self.redact(call)
        await self.route(call)
        await self.admit(call)
        await self.moderate_input(call, deadline)
        cached = await self.cache_lookup(call)
        if cached is not None:  # replayed as a stream, token by token
            restorer = StreamRestorer(call.placeholders)
            for piece in split_tokens(cached.text):
                if out := restorer.feed(piece):
                    yield TokenEvent(out)
            if out := restorer.flush():
                yield TokenEvent(out)
            cached.latency_ms = cached.ttft_ms = (self.clock.monotonic() - start) * 1000
            yield DoneEvent(self._finish(call, cached))
            return
        # Upstream time of a stream: until its first delta (all the client waits for before
        # the first byte), then each wait for the next delta.
        upstream_start = time.perf_counter()
        try:
            delta, deltas = await self.upstream.open_stream(call.messages, call.model,
                                                            call.params, deadline)
        except CircuitOpen:
            if not self.fall_back(call):
                raise
            delta, deltas = await self.upstream.open_stream(call.messages, call.model,
                                                            call.params, deadline)
        finally:
            call.timings["upstream_s"] = time.perf_counter() - upstream_start
        ttft_ms = None
        release = self._release(call)
        try:
            while delta.text:
                if out := await release.feed(delta.text):
                    ttft_ms = ttft_ms or (self.clock.monotonic() - start) * 1000
                    yield TokenEvent(out)
                if release.refused:
                    break
                waited = time.perf_counter()
                delta = await anext(deltas)
                call.timings["upstream_s"] += time.perf_counter() - waited
            # The final delta (finish reason and usage), or the refusal.
            if out := await release.finish(REFUSAL):
                ttft_ms = ttft_ms or (self.clock.monotonic() - start) * 1000
                yield TokenEvent(out)
            now = self.clock.monotonic()
            generated, refused = release.generated, release.refused
            result = ChatResult(
                text=REFUSAL if refused else generated, model=call.model,
                finish_reason="content_filter" if refused else delta.finish_reason,
                prompt_tokens=delta.prompt_tokens if delta.prompt_tokens is not None
                else count_chat_tokens(call.messages),
                completion_tokens=delta.completion_tokens
                if delta.completion_tokens is not None and not refused
                else count_tokens(generated),
                latency_ms=(now - start) * 1000,
                ttft_ms=ttft_ms if ttft_ms is not None else (now - start) * 1000,
                cache=call.response_headers.get("X-Cache", "BYPASS"))
            await self.cache_store(call, result)  # only a completed stream is kept
            await self.settle(call, result)
            yield DoneEvent(self._finish(call, result))
        finally:
            await deltas.aclose()

    def _release(self, call: ChatCall) -> StreamRelease:
        """How this call's streamed answer goes out (docs/SAFETY.md): moderated in windows
        when guarded, each check with a deadline of its own."""
        if not (call.guarded and self.guard.moderate_output):
            return StreamRelease(call.placeholders, None, 0)

        async def moderate(text: str) -> list[str]:
            deadline = Deadline(self.clock, self.settings.request_timeout_s)
            return await self.moderate_output(call, text, deadline)

        return StreamRelease(call.placeholders, moderate, self.guard.stream_window_chars,
                             self.settings.safety_stream_mode)
