"""What the learned verifier (model.py) sees of a candidate pair: a few numbers from the
two questions (as `question_form` writes them) and their cosine.

- cosine of the two embeddings;
- content-word overlap (Jaccard), and the share of each side's content words the other
  lacks, after acronym alignment;
- `acronym`: an acronym on one side spelled out on the other ("BGP" / "Border Gateway
  Protocol", "SR-IOV" / "single root I/O virtualization"), found by letter matching
  (Schwartz and Hearst's rule: the first letter starts the long form, the others follow
  in order, every word of the long form gives at least one), not by a list;
- the soft rules of verifier.py (names one side lacks, content words in another order);
- whether the question words differ (how / why / what / can ...), and the length ratio.

All of it is string work on two short texts: microseconds, no second embedding.
"""

from __future__ import annotations

import math
import re

from .verifier import _FILLER, _WORD, _content, _names, _roles_swapped, _singular

FEATURES = ["cosine", "jaccard", "query_only", "cached_only", "acronym", "names",
            "roles", "question_word", "length_ratio"]

_ACRONYM = re.compile(r"^(?=(?:[^A-Z]*[A-Z]){2})[A-Z][A-Za-z\-/]{1,9}$")
_QWORDS = {"what", "how", "why", "when", "where", "which", "who", "whom", "whose", "can",
           "could", "is", "are", "do", "does", "did", "should", "will", "would"}
_LINKS = {"of", "and", "for", "over", "the", "a", "an", "to", "in", "on"}


def _letters(acronym: str) -> str:
    a = acronym[:-1] if acronym.endswith("s") and acronym[:-1].isupper() else acronym
    return re.sub(r"[^a-z]", "", a.lower())


def _spells(letters: str, words: list[str]) -> bool:
    """Do these words spell the acronym? First letter starts the first word, the rest
    follow in order, each word (but small linking ones) gives at least one letter."""
    text = [re.sub(r"[^a-z]", "", w.lower()) for w in words]
    if not letters or not text or not text[0] or text[0][0] != letters[0]:
        return False

    def match(i: int, wi: int, pos: int, touched: bool) -> bool:
        if i == len(letters):
            # the long form must end here, every later word unused
            return wi == len(text) - 1 and touched
        w = text[wi]
        # the next letter inside the current word
        j = w.find(letters[i], pos)
        if j != -1 and match(i + 1, wi, j + 1, True):
            return True
        # or at the start of a following word (skipping small linking words)
        if not touched and words[wi].lower() not in _LINKS:
            return False
        for nxt in range(wi + 1, len(text)):
            if text[nxt] and text[nxt][0] == letters[i] and match(i + 1, nxt, 1, True):
                return True
            if words[nxt].lower() not in _LINKS:
                break
        return False

    return match(1, 0, 1, True)


def align_acronyms(a: list[str], b: list[str]) -> tuple[list[str], list[str], int]:
    """Replace in each side the long forms of the other side's acronyms by the acronym."""
    found = 0
    for src, dst in ((a, b), (b, a)):
        lower_dst = {w.lower() for w in dst}
        for acr in [w for w in src if _ACRONYM.match(w)]:
            if acr.lower() in lower_dst:
                continue
            letters = _letters(acr)
            for n in range(min(len(letters) + 3, 8), 1, -1):  # the longest long form
                hit = next((i for i in range(len(dst) - n + 1) if _spells(letters, dst[i:i + n])),
                           None)
                if hit is not None:
                    dst[hit:hit + n] = [acr]
                    lower_dst = {w.lower() for w in dst}
                    found += 1
                    break
    return a, b, found


def pair_features(query: str, cached: str, cosine: float) -> list[float]:
    """The model's inputs, in FEATURES order, for two questions in question form."""
    wa, wb, acronyms = align_acronyms(_WORD.findall(query), _WORD.findall(cached))
    ta, tb = " ".join(wa), " ".join(wb)
    ca, cb = set(_content(ta)), set(_content(tb))
    union = ca | cb
    lower_a = {_singular(w.lower()) for w in wa}
    lower_b = {_singular(w.lower()) for w in wb}
    names = bool((_names(ta, wa) - lower_b) or (_names(tb, wb) - lower_a))
    qa = next((w.lower() for w in wa if w.lower() in _QWORDS), "")
    qb = next((w.lower() for w in wb if w.lower() in _QWORDS), "")
    na = len([w for w in wa if w.lower() not in _FILLER])
    nb = len([w for w in wb if w.lower() not in _FILLER])
    return [cosine,
            len(ca & cb) / len(union) if union else 1.0,
            len(ca - cb) / len(ca) if ca else 0.0,
            len(cb - ca) / len(cb) if cb else 0.0,
            float(acronyms > 0),
            float(names),
            float(_roles_swapped(ta, tb)),
            float(qa != qb),
            abs(math.log((1 + na) / (1 + nb)))]
