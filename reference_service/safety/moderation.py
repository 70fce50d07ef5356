"""Where moderation comes from: the upstream's /v1/moderations, the local classifier, or
nowhere. Chosen at start-up (MODERATION_MODE), because most OpenAI-compatible servers
(vLLM, Ollama, llama.cpp's) have no /v1/moderations, and a guard that calls a missing
endpoint refuses every guarded request.

- upstream: OpenAI's moderation API (or any server that has it), at MODERATION_BASE_URL
  (default: the chat upstream), through the same retries, deadline and breaker as chat.
- local: the lab's phrase classifier (safety/local_moderation.py), in-process.
- off: nothing is moderated (the guards still mask personal data).
- auto (default): probe the moderation endpoint once at start-up: there, upstream; missing
  (404/405/501), local, said in one log line; unreachable, upstream (its requests then fail
  closed, and /health/detailed says moderation is down).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import ModerationUnsupported as ModerationUnsupported  # re-exported: its old home
from ..llm.client import UpstreamClient
from ..llm.deadline import Deadline
from ..llm.resilient import ResilientUpstream
from .local_moderation import flagged_categories

log = logging.getLogger(__name__)

Mode = Literal["upstream", "local", "off"]
Probe = Literal["ok", "missing", "unreachable"]


class Moderator(Protocol):
    mode: Mode

    async def moderate(self, texts: list[str], deadline: Deadline) -> list[list[str]]:
        """The flagged categories of each text (an empty list: not flagged)."""
        ...

    async def check(self, timeout_s: float) -> bool:
        """Can it moderate right now? (For /health/detailed: a live probe upstream.)"""
        ...


@dataclass
class UpstreamModerator:
    client: UpstreamClient
    upstream: ResilientUpstream  # the same client behind retries, deadline and breaker
    model: str
    mode: Mode = "upstream"

    async def moderate(self, texts: list[str], deadline: Deadline) -> list[list[str]]:
        return await self.upstream.moderate(texts, self.model, deadline)

    async def check(self, timeout_s: float) -> bool:
        return await self.client.probe_moderations(self.model, timeout_s) == "ok"


class LocalModerator:
    mode: Mode = "local"

    async def moderate(self, texts: list[str], deadline: Deadline) -> list[list[str]]:
        return [flagged_categories(t) for t in texts]

    async def check(self, timeout_s: float) -> bool:
        return True


class NoModerator:
    mode: Mode = "off"

    async def moderate(self, texts: list[str], deadline: Deadline) -> list[list[str]]:
        return [[] for _ in texts]

    async def check(self, timeout_s: float) -> bool:
        return True


async def choose(
    mode: str, client: UpstreamClient, upstream: ResilientUpstream, model: str, timeout_s: float
) -> Moderator:
    """The moderator MODERATION_MODE asks for, after probing the endpoint when it matters;
    one log line says which and why."""
    if mode == "off":
        log.warning(
            "moderation: off (MODERATION_MODE=off); /chat/safe and guarded paths "
            "mask personal data but moderate nothing"
        )
        return NoModerator()
    if mode == "local":
        log.info("moderation: the local phrase classifier (MODERATION_MODE=local)")
        return LocalModerator()
    probe = await client.probe_moderations(model, timeout_s)
    where = client.base_url
    if probe == "missing" and mode == "upstream":
        raise ModerationUnsupported(
            f"MODERATION_MODE=upstream, but {where} has no /v1/moderations. Set "
            "MODERATION_BASE_URL (and MODERATION_API_KEY) to a server that has one, e.g. "
            "https://api.openai.com/v1, or MODERATION_MODE=local or off."
        )
    if probe == "missing":
        log.warning(
            "moderation: %s has no /v1/moderations; using the local phrase classifier "
            "(set MODERATION_BASE_URL to a moderation API, or MODERATION_MODE=off)",
            where,
        )
        return LocalModerator()
    if probe == "unreachable":
        log.warning(
            "moderation: %s did not answer the start-up probe; guarded requests "
            "fail closed until it does (MODERATION_FAIL_OPEN lets them through)",
            where,
        )
    else:
        log.info("moderation: %s (model %s)", where, model)
    return UpstreamModerator(client, upstream, model)
