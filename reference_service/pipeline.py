"""The request path, top to bottom in one place.

    redact (guarded calls: PII -> <PERSON_1>...; from here on nothing sees the originals;
            a text analyzed before is answered from the guard's memo)
    -> route (cheap or strong model, sticky per conversation)
    -> admit (rate limits)
    -> moderate the input (guarded calls; flagged: 400, the upstream is never called;
                           a verdict on the same text within the hour is remembered)
    -> cache lookup (exact, then semantic + verifier)  -- a hit answers here
    -> call the upstream (retries, deadline, breaker, fallback to the other model)
    -> moderate the answer (guarded; a stream in windows) -> cache store (complete answers
       only, in their redacted form) -> settle (charge output tokens; class mode: the
       budgets and usage, a cache hit included, at no cost)
    -> restore (the placeholders become the request's own values again)

`complete` and `stream` are the path; each step is a call into its own module. The call
(`call.ChatCall`) records what each step found, for the edge to put in headers and logs.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import TypeVar

from .cache import Lookup, SemanticCache, scope_of
from .cache.disabled import NoCache
from .call import ChatCall, ChatResult, DoneEvent, StreamEvent, TokenEvent, ToolCallEvent
from .clock import Clock
from .config import Settings
from .errors import CircuitOpen, RateLimited
from .ledger import Ledger, NoLedger
from .llm.client import Delta
from .llm.deadline import Deadline
from .llm.resilient import ResilientUpstream
from .messages import answer_params, shape_key
from .ratelimit import NoLimits, RateLimiter, SlidingWindowLimiter
from .routing import RouteDecision, Router
from .routing.sticky import StickyRoutes
from .safety.guard import REFUSAL, SafetyGuard
from .safety.pii import StreamRestorer
from .safety.release import StreamRelease
from .tokens import count_chat_tokens, count_tokens, message_text, split_tokens

T = TypeVar("T")


class ChatPipeline:
    """Everything between a prepared call and the upstream LLM."""

    def __init__(
        self,
        settings: Settings,
        upstream: ResilientUpstream,
        clock: Clock,
        *,
        limiter: RateLimiter | NoLimits,
        sliding_limiter: SlidingWindowLimiter,
        router: Router,
        sticky: StickyRoutes,
        cache: SemanticCache | NoCache,
        guard: SafetyGuard,
        ledger: Ledger | NoLedger | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.clock = clock
        self.limiter = limiter
        self.sliding_limiter = sliding_limiter  # the lecture's /chat/limited rule
        self.router = router
        self.sticky = sticky
        self.cache = cache
        self.guard = guard
        self.ledger = ledger or NoLedger()  # class mode: budgets and usage per key

    # -- the path ---------------------------------------------------------------------
    async def complete(self, call: ChatCall) -> ChatResult:
        """Answer a chat in one piece, within the request's deadline."""
        async with self.ledger.accounting(call):  # a failed call's budget hold is given back
            return await self._complete(call)

    async def stream(self, call: ChatCall) -> AsyncGenerator[StreamEvent, None]:
        """Answer a chat as TokenEvents, then one DoneEvent with usage and timings."""
        async with self.ledger.accounting(call), aclosing(self._stream(call)) as events:
            async for event in events:
                yield event

    async def _complete(self, call: ChatCall) -> ChatResult:
        deadline = self._deadline()
        cached = await self._before_upstream(call, deadline)
        if cached is not None:
            await self._store_and_settle(call, cached)  # a hit: nothing to charge but usage
            return self._finish(call, cached)
        c = await self._with_fallback(
            call,
            lambda: self.upstream.complete(
                call.messages, self._model(call), call.params, deadline, call.passthrough
            ),
        )
        result = self._result(call, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens)
        result.tool_calls = c.tool_calls
        if await self._flagged_output(call, result.text, deadline):
            result.text, result.finish_reason = REFUSAL, "content_filter"  # and not cached
        await self._store_and_settle(call, result)
        return self._finish(call, result)

    async def _stream(self, call: ChatCall) -> AsyncGenerator[StreamEvent, None]:
        """The deadline (with its retries) bounds the wait for the first token; after that
        the stream runs as long as the upstream keeps sending (its read timeout bounds
        each gap), and a failure is no longer retried.
        """
        deadline = self._deadline()
        cached = await self._before_upstream(call, deadline)
        if cached is not None:  # replayed as a stream, token by token
            await self._store_and_settle(call, cached)  # a hit: nothing to charge but usage
            async for event in self._replay(call, cached):
                yield event
            return
        delta, deltas = await self._with_fallback(
            call,
            lambda: self.upstream.open_stream(
                call.messages, self._model(call), call.params, deadline, call.passthrough
            ),
        )
        release, ttft_ms = self._release(call), None
        try:
            while delta.finish_reason is None:  # the final delta carries it, and the usage
                if delta.tool_calls:
                    ttft_ms = ttft_ms or self._elapsed_ms(call)
                    yield ToolCallEvent(delta.tool_calls)
                elif out := await release.feed(delta.text):
                    ttft_ms = ttft_ms or self._elapsed_ms(call)
                    yield TokenEvent(out)
                if release.refused:
                    break
                delta = await self._next_delta(call, deltas)
            if out := await release.finish(REFUSAL):  # the rest, or the refusal
                ttft_ms = ttft_ms or self._elapsed_ms(call)
                yield TokenEvent(out)
            yield DoneEvent(await self._stream_result(call, release, delta, ttft_ms))
        finally:
            await deltas.aclose()  # a client that went away cancels the upstream call here
            if call.result is None:  # ended early: still charge what was generated
                generated = count_tokens(release.generated)
                await self.limiter.charge(call.client.id, call.client.limits, generated)
                await self.ledger.settle(
                    call, call.model, count_chat_tokens(call.messages), generated
                )

    # -- the steps before the upstream -------------------------------------------------
    def _deadline(self) -> Deadline:
        return Deadline(self.clock, self.settings.request_timeout_s)

    async def _before_upstream(self, call: ChatCall, deadline: Deadline) -> ChatResult | None:
        """Redact, route, admit, moderate the input, look up the cache: a cached answer,
        or None (the call goes upstream)."""
        call.started = self.clock.monotonic()
        await self._redact(call)
        await self._route(call)
        await self._admit(call)
        if call.guarded:
            await self.guard.check_input(call.messages, deadline, call.safety, call.tenant)
        return await self._cache_lookup(call)

    async def _redact(self, call: ChatCall) -> None:
        """Replace personal data by placeholders; nothing after this sees the originals."""
        if not call.guarded:
            return
        # The /v1 fields sent upstream as given (user, stop, metadata, response_format, any
        # extra key) carry text too: they take the same pass, as the extra key of one more
        # message, so one value gets one placeholder wherever it was written.
        carrier = [{"role": "user", "passthrough": call.passthrough}] if call.passthrough else []
        redacted, call.placeholders = await self.guard.redact(
            call.messages + carrier, call.safety, call.tenant
        )
        if carrier:
            call.passthrough = redacted.pop()["passthrough"]
        call.messages = redacted

    async def _route(self, call: ChatCall) -> None:
        """Pinned, or the conversation's earlier choice, or the router's for this query."""
        call.route = await self._decide(call)
        call.model = call.route.model

    async def _decide(self, call: ChatCall) -> RouteDecision:
        if call.model is not None:
            return RouteDecision(call.model, "pinned")
        if len(self.settings.models) == 1:  # a single-model upstream: nothing to choose
            return RouteDecision(self.settings.default_model, "routed", "single_model")
        users = [message_text(m) for m in call.messages if m.get("role") == "user"]
        key = self._sticky_key(call)
        remembered = await self.sticky.get(key) if len(users) > 1 else None
        if remembered in self.settings.models:
            return RouteDecision(remembered, "sticky")
        score = self.router.score(users[-1] if users else "")
        strong = score >= self.settings.route_threshold
        model = self.settings.strong_model if strong else self.settings.default_model
        await self.sticky.set(key, model)
        return RouteDecision(model, "routed", self.router.name, round(score, 3))

    @staticmethod
    def _sticky_key(call: ChatCall) -> str:
        """A conversation's key: its tenant and its first user message."""
        first = next((m for m in call.messages if m.get("role") == "user"), None)
        return StickyRoutes.key(call.tenant, message_text(first) if first else "")

    async def _answered_by(self, call: ChatCall, model: str) -> None:
        """A routed call served the other model's answer from the cache (they share a
        scope): X-Model and a stream's chunks name the model that wrote it, as `model_used`
        does, and a conversation this turn starts stays on that model, as after a miss. A
        pinned call's scope holds its own model's answers only: nothing to do there."""
        if call.route is None or call.route.reason == "pinned":
            return
        call.route = replace(call.route, model=model)
        call.model = model
        if call.route.reason == "routed":
            await self.sticky.set(self._sticky_key(call), model, first=False)

    async def _admit(self, call: ChatCall) -> None:
        """Take one request and the prompt's tokens from the client's budget, or 429."""
        if call.limited_client is not None:
            await self._admit_limited(call.limited_client)
        c = call.client
        if not self.limiter.enabled and not c.budgets:
            return  # nothing to count against (and counting a prompt's tokens costs CPU)
        prompt_tokens = count_chat_tokens(call.messages)
        if call.passthrough:  # tools and response_format schemas are billed as prompt too
            prompt_tokens += count_tokens(json.dumps(call.passthrough))
        decision = (
            await self.limiter.check(c.id, c.limits, prompt_tokens)
            if self.limiter.enabled
            else None
        )
        # None: no limits, or the limiter's store is down and it fails open
        if decision is not None:
            call.rate_limit = decision
            if not decision.allowed:
                raise RateLimited(
                    f"Rate limit reached for {c.tenant}: {c.limits.rpm} requests "
                    f"and {c.limits.tpm} tokens per minute. Retry after "
                    f"{decision.retry_after_s} s.",
                    retry_after=decision.retry_after_s,
                )
        await self.ledger.admit(call, prompt_tokens)  # class mode: the budgets (429 when spent)

    async def _admit_limited(self, client_key: str) -> None:
        """The lecture's /chat/limited rule: LIMITED_RPM requests in any 60 s per client."""
        decision = await self.sliding_limiter.check(client_key)
        if decision is not None and not decision.allowed:
            raise RateLimited(
                f"Rate limit exceeded: {decision.limit} requests a minute per "
                f"client. Retry after {decision.retry_after_s} s.",
                retry_after=decision.retry_after_s,
            )

    # -- cache: look up before the upstream, store complete answers after ---------------
    def _scope(self, call: ChatCall) -> tuple[str, str] | None:
        """(scope, question): the question is the last user message; everything else that
        shapes the answer (tenant, model, system prompt, parameters, earlier turns) is scope.
        None when there is no user message (nothing to key the answer on)."""
        users = [i for i, m in enumerate(call.messages) if m.get("role") == "user"]
        if not users:
            return None
        last_user = users[-1]
        # Every parameter that can change the answer is scope (the /v1 pass-through too:
        # a JSON-mode or tool request never shares with a plain one). Guarded answers passed
        # output moderation: never mixed with unguarded ones.
        params = {**call.params, **answer_params(call.passthrough)}
        if call.guarded:
            params["guarded"] = True
        # The question is the last user message's text; all else of that message (a name,
        # an image, extra keys) is scope too: two requests that differ there never share.
        scope = scope_of(
            tenant=call.tenant,
            model=self._scope_model(call),
            params=params,
            context=call.messages[:last_user],
            after=call.messages[last_user + 1 :],
            question_shape=shape_key(call.messages[last_user]),
        )
        return scope, message_text(call.messages[last_user])

    def _scope_model(self, call: ChatCall) -> str:
        """The model a cache scope names. A pinned call: its model. A call the service
        routed (or kept on a conversation's first choice): the route, both models, not the
        one chosen. The router reads the wording, so two wordings of one question can land
        on different models (a sixth to a quarter of the lab's paraphrase pairs; CACHE.md,
        "Routing and the scope"); scoped by the chosen model, the second would never find
        the first's answer. A hit names the model that wrote it (`model_used`, X-Model)."""
        route, s = call.route, self.settings
        # routing off or one model: every call the service routes goes to DEFAULT_MODEL
        if route is None or route.reason == "pinned" or not s.routing_enabled or len(s.models) == 1:
            return call.model or ""
        return "routed:" + "|".join(s.models)

    async def _cache_lookup(self, call: ChatCall) -> ChatResult | None:
        """A cached answer for this call, or None."""
        call.cache_status = "BYPASS"
        if call.cache_mode == "bypass":
            return None
        call.cache_key = self._scope(call)
        if call.cache_mode == "refresh":  # store the fresh answer, do not serve a stored one
            call.cache = Lookup("MISS")
            return None
        if call.cache_key is None:
            return None
        call.cache = lookup = await self.cache.lookup(*call.cache_key)
        call.cache_status = lookup.status  # BYPASS when the store is unreachable
        if lookup.status != "HIT":
            return None
        e = lookup.entry
        assert e is not None, "a hit carries the entry it found"
        if not call.placeholders.knows_all(e.answer):
            # The stored answer names a placeholder this request has no value for.
            call.cache = Lookup("MISS", vector=lookup.vector)
            call.cache_status = "MISS"
            return None
        if e.model != call.model and e.model in self.settings.models:  # routed calls only
            await self._answered_by(call, e.model)
        return ChatResult(
            text=e.answer,
            model=e.model,
            finish_reason=e.finish_reason,
            prompt_tokens=e.prompt_tokens,
            completion_tokens=e.completion_tokens,
            latency_ms=self._elapsed_ms(call),
            cache="HIT",
        )

    async def _store_and_settle(self, call: ChatCall, result: ChatResult) -> None:
        """Keep a complete answer (not a truncated one) for later requests; charge its
        completion tokens to the client's rate limit, and (class mode) its cost to the
        client's budgets. A cache hit is settled here too: it costs nothing and counts as
        saved."""
        if (
            call.cache_key is not None
            and call.cache is not None
            and call.cache.status == "MISS"
            and result.finish_reason == "stop"
        ):
            scope, question = call.cache_key
            await self.cache.store(
                scope,
                question,
                result.text,
                model=result.model,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                vector=call.cache.vector,
            )
        hit = result.cache == "HIT"
        if not hit:
            await self.limiter.charge(call.client.id, call.client.limits, result.completion_tokens)
        await self.ledger.settle(
            call, result.model, result.prompt_tokens, result.completion_tokens, hit=hit
        )

    # -- the upstream --------------------------------------------------------------------
    @staticmethod
    def _model(call: ChatCall) -> str:
        assert call.model is not None, "routed before the upstream is called"
        return call.model

    async def _with_fallback(self, call: ChatCall, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()`, and once more on the other model if the chosen one's breaker is open
        (routed or sticky calls only: a client that pinned a model gets the 503)."""
        started = time.perf_counter()
        try:
            try:
                return await attempt()
            except CircuitOpen:
                if not self._fall_back(call):
                    raise
                return await attempt()
        finally:
            call.waited_upstream(time.perf_counter() - started)

    def _fall_back(self, call: ChatCall) -> bool:
        s = self.settings
        route = call.route
        if not s.breaker_fallback or route is None or route.reason == "pinned":
            return False
        other = s.strong_model if route.model == s.default_model else s.default_model
        call.route = replace(route, model=other, fallback_from=route.model)
        call.model = other
        if call.cache_key is not None:  # a scope that names the model: the answer is other's
            call.cache_key = self._scope(call)
        return True

    async def _next_delta(self, call: ChatCall, deltas: AsyncIterator[Delta]) -> Delta:
        waited = time.perf_counter()
        try:
            return await anext(deltas)
        finally:
            call.waited_upstream(time.perf_counter() - waited)

    # -- the answer ----------------------------------------------------------------------
    def _elapsed_ms(self, call: ChatCall) -> float:
        return (self.clock.monotonic() - call.started) * 1000

    def _result(
        self,
        call: ChatCall,
        text: str,
        finish_reason: str | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        ttft_ms: float | None = None,
    ) -> ChatResult:
        """An upstream answer; token counts the upstream did not report are counted here."""
        return ChatResult(
            text=text,
            model=self._model(call),
            finish_reason=finish_reason,
            prompt_tokens=count_chat_tokens(call.messages)
            if prompt_tokens is None
            else prompt_tokens,
            completion_tokens=count_tokens(text)
            if completion_tokens is None
            else completion_tokens,
            latency_ms=self._elapsed_ms(call),
            ttft_ms=ttft_ms,
            cache=call.cache_status or "BYPASS",
        )

    async def _stream_result(
        self, call: ChatCall, release: StreamRelease, last: Delta, ttft_ms: float | None
    ) -> ChatResult:
        """A finished stream's answer (the final delta carries finish reason and usage),
        stored, charged and restored."""
        generated = release.generated
        if release.refused:  # the refusal is the answer; its tokens are what was generated
            result = self._result(
                call, REFUSAL, "content_filter", last.prompt_tokens, count_tokens(generated)
            )
        else:
            result = self._result(
                call, generated, last.finish_reason, last.prompt_tokens, last.completion_tokens
            )
        result.ttft_ms = ttft_ms if ttft_ms is not None else result.latency_ms
        await self._store_and_settle(call, result)  # only a completed stream is kept
        return self._finish(call, result)

    async def _replay(
        self, call: ChatCall, cached: ChatResult
    ) -> AsyncGenerator[StreamEvent, None]:
        """A cached answer as a stream, token by token, its placeholders restored."""
        restorer = StreamRestorer(call.placeholders)
        for piece in split_tokens(cached.text):
            if out := restorer.feed(piece):
                yield TokenEvent(out)
        if out := restorer.flush():
            yield TokenEvent(out)
        cached.latency_ms = cached.ttft_ms = self._elapsed_ms(call)
        yield DoneEvent(self._finish(call, cached))

    def _finish(self, call: ChatCall, result: ChatResult) -> ChatResult:
        """The answer as the client gets it: its own values back in place of placeholders."""
        result.text = call.placeholders.restore(result.text)
        call.result = result
        return result

    # -- safety on the answer ------------------------------------------------------------
    async def _flagged_output(self, call: ChatCall, text: str, deadline: Deadline) -> list[str]:
        """The answer's flagged categories (empty: fine to send, or not guarded)."""
        if not call.guarded:
            return []
        return await self.guard.check_output(text, deadline, call.safety)

    def _release(self, call: ChatCall) -> StreamRelease:
        """How this call's streamed answer goes out (docs/SAFETY.md): moderated in windows
        when guarded, each check with a deadline of its own."""
        if not (call.guarded and self.guard.moderate_output):
            return StreamRelease(call.placeholders, None, 0)

        async def moderate(text: str) -> list[str]:
            return await self._flagged_output(call, text, self._deadline())

        return StreamRelease(
            call.placeholders,
            moderate,
            self.guard.stream_window_chars,
            self.settings.safety_stream_mode,
        )
