"""Evaluate the cache on labelled question pairs, through the cache code the service runs.

For each pair {"text_a", "text_b", "label"} (label 1: b may be answered with a's answer):
a fresh cache stores an answer for a, then b is looked up. A hit on a label-1 pair is a
true hit, on a label-0 pair a false (wrong) answer.
- precision: share of hits that were right; recall: share of label-1 pairs that hit;
- false-hit rate: share of label-0 pairs that got a's answer.
The exact tier is part of the run (a pair whose texts normalize the same hits there).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..clock import SystemClock
from ..pricing import ModelPrice, PriceTable
from ..routing import Router
from .embedder import BatchEmbedder, TextEmbedder
from .normalize import question_form
from .store import CacheConfig, SemanticCache
from .verifier import SAME_AFTER_ALIGNMENT

# The answers stored here are named for the model "eval", priced at 0: a hit's saving is
# counted without the "no price for this model" warning that would interleave the report.
EVAL_PRICES = PriceTable({"eval": ModelPrice(usd_per_1m_input=0, usd_per_1m_output=0)})


@dataclass
class Pair:
    a: str
    b: str
    label: int
    kind: str | None = None
    split: str | None = None


def load_pairs(path: Path, split: str | None = None) -> list[Pair]:
    pairs = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if split and r.get("split") not in (split, None):
            continue
        pairs.append(Pair(r["text_a"], r["text_b"], int(r["label"]), r.get("kind"), r.get("split")))
    return pairs


class PrecomputedEmbedder:
    """Embeds every text of the run in one batch, then answers from memory."""

    def __init__(self, embedder: TextEmbedder, texts: list[str]) -> None:
        uniq = list(dict.fromkeys(question_form(t) for t in texts))
        vectors = embedder.embed(uniq)
        self._by_text = dict(zip(uniq, vectors, strict=True))
        self._embedder = embedder

    async def aembed_one(self, text: str) -> np.ndarray:
        v: np.ndarray | None = self._by_text.get(text)  # numpy types the rows as Any
        return v if v is not None else await self._embedder.aembed_one(text)


@dataclass
class Outcome:
    pair: Pair
    hit: bool
    tier: str | None
    similarity: float | None  # of a's question to b's, when it was a candidate
    verified: bool


async def run_pairs(
    pairs: list[Pair], embedder: TextEmbedder, threshold: float, verify: bool = True
) -> list[Outcome]:
    import fakeredis

    redis = fakeredis.FakeAsyncRedis()
    emb = PrecomputedEmbedder(embedder, [t for p in pairs for t in (p.a, p.b)])
    cache = SemanticCache(
        redis,
        emb,
        SystemClock(),
        CacheConfig(similarity_threshold=threshold, verify=verify, candidates=1),
        EVAL_PRICES,
    )
    outcomes = []
    for i, p in enumerate(pairs):
        scope = f"eval{i}"  # a fresh cache per pair
        await cache.store(scope, p.a, f"answer to pair {i}", model="eval")
        r = await cache.lookup(scope, p.b)
        sim = r.similarity if r.status == "HIT" else (r.rejected[0][0] if r.rejected else None)
        outcomes.append(Outcome(p, r.status == "HIT", r.tier, sim, r.status == "HIT"))
    await redis.aclose()
    return outcomes


def score(outcomes: list[Outcome]) -> dict[str, Any]:
    tp = sum(o.hit and o.pair.label == 1 for o in outcomes)
    fp = sum(o.hit and o.pair.label == 0 for o in outcomes)
    pos = sum(o.pair.label == 1 for o in outcomes)
    neg = len(outcomes) - pos
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / pos, 4) if pos else None,
        "false_hit_rate": round(fp / neg, 4) if neg else None,
        "hits": tp + fp,
        "n_pairs": len(outcomes),
        "positives": pos,
    }


def routed_apart(
    outcomes: list[Outcome], score_of: Callable[[str], float], threshold: float
) -> dict[str, Any]:
    """With routing on, the pairs whose two wordings the router sends to different models,
    and what the cache would score if its scope named the chosen model (as it did before
    routed calls shared one scope): such a pair could never hit."""

    def strong(text: str) -> bool:
        return score_of(text) >= threshold

    apart = [strong(o.pair.a) != strong(o.pair.b) for o in outcomes]
    labels = [o.pair.label for o, x in zip(outcomes, apart, strict=True) if x]
    routed = [replace(o, hit=False) if x else o for o, x in zip(outcomes, apart, strict=True)]
    return {
        "answerable_apart": labels.count(1),
        "different_apart": labels.count(0),
        "scoped_by_model": score(routed),
    }


def lecture_rule(
    pairs: list[Pair], embedder: BatchEmbedder, threshold: float = 0.95
) -> dict[str, Any]:
    """The lecture's rule on each pair: the questions as typed, embedded (normalized), and
    a hit when their dot product is >= `threshold` (0.95): no exact tier, no rewriting of the
    question's form, no verifier (its SemanticCache.get, for one stored entry)."""
    a = embedder.embed([p.a for p in pairs])
    b = embedder.embed([p.b for p in pairs])
    outs = [
        Outcome(p, float(x @ y) >= threshold, None, float(x @ y), False)
        for p, x, y in zip(pairs, a, b, strict=True)
    ]
    return {"threshold": threshold, **score(outs)}


async def sweep(
    pairs: list[Pair], embedder: TextEmbedder, thresholds: list[float]
) -> list[dict[str, Any]]:
    """The curve, from one run that records each pair's similarity and verdict.

    With one stored entry per fresh cache, b hits at threshold t exactly when it hits the
    exact tier, or the verifier accepts it as the same question after acronym alignment
    (whatever t), or its similarity to a is >= t and the verifier accepts it."""
    import fakeredis

    redis = fakeredis.FakeAsyncRedis()
    emb = PrecomputedEmbedder(embedder, [t for p in pairs for t in (p.a, p.b)])
    cache = SemanticCache(
        redis, emb, SystemClock(), CacheConfig(similarity_threshold=-1.0, candidates=1), EVAL_PRICES
    )
    sims: list[float] = []
    verified, exact, aligned = [], [], []
    for i, p in enumerate(pairs):
        scope = f"sweep{i}"
        await cache.store(scope, p.a, "a", model="eval")
        r = await cache.lookup(scope, p.b)
        exact.append(r.tier == "exact")
        verified.append(r.status == "HIT")
        aligned.append(r.accepted == SAME_AFTER_ALIGNMENT)
        similarity = r.similarity if r.status == "HIT" else r.rejected[0][0]
        assert similarity is not None, "a hit carries its similarity"
        sims.append(similarity)
    await redis.aclose()
    curve = []
    for t in thresholds:
        outs = [
            Outcome(p, e or al or (v and s >= t), None, s, v)
            for p, s, v, e, al in zip(pairs, sims, verified, exact, aligned, strict=True)
        ]
        cos_only = [
            Outcome(p, e or s >= t, None, s, True)
            for p, s, e in zip(pairs, sims, exact, strict=True)
        ]
        curve.append(
            {
                "threshold": t,
                **score(outs),
                "cosine_only": {
                    k: v
                    for k, v in score(cos_only).items()
                    if k in ("precision", "recall", "false_hit_rate")
                },
            }
        )
    return curve


def plot_curve(curves: dict[str, list[dict[str, Any]]], path: Path, default: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=120)
    colors = iter(["tab:blue", "tab:orange", "tab:green", "tab:red"])
    for name, curve in curves.items():
        color = next(colors)
        xs = [c["recall"] for c in curve if c["precision"] is not None]
        ys = [c["precision"] for c in curve if c["precision"] is not None]
        ax.plot(xs, ys, "o-", color=color, markersize=3, label=f"{name}: cosine + verifier")
        xs = [c["cosine_only"]["recall"] for c in curve if c["cosine_only"]["precision"]]
        ys = [c["cosine_only"]["precision"] for c in curve if c["cosine_only"]["precision"]]
        ax.plot(xs, ys, "--", color=color, alpha=0.6, label=f"{name}: cosine only")
        for c in curve:
            if abs(c["threshold"] - default) < 1e-9 and c["precision"] is not None:
                ax.plot(c["recall"], c["precision"], "*", color=color, markersize=14)
    ax.set_xlabel("recall (share of answerable paraphrases that hit)")
    ax.set_ylabel("precision (share of hits that are right)")
    ax.set_title(f"Semantic cache: threshold sweep (star: default {default:g})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def evaluate_file(
    path: Path,
    threshold: float,
    split: str | None,
    do_sweep: bool,
    embedder: TextEmbedder,
    errors: bool = False,
    router: Router | None = None,
    route_threshold: float = 0.5,
) -> dict[str, Any]:
    pairs = load_pairs(path, split)
    outcomes = asyncio.run(run_pairs(pairs, embedder, threshold))
    report = {"pairs": str(path), "split": split, "threshold": threshold, **score(outcomes)}
    if router is not None:
        report["routing"] = routed_apart(outcomes, router.score, route_threshold)
    if errors:  # the wrong answers served: pairs labelled different that hit
        report["false_hits"] = [
            {"tier": o.tier, "similarity": o.similarity, "stored": o.pair.a, "asked": o.pair.b}
            for o in sorted(outcomes, key=lambda o: -(o.similarity or 0.0))
            if o.hit and o.pair.label == 0
        ]
    by_kind: dict[str, list[Outcome]] = {}
    for o in outcomes:
        if o.pair.kind:
            by_kind.setdefault(o.pair.kind, []).append(o)
    if by_kind:
        report["by_kind"] = {
            k: {"label": v[0].pair.label, "n": len(v), "hits": sum(o.hit for o in v)}
            for k, v in sorted(by_kind.items())
        }
    if do_sweep:
        grid = {round(0.70 + 0.01 * i, 2) for i in range(30)} | {threshold}  # the star's point
        report["curve"] = asyncio.run(sweep(pairs, embedder, sorted(grid)))
    return report
