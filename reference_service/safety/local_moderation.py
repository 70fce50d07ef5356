"""A deterministic, local moderation classifier: phrase rules, no model, no network.

The service uses it when the upstream has no /v1/moderations (vLLM, Ollama and llama.cpp's
server have none): MODERATION_MODE=local, or what `auto` falls back to. It is a stand-in, not
a safety model: it catches the phrases below and the test trigger, nothing subtler (say so
to your users). The fake LLM answers /v1/moderations with it too.

Phrase rules per category (regular expressions), plus an explicit test trigger:
the text `MODERATION_TEST_FLAG:<category>` flags that category. Scores are 0.97 for a
rule hit and a small stable value (< 0.01, from a CRC of the text) otherwise, so the same
input always gives the same response. Computing idioms ("kill the process", "kill -9",
"the attack surface") are deliberately not flagged: a moderation layer in a hardware
course that refuses to discuss killing processes would be useless.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

_PEOPLE = r"(?:him|her|them|you|people|someone|somebody|everyone|my (?:boss|neighbou?r|family|wife|husband))"
RULES: dict[str, tuple[str, ...]] = {
    "harassment": (
        r"\byou(?:'re| are) (?:an? )?(?:idiot|moron|worthless|pathetic)\b",
        r"\bnobody (?:likes|wants) you\b",
    ),
    "harassment/threatening": (
        r"\bi(?:'ll| will) (?:find|hurt|get) you\b",
        r"\byou(?:'ll| will) regret (?:this|it)\b",
    ),
    "hate": (
        r"\b(?:all|those) (?:immigrants|foreigners) (?:are|should) (?:vermin|animals|subhuman)\b",
    ),
    "hate/threatening": (r"\b(?:exterminate|wipe out) (?:all|every) (?:immigrants|foreigners)\b",),
    "illicit": (
        r"\b(?:make|cook|synthesi[sz]e) (?:meth|methamphetamine)\b",
        r"\bsteal (?:a |someone'?s )?credit card",
        r"\bhack into (?:my|a|an|the|someone'?s) (?:ex|neighbou?r|school|bank|account)",
    ),
    "illicit/violent": (r"\b(?:build|make) (?:a |an )?(?:bomb|pipe bomb|explosive device)\b",),
    "self-harm": (r"\b(?:kill|hurt|harm) myself\b", r"\bsuicide\b"),
    "self-harm/intent": (r"\bi (?:want|plan|am going) to (?:kill|hurt|harm) myself\b",),
    "self-harm/instructions": (
        r"\bhow (?:do i|to|can i) (?:kill|hurt|harm) (?:myself|yourself)\b",
    ),
    "sexual": (r"\b(?:explicit|graphic) sex(?:ual)? (?:story|scene|content)\b",),
    "sexual/minors": (r"\bsexual (?:content|story) (?:with|about) (?:a )?(?:child|minor)s?\b",),
    "violence": (
        rf"\b(?:kill|murder|stab|shoot|strangle) {_PEOPLE}\b",
        r"\bi(?:'ll| will| want to) (?:beat|punch) (?:him|her|them|you)\b",
    ),
    "violence/graphic": (r"\b(?:dismember|disembowel)(?:ed|ing)?\b",),
}
_COMPILED = {cat: [re.compile(p, re.IGNORECASE) for p in pats] for cat, pats in RULES.items()}
_TRIGGER = re.compile(r"MODERATION_TEST_FLAG:([a-z/-]+)")
# A more specific category implies its parent, as in OpenAI's classifier.
_PARENT = {
    "harassment/threatening": "harassment",
    "hate/threatening": "hate",
    "illicit/violent": "illicit",
    "self-harm/intent": "self-harm",
    "self-harm/instructions": "self-harm",
    "sexual/minors": "sexual",
    "violence/graphic": "violence",
}
FLAG_SCORE = 0.97


def flagged_categories(text: str) -> list[str]:
    """The categories this text is flagged for (empty: not flagged)."""
    result = classify(text)
    return sorted(c for c, hit in result["categories"].items() if hit)


def classify(text: str) -> dict[str, Any]:
    """One moderation `result` object for one input text."""
    hits = {cat for cat, pats in _COMPILED.items() if any(p.search(text) for p in pats)}
    hits |= {m.group(1) for m in _TRIGGER.finditer(text) if m.group(1) in CATEGORIES}
    hits |= {_PARENT[c] for c in list(hits) if c in _PARENT}
    scores = {}
    for cat in CATEGORIES:
        if cat in hits:
            scores[cat] = FLAG_SCORE
        else:
            scores[cat] = (zlib.crc32(f"{cat}\0{text}".encode()) % 10_000) / 1_000_000
    return {
        "flagged": bool(hits),
        "categories": {cat: cat in hits for cat in CATEGORIES},
        "category_scores": scores,
        "category_applied_input_types": {cat: ["text"] for cat in CATEGORIES},
    }
