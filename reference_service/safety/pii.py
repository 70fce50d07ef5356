"""PII: find it (Presidio), replace it with numbered placeholders before anything leaves
the service, and put the originals back into the answer (streams too).

    redact(messages) -> (messages with <PERSON_1>, <EMAIL_ADDRESS_1>, ...; Placeholders)
    placeholders.restore(answer)          # whole text
    StreamRestorer(placeholders).feed()   # piece by piece; holds back only a split token

Detection reads a normalized copy of each text (normalize.py: "４１１１" is "4111", zero-width
characters are gone); the placeholder replaces the span of the client's own text the value
came from, so the upstream sees the original text with `<CREDIT_CARD_1>` where the value
was, and the restore puts back exactly what the client wrote.

The placeholder map lives in one request (a Placeholders object per call): it is never
shared between requests or tenants, never stored, never logged.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from ..errors import PiiBlocked
from ..memo import TextMemo
from ..messages import Message, map_text
from .normalize import normalize
from .recognizers import ENTITIES, hardware_spans, keep, use_analyzer_ops

if TYPE_CHECKING:  # loaded by recognizers.build_analyzer, not at import time
    from presidio_analyzer import AnalyzerEngine

Action = Literal["mask", "block", "allow"]
PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*?)_(\d+)>")
_PARTIAL = re.compile(r"<[A-Z_]*\d*$")  # what the start of a placeholder split in two looks like
_MAX_PLACEHOLDER = 40


class NotRemembered(Exception):
    """`redact(..., remembered_only=True)` met a text the analyzer has not seen."""


@dataclass(frozen=True)
class Finding:
    entity_type: str
    start: int
    end: int
    score: float


@dataclass
class Placeholders:
    """One request's map: same value -> same token; token -> original value."""

    by_value: dict[tuple[str, str], str] = field(default_factory=dict)
    by_token: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def token_for(self, entity_type: str, value: str) -> str:
        key = (entity_type, value)
        if key not in self.by_value:
            self.counts[entity_type] += 1
            token = f"<{entity_type}_{self.counts[entity_type]}>"
            self.by_value[key] = token
            self.by_token[token] = value
        return self.by_value[key]

    def restore(self, text: str) -> str:
        if not self.by_token:
            return text
        return PLACEHOLDER.sub(lambda m: self.by_token.get(m.group(0), m.group(0)), text)

    def knows_all(self, text: str) -> bool:
        """Does every placeholder in `text` name a value of this request? (A cached answer
        that names someone this request never mentioned must not be served.)"""
        return all(m.group(0) in self.by_token for m in PLACEHOLDER.finditer(text))

    def __bool__(self) -> bool:
        return bool(self.by_token)

    def __len__(self) -> int:
        return len(self.by_token)


class StreamRestorer:
    """Restore placeholders in a stream without buffering it: a piece is passed on at once,
    except a tail that could be the start of a placeholder ("<PERS"), held until the next
    piece says what it is (at most 40 characters)."""

    def __init__(self, placeholders: Placeholders) -> None:
        self.placeholders = placeholders
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        self._held = ""
        cut = text.rfind("<")
        if cut != -1 and len(text) - cut <= _MAX_PLACEHOLDER and _PARTIAL.fullmatch(text[cut:]):
            text, self._held = text[:cut], text[cut:]
        return self.placeholders.restore(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return self.placeholders.restore(text)


class PiiRedactor:
    """Detect PII with a Presidio analyzer and apply the policy of each entity type."""

    def __init__(
        self,
        analyzer: AnalyzerEngine,
        policy: dict[str, Action] | None = None,
        score_threshold: float = 0.4,
        memo: TextMemo[tuple[Finding, ...]] | None = None,
    ) -> None:
        self.analyzer = analyzer
        # What the analyzer found in texts it has seen (offsets and types, by the text's
        # digest): the analyzer is deterministic, so a repeat needs no second pass.
        self.memo: TextMemo[tuple[Finding, ...]] = memo if memo is not None else TextMemo(0)
        self.policy: dict[str, Action] = {e: "mask" for e in ENTITIES}
        self.policy.update(policy or {})
        self.score_threshold = score_threshold
        self.entities = [e for e, a in self.policy.items() if a != "allow"]

    def find(self, text: str, *, remembered_only: bool = False, scope: str = "") -> list[Finding]:
        """The PII in one text, after the domain rules; overlaps resolved (longest wins).
        `remembered_only`: NotRemembered rather than a pass of the analyzer. `scope`: whose
        memory (the tenant's) a repeat is answered from."""
        if not text.strip() or not self.entities:
            return []
        known, findings = self.memo.get(text, scope)
        if known and findings is not None:
            return list(findings)
        if remembered_only:
            raise NotRemembered
        chosen = self._analyze(text)
        self.memo.put(text, tuple(chosen), scope)
        return chosen

    def _analyze(self, text: str) -> list[Finding]:
        # Detect on the canonical form (full-width digits, odd spaces, zero-width characters
        # folded); mask the span of the client's own text it came from.
        norm = normalize(text)
        use_analyzer_ops()  # a worker thread's pass: see recognizers.use_analyzer_ops
        results = self.analyzer.analyze(
            norm.text, language="en", entities=self.entities, score_threshold=self.score_threshold
        )
        hw = hardware_spans(norm.text)
        found = [
            Finding(r.entity_type, *norm.span_in_original(r.start, r.end), r.score)
            for r in results
            if keep(norm.text, r.entity_type, r.start, r.end, hw)
        ]
        found.sort(key=lambda f: (f.start, -(f.end - f.start), -f.score))
        chosen: list[Finding] = []
        for f in found:
            if chosen and f.start < chosen[-1].end:
                continue  # overlaps one already chosen (longer or earlier)
            chosen.append(f)
        return chosen

    def redact_text(
        self,
        text: str,
        placeholders: Placeholders,
        *,
        remembered_only: bool = False,
        scope: str = "",
    ) -> tuple[str, list[Finding]]:
        findings = self.find(text, remembered_only=remembered_only, scope=scope)
        blocked = sorted({f.entity_type for f in findings if self.policy[f.entity_type] == "block"})
        if blocked:
            raise PiiBlocked(
                "The message contains personal data that this service does not "
                f"accept: {', '.join(blocked)}. Remove it and retry.",
                details={"entities": blocked},
            )
        out, last = [], 0
        for f in findings:
            out.append(text[last : f.start])
            out.append(placeholders.token_for(f.entity_type, text[f.start : f.end]))
            last = f.end
        out.append(text[last:])
        return "".join(out), findings

    def redact(
        self,
        messages: list[Message],
        trusted: frozenset[str] = frozenset(),
        *,
        remembered_only: bool = False,
        scope: str = "",
    ) -> tuple[list[Message], Placeholders, Counter[str]]:
        """Messages with every masked value replaced, in every text field (content, parts,
        name, tool-call arguments, extra keys); the request's map; counts by type. Texts in
        `trusted` (the service's own system prompt) are not analyzed. `remembered_only`:
        raise NotRemembered rather than run the analyzer (the caller then runs it in a
        worker thread; a repeat is answered on the event loop, without the thread hop)."""
        placeholders, counts = Placeholders(), Counter[str]()

        def redact_field(text: str) -> str:
            if text in trusted:
                return text
            new_text, findings = self.redact_text(
                text, placeholders, remembered_only=remembered_only, scope=scope
            )
            counts.update(f.entity_type for f in findings)
            return new_text

        return [map_text(m, redact_field) for m in messages], placeholders, counts
