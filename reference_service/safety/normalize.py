"""What the PII detector reads: the text in one canonical form, with a map back to the original.

A value can be written in many forms that look the same to a person and not to a regex or
to spaCy: full-width digits and signs ("４１１１", "＠"), no-break or thin spaces, zero-width
characters inside a number or an address, en dashes and minus signs between digit groups.
`normalize()` folds them into one form:

- NFKC (Unicode compatibility folding): full-width and other compatibility forms become
  their plain ones ("４" -> "4", "＠" -> "@", "．" -> "."), every kind of space becomes " ";
- format characters (Unicode category Cf: zero-width space and joiners, word joiner, soft
  hyphen, BOM, bidi controls) are dropped;
- every decimal digit becomes its ASCII digit (Arabic-Indic, Devanagari, ... "٤" -> "4"),
  every dash and minus sign "-", the ideographic full stop ".", and the line and paragraph
  separators a line break.

Detection runs on the normalized copy; `span_in_original()` turns a span of it back into the
span of the client's text it came from, so the placeholder replaces exactly the characters
the client wrote and the restore puts back the client's own form.

Text that is pure ASCII is already in this form (the common case): it is returned as it is,
with no map, at no cost.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# After NFKC: what still differs in a way that matters for digits and addresses.
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63"
_EXTRA = {**{c: "-" for c in _DASHES}, "\u3002": ".", "\u2028": "\n", "\u2029": "\n"}


@dataclass(frozen=True)
class NormalizedText:
    """`text` is what the detector reads; `origin[i]` is the (start, end) of the original
    characters that normalized character i came from (None: the text was unchanged)."""

    text: str
    origin: tuple[tuple[int, int], ...] | None = None

    def span_in_original(self, start: int, end: int) -> tuple[int, int]:
        """The original text's span that the normalized span [start, end) came from."""
        if self.origin is None:
            return start, end
        return self.origin[start][0], self.origin[end - 1][1]


def normalize(text: str) -> NormalizedText:
    """The text in the detector's canonical form, and where each character came from."""
    if text.isascii():
        return NormalizedText(text)
    out: list[str] = []
    origin: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):  # a letter with its accents, whole
            j += 1
        for ch in _fold(text[i:j]):
            out.append(ch)
            origin.append((i, j))
        i = j
    return NormalizedText("".join(out), tuple(origin))


def _fold(cluster: str) -> str:
    if unicodedata.category(cluster[0]) == "Cf":
        return ""
    folded = unicodedata.normalize("NFKC", cluster)
    return "".join(_fold_char(c) for c in folded if unicodedata.category(c) != "Cf")


def _fold_char(c: str) -> str:
    if c in _EXTRA:
        return _EXTRA[c]
    if not c.isascii() and unicodedata.category(c) == "Nd":
        return str(unicodedata.decimal(c))
    return c
