"""Train the weighted router and measure every router on the held-out split.

Metrics on a set of labelled queries (label: which model a good answer needs):
- accuracy: routed to exactly the labelled model;
- quality: share answered adequately (a "strong" query sent to the cheap model is not;
  anything sent to the strong model is);
- strong share: share sent to the strong model;
- cost per 1k queries: list prices of the lab's models, prompt tokens counted with the
  service's system prompt (the lecture's), and an assumed 300 output tokens per answer
  for either model;
- saving: how many times cheaper than sending every query to the strong model.

Besides the routers, three reference points: the labels themselves (a perfect router: the
cheapest any router can be without losing quality on this set), the weighted router at the
threshold that sends as many queries to the strong model as the lecture's rule (the two
compared at equal spend), and word count alone (the cut fitted on the train split), which
shows how much of the set's difficulty its length gives away.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import Settings
from ..pricing import PriceTable
from ..tokens import count_chat_tokens
from . import LectureRouter, Router, WeightedRouter
from .features import FEATURE_NAMES, features

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from numpy.typing import ArrayLike

OUTPUT_TOKENS = 300
CHEAP, STRONG = "gpt-4o-mini", "gpt-4o"
LIST_PRICES = PriceTable()  # the defaults of MODEL_PRICES: OpenAI's list prices


@dataclass
class Example:
    query: str
    strong: bool
    split: str


def load(path: Path) -> list[Example]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [Example(r["query"], r["label"] == "strong", r["split"]) for r in rows]


def train(
    examples: list[Example], l2: float = 0.05, steps: int = 4000, lr: float = 0.5
) -> dict[str, Any]:
    """Logistic regression by gradient descent (numpy), on the train split only."""
    import numpy as np

    train_set = [e for e in examples if e.split == "train"]
    X = np.array([features(e.query) for e in train_set])
    y = np.array([1.0 if e.strong else 0.0 for e in train_set])
    w = np.zeros(X.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(X @ w)))
        grad = X.T @ (p - y) / len(y)
        grad[1:] += l2 * w[1:]
        w -= lr * grad
    return {
        "weights": {n: round(float(v), 4) for n, v in zip(FEATURE_NAMES, w, strict=True)},
        "trained_on": f"{len(train_set)} train queries of data/routing_queries.jsonl",
        "l2": l2,
        "steps": steps,
    }


def _cost(query: str, strong: bool, system_prompt: str) -> float:
    prompt = count_chat_tokens(
        [{"role": "system", "content": system_prompt}, {"role": "user", "content": query}]
    )
    return LIST_PRICES.cost_usd(STRONG if strong else CHEAP, prompt, OUTPUT_TOKENS)


def metrics(examples: list[Example], decisions: list[bool], system_prompt: str) -> dict[str, float]:
    n = len(examples)
    return {
        "accuracy": sum(d == e.strong for d, e in zip(decisions, examples, strict=True)) / n,
        "quality": sum(d or not e.strong for d, e in zip(decisions, examples, strict=True)) / n,
        "strong_share": sum(decisions) / n,
        "usd_per_1k": 1000
        * sum(_cost(e.query, d, system_prompt) for d, e in zip(decisions, examples, strict=True))
        / n,
    }


def word_count_cut(examples: list[Example]) -> int:
    """The word count n for which "n words or more: strong" is most accurate on the train
    split (the smallest such n on a tie): a baseline with no keywords at all."""
    train_set = [e for e in examples if e.split == "train"]
    lengths = [len(e.query.split()) for e in train_set]

    def correct(n: int) -> int:
        return sum((w >= n) == e.strong for w, e in zip(lengths, train_set, strict=True))

    return max(range(1, max(lengths) + 2), key=lambda n: (correct(n), -n))


def same_share_threshold(scores: list[float], n_strong: int) -> float:
    """The threshold at which `n_strong` of these scores (the highest) reach the strong
    model: a router compared with another at equal spend."""
    ranked = sorted(scores, reverse=True)
    return ranked[n_strong - 1] if n_strong else 1.0 + 1e-9


def evaluate(
    examples: list[Example],
    router: WeightedRouter,
    threshold: float,
    split: str = "test",
    seed: int = 0,
) -> dict[str, Any]:
    """Every baseline and router on one split, plus the weighted router's threshold curve.

    Rows: always_cheap, always_strong, random_50, lecture (its estimate_complexity),
    weighted@<threshold>, weighted@<t> with t sending as many queries to the strong model
    as the lecture's rule, words>=<n> (n fitted on the train split), labels (perfect)."""
    system_prompt = Settings(_env_file=None).system_prompt
    ex = [e for e in examples if e.split == split]
    rng = random.Random(seed)
    rules = LectureRouter()
    lecture = [rules.score(e.query) >= 0.5 for e in ex]
    scores = [router.score(e.query) for e in ex]
    same = same_share_threshold(scores, sum(lecture))
    cut = word_count_cut(examples)
    rows = {
        "always_cheap": metrics(ex, [False] * len(ex), system_prompt),
        "always_strong": metrics(ex, [True] * len(ex), system_prompt),
        "random_50": metrics(ex, [rng.random() < 0.5 for _ in ex], system_prompt),
        "lecture": metrics(ex, lecture, system_prompt),
        f"weighted@{threshold:g}": metrics(ex, [s >= threshold for s in scores], system_prompt),
        f"weighted@{same:.3f}": metrics(ex, [s >= same for s in scores], system_prompt),
        f"words>={cut}": metrics(ex, [len(e.query.split()) >= cut for e in ex], system_prompt),
        "labels": metrics(ex, [e.strong for e in ex], system_prompt),
    }
    strong_usd = rows["always_strong"]["usd_per_1k"]
    for r in rows.values():
        r["saving"] = strong_usd / r["usd_per_1k"]
    curve = [
        {"threshold": t / 100, **metrics(ex, [s >= t / 100 for s in scores], system_prompt)}
        for t in range(0, 101, 5)
    ]
    return {
        "split": split,
        "n": len(ex),
        "strong_needed": sum(e.strong for e in ex) / len(ex),
        "threshold": threshold,
        "same_share_threshold": same,
        "word_cut": cut,
        "rows": rows,
        "curve": curve,
    }


def mistakes(
    examples: list[Example], router: Router, threshold: float, split: str = "test"
) -> list[tuple[str, str, float]]:
    """(query, labelled model, score) of each misrouted query."""
    out = []
    for e in examples:
        if e.split != split:
            continue
        s = router.score(e.query)
        if (s >= threshold) != e.strong:
            out.append((e.query, "strong" if e.strong else "cheap", round(s, 3)))
    return out


# long: one figure, drawn panel by panel
def plot(report: dict[str, Any], path: Path) -> None:
    """Quality against the share of queries sent to the strong model, every router and
    reference point of the report; the top axis reads the share as a saving."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(7.2, 5.0), dpi=120)
    curve = report["curve"]
    ax.plot(
        [c["strong_share"] for c in curve],
        [c["quality"] for c in curve],
        "o-",
        label="weighted router, threshold 0 to 1",
        color="tab:blue",
        markersize=3,
    )
    q0 = 1 - report["strong_needed"]
    ax.plot([0, 1], [q0, 1], "--", color="gray", label="random routing")

    def mark(name: str, label: str, marker: str, color: str, size: float = 8, **kw: Any) -> None:
        r = rows[name]
        ax.plot(
            r["strong_share"],
            r["quality"],
            marker,
            color=color,
            markersize=size,
            label=f"{label}: ${r['usd_per_1k']:.2f}/1k, {r['saving']:.1f}x cheaper",
            **kw,
        )

    mark("always_cheap", "always gpt-4o-mini", "s", "tab:green")
    mark("always_strong", "always gpt-4o", "s", "tab:red")
    mark("lecture", "lecture's estimate_complexity", "D", "tab:orange")
    mark(
        f"weighted@{report['threshold']:g}",
        f"weighted router @{report['threshold']:g}",
        "*",
        "tab:blue",
        14,
    )
    same = f"weighted@{report['same_share_threshold']:.3f}"
    mark(
        same,
        f"weighted router @{report['same_share_threshold']:.3f} (lecture's share)",
        "o",
        "tab:blue",
        14,
        fillstyle="none",
    )
    mark(
        f"words>={report['word_cut']}",
        f"{report['word_cut']}+ words (no keywords)",
        "^",
        "tab:purple",
    )
    mark("labels", "the labels (a perfect router)", "P", "black")

    _saving_axis(ax, rows["always_cheap"]["usd_per_1k"], rows["always_strong"]["usd_per_1k"])
    ax.set_xlabel("share of queries sent to the strong model (gpt-4o)")
    ax.set_ylabel("quality (share answered by a good-enough model)")
    ax.set_title(f"Routing on the {report['split']} split (n={report['n']})", fontsize=11)
    ax.set_xlim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def _saving_axis(ax: Axes, cheap: float, strong: float) -> None:
    """A top axis that reads the strong share as "times cheaper than always gpt-4o" (cost is
    linear in the share), and the lecture's 10x-or-more region shaded."""
    import numpy as np

    def share_at(saving: ArrayLike) -> np.ndarray:
        return (strong / np.asarray(saving, dtype=float) - cheap) / (strong - cheap)

    def saving_at(share: ArrayLike) -> np.ndarray:
        return strong / (cheap + (strong - cheap) * np.clip(share, -0.02, None))

    top = ax.secondary_xaxis(
        "top", functions=(saving_at, lambda f: share_at(np.clip(f, 1e-9, None)))
    )
    ticks = [t for t in (10, 5, 3, 2, 1.5, 1) if t <= strong / cheap]
    top.set_xticks(ticks)
    top.set_xticklabels([f"{t:g}x" for t in ticks])
    top.set_xlabel("about this many times cheaper than always gpt-4o", fontsize=9)
    if strong / cheap >= 10:
        ax.axvspan(
            -0.03,
            float(share_at(10)),
            color="tab:orange",
            alpha=0.15,
            lw=0,
            label="10x cheaper or more (the lecture's 10-20x)",
        )
