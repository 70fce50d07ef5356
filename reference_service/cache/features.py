"""The learned verifier that was tried and is not shipped: what a logistic regression saw
of a candidate pair (`train.compare_model`). Kept so `python -m reference_service.cache
train --compare-model` reproduces the comparison in docs/CACHE.md.

- cosine of the two embeddings;
- content-word overlap (Jaccard), and the share of each side's content words the other
  lacks, after acronym alignment (normalize.align_texts);
- whether an acronym was aligned; the soft rule (names one side lacks); content words in
  another order; whether the question words differ; the length ratio.
"""

from __future__ import annotations

import math

from .normalize import align_texts
from .verifier import _FILLER, _WORD, _content, _names, _roles_swapped, _singular

FEATURES = [
    "cosine",
    "jaccard",
    "query_only",
    "cached_only",
    "acronym",
    "names",
    "roles",
    "question_word",
    "length_ratio",
]

_QWORDS = {
    "what",
    "how",
    "why",
    "when",
    "where",
    "which",
    "who",
    "whom",
    "whose",
    "can",
    "could",
    "is",
    "are",
    "do",
    "does",
    "did",
    "should",
    "will",
    "would",
}


def align_acronyms(a: list[str], b: list[str]) -> tuple[list[str], list[str], int]:
    """Replace in each side the long forms of the other side's acronyms by the acronym."""
    ta, tb, found = align_texts(" ".join(a), " ".join(b))
    return _WORD.findall(ta), _WORD.findall(tb), found


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
    return [
        cosine,
        len(ca & cb) / len(union) if union else 1.0,
        len(ca - cb) / len(ca) if ca else 0.0,
        len(cb - ca) / len(cb) if cb else 0.0,
        float(acronyms > 0),
        float(names),
        float(_roles_swapped(ta, tb)),
        float(qa != qb),
        abs(math.log((1 + na) / (1 + nb))),
    ]
