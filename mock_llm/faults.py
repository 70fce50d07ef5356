"""Fault injection: what goes wrong, for which request, and a log of what was received.

A fault is chosen per request from the `X-Mock-Fault` header, else from the schedule:
rules checked in order, each either "the next N matching requests" or "a fraction p of
matching requests, drawn from a seeded RNG" (the same seed gives the same sequence).
State is shared between the server thread and the caller's thread, hence the lock.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

# Kinds besides an HTTP status code ("400".."599").
SPECIAL_KINDS = ("hang", "drop", "malformed", "overloaded", "truncate")
ENDPOINTS = ("chat", "moderations", "any")


def valid_kind(kind: str) -> bool:
    return kind in SPECIAL_KINDS or (kind.isdigit() and 400 <= int(kind) <= 599)


@dataclass
class Fault:
    """One injected failure.

    kind: an HTTP status ("429", "500", "503", ...) answered with the profile's error body;
      "overloaded": what the profile's server answers when it sheds load (a 503);
      "hang": hold the request open for `hang_s` (until the client gives up);
      "drop": close the connection mid-response (after `after_chunks` stream chunks);
      "truncate": end a stream cleanly after `after_chunks` chunks, with no finish reason
        and no `[DONE]` (an upstream that stops early but looks tidy on the wire);
      "malformed": send a body / stream chunk that is not valid JSON.
    """

    kind: str
    retry_after: float | None = None  # seconds, sent as Retry-After with 429/503
    after_chunks: int = 2  # for drop/malformed on a stream: chunks sent before it
    hang_s: float | None = None

    def __post_init__(self) -> None:
        if not valid_kind(self.kind):
            raise ValueError(
                f"unknown fault kind {self.kind!r}: use an HTTP status 400-599 "
                f"or one of {', '.join(SPECIAL_KINDS)}"
            )
        if self.after_chunks < 0:
            raise ValueError("after_chunks must be >= 0")


@dataclass
class Rule:
    fault: Fault
    count: int | None = None  # fail the next `count` matching requests
    rate: float | None = None  # or fail this fraction of them
    seed: int | None = None
    endpoint: str = "chat"
    model: str | None = None
    fired: int = 0
    _rng: random.Random | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.count is None) == (self.rate is None):
            raise ValueError("give exactly one of count or rate")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be >= 1")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {', '.join(ENDPOINTS)}")
        self._rng = random.Random(self.seed)

    def matches(self, endpoint: str, model: str | None) -> bool:
        return (self.endpoint in ("any", endpoint)) and (self.model is None or self.model == model)

    def fire(self) -> bool:
        if self.count is not None:
            if self.fired >= self.count:
                return False
            self.fired += 1
            return True
        assert self._rng is not None and self.rate is not None
        if self._rng.random() < self.rate:
            self.fired += 1
            return True
        return False

    def exhausted(self) -> bool:
        return self.count is not None and self.fired >= self.count

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "fault": asdict(self.fault),
            "endpoint": self.endpoint,
            "model": self.model,
            "fired": self.fired,
        }
        d.update(
            {"count": self.count}
            if self.count is not None
            else {"rate": self.rate, "seed": self.seed}
        )
        return d


@dataclass
class RecordedRequest:
    """What the fake server received, for tests to assert on."""

    id: int
    time: float
    method: str
    path: str
    headers: dict[str, str]
    body: object
    status: int | None = None
    fault: str | None = None
    outcome: str = "pending"  # completed | fault | client_disconnected | error


class MockState:
    """Schedule, scripted answers and request log of one fake server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._answers: list[str] = []
        self._tool_calls: list[tuple[str, str]] = []
        self._log: list[RecordedRequest] = []

    # -- schedule -------------------------------------------------------------------
    def fail_next(
        self,
        n: int,
        kind: str,
        *,
        retry_after: float | None = None,
        after_chunks: int = 2,
        endpoint: str = "chat",
        model: str | None = None,
        hang_s: float | None = None,
    ) -> Rule:
        """Make the next `n` matching requests fail with `kind`."""
        return self.add_rule(
            Rule(
                Fault(kind, retry_after, after_chunks, hang_s),
                count=n,
                endpoint=endpoint,
                model=model,
            )
        )

    def fail_randomly(
        self,
        rate: float,
        kind: str,
        *,
        seed: int = 0,
        retry_after: float | None = None,
        after_chunks: int = 2,
        endpoint: str = "chat",
        model: str | None = None,
        hang_s: float | None = None,
    ) -> Rule:
        """Make a fraction `rate` of matching requests fail, reproducibly for a given seed."""
        return self.add_rule(
            Rule(
                Fault(kind, retry_after, after_chunks, hang_s),
                rate=rate,
                seed=seed,
                endpoint=endpoint,
                model=model,
            )
        )

    def add_rule(self, rule: Rule) -> Rule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [r.describe() for r in self._rules]

    def next_fault(self, endpoint: str, model: str | None) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.matches(endpoint, model) and rule.fire():
                    fault = rule.fault
                    break
            else:
                fault = None
            self._rules = [r for r in self._rules if not r.exhausted()]
            return fault

    # -- scripted answers -----------------------------------------------------------
    def script_answer(self, text: str, count: int = 1) -> None:
        """The next `count` chat completions answer `text` instead of the knowledge base."""
        with self._lock:
            self._answers.extend([text] * count)

    def script_tool_call(self, name: str, arguments: str) -> None:
        """The next chat completion calls tool `name` with `arguments` (a JSON string)
        instead of answering in text (the openai profile writes it)."""
        with self._lock:
            self._tool_calls.append((name, arguments))

    def next_scripted_tool_call(self) -> tuple[str, str] | None:
        with self._lock:
            return self._tool_calls.pop(0) if self._tool_calls else None

    def next_scripted_answer(self) -> str | None:
        with self._lock:
            return self._answers.pop(0) if self._answers else None

    # -- request log ----------------------------------------------------------------
    def record(
        self, method: str, path: str, headers: dict[str, str], body: object
    ) -> RecordedRequest:
        with self._lock:
            rec = RecordedRequest(len(self._log) + 1, time.time(), method, path, headers, body)
            self._log.append(rec)
            return rec

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def reset(self) -> None:
        """Forget faults, scripted answers and the request log."""
        with self._lock:
            self._rules.clear()
            self._answers.clear()
            self._tool_calls.clear()
            self._log.clear()
