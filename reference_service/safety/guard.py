"""The safety guard of a chat call: PII masked, then input moderated; the answer moderated.

Order matters: PII is masked *first*, so the moderation call (an upstream call, to OpenAI
in production) sees placeholders, never personal data. Every refusal names what was found
(entity types, moderation categories), never the text or a score.

Failure policy:
- the PII analyzer fails -> refused (503); nobody can say what would have been sent.
- moderation unreachable -> refused (503) by default; MODERATION_FAIL_OPEN=true lets the
  request through and logs a warning once per outage.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..errors import ContentFlagged, PiiBlocked, SafetyUnavailable, ServiceError
from ..llm.deadline import Deadline
from ..memo import TextMemo
from ..messages import Message, all_text
from ..outage import OutageLog
from .moderation import Moderator
from .pii import NotRemembered, PiiRedactor, Placeholders

log = logging.getLogger(__name__)

# The lecture's /chat/safe answers a flagged answer with this sentence.
REFUSAL = "I'm unable to provide that response."


@dataclass
class SafetyReport:
    """What the guards did to one request (for its log line: types and counts only)."""

    pii: Counter[str] = field(default_factory=Counter)
    input_flagged: list[str] = field(default_factory=list)
    output_flagged: list[str] = field(default_factory=list)
    moderation_skipped: bool = False

    def log_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.pii:
            fields["pii"] = dict(self.pii)
        if self.input_flagged:
            fields["input_flagged"] = self.input_flagged
        if self.output_flagged:
            fields["output_flagged"] = self.output_flagged
        if self.moderation_skipped:
            fields["moderation"] = "skipped (unavailable, fail-open)"
        return fields


class SafetyGuard:
    def __init__(
        self,
        redactor: PiiRedactor | None,
        moderator: Moderator,
        *,
        moderate_input: bool = True,
        moderate_output: bool = True,
        fail_open: bool = False,
        stream_window_chars: int = 120,
        trusted_texts: frozenset[str] = frozenset(),
        verdicts: TextMemo[tuple[str, ...]] | None = None,
    ) -> None:
        self.redactor = redactor
        self.moderator = moderator
        off = moderator.mode == "off"
        self.moderate_input = moderate_input and not off
        self.moderate_output = moderate_output and not off
        self.fail_open = fail_open
        self.stream_window_chars = stream_window_chars
        self.trusted_texts = trusted_texts  # the configured system prompt: not user data
        # moderation's verdicts on texts it has read, by digest, for MODERATION_MEMO_TTL_S
        self.verdicts: TextMemo[tuple[str, ...]] = verdicts if verdicts is not None else TextMemo(0)
        self._outage = OutageLog(
            "safety", "requests pass unmoderated (fail-open)", dependency="moderation"
        )

    def forget(self) -> None:
        """Drop what the memos remember (each test starts from nothing)."""
        self.verdicts.clear()
        if self.redactor is not None:
            self.redactor.memo.clear()

    async def redact(
        self, messages: list[dict[str, Any]], report: SafetyReport, tenant: str = ""
    ) -> tuple[list[dict[str, Any]], Placeholders]:
        """Messages with PII replaced by placeholders, and the request's placeholder map.
        A text this tenant sent before is answered from the memo."""
        if self.redactor is None:
            return messages, Placeholders()
        redactor, trusted = self.redactor, self.trusted_texts
        try:
            try:  # every text seen before: no analyzer pass, so no worker thread either
                redacted, placeholders, counts = redactor.redact(
                    messages, trusted, remembered_only=True, scope=tenant
                )
            except NotRemembered:
                redacted, placeholders, counts = await asyncio.to_thread(
                    lambda: redactor.redact(messages, trusted, scope=tenant)
                )
        except PiiBlocked:
            raise
        except Exception:
            log.exception("PII analyzer failed; request refused")
            raise SafetyUnavailable(
                "The personal-data check failed, so the request was not sent. Retry later.",
                retry_after=1,
            ) from None
        report.pii.update(counts)
        return redacted, placeholders

    async def check_input(
        self, messages: list[Message], deadline: Deadline, report: SafetyReport, tenant: str = ""
    ) -> None:
        """Moderate everything the client wrote: every message of every role (a client can
        forge history, a system prompt or a tool result), every text field of it; only the
        service's own system prompt is trusted. A verdict on a text this tenant sent before
        (within MODERATION_MEMO_TTL_S) is remembered."""
        if not self.moderate_input:
            return
        texts = [all_text(m) for m in messages if not self._trusted(m)]
        texts = [t for t in texts if t.strip()]
        if not texts:
            return
        verdicts = await self._moderate(texts, deadline, report, tenant)
        flagged = sorted({c for cats in verdicts for c in cats})
        if flagged:
            report.input_flagged = flagged
            raise ContentFlagged(
                f"Input flagged by content moderation: {', '.join(flagged)}.",
                details={"categories": flagged},
            )

    def _trusted(self, message: Message) -> bool:
        content = message.get("content")
        return (
            message.get("role") == "system"
            and isinstance(content, str)
            and content in self.trusted_texts
        )

    async def check_output(self, text: str, deadline: Deadline, report: SafetyReport) -> list[str]:
        """The answer's flagged categories (empty: fine to send). Never remembered: an
        answer (or a stream's text so far) is new text, and would only push out the
        verdicts on inputs, which do repeat."""
        if not self.moderate_output or not text.strip():
            return []
        verdicts = await self._moderate([text], deadline, report, None)
        report.output_flagged = verdicts[0]
        return verdicts[0]

    async def _moderate(
        self, texts: list[str], deadline: Deadline, report: SafetyReport, tenant: str | None
    ) -> list[list[str]]:
        """Each text's flagged categories: with a tenant, a text that tenant had moderated
        before (within the memo's time) is answered from memory; the rest in one call.
        Without (an answer), every text is asked and nothing remembered."""
        if tenant is None:
            return await self._ask(texts, deadline, report, None)
        remembered = [self.verdicts.get(t, tenant) for t in texts]
        todo = [t for t, (known, _) in zip(texts, remembered, strict=True) if not known]
        fresh = iter(await self._ask(todo, deadline, report, tenant) if todo else [])
        return [list(v or ()) if known else next(fresh) for known, v in remembered]

    async def _ask(
        self, texts: list[str], deadline: Deadline, report: SafetyReport, tenant: str | None
    ) -> list[list[str]]:
        try:
            verdicts = await self.moderator.moderate(texts, deadline)
        except ServiceError:  # upstream failed, timed out, or its breaker is open
            if not self.fail_open:
                raise SafetyUnavailable(
                    "Moderation is unavailable, so the request was refused. Retry later.",
                    retry_after=1,
                ) from None
            self._outage.failed()
            report.moderation_skipped = True
            return [[] for _ in texts]  # not remembered: nobody said they were fine
        self._outage.succeeded()
        if tenant is not None:
            for text, categories in zip(texts, verdicts, strict=True):
                self.verdicts.put(text, tuple(categories), tenant)
        return verdicts
