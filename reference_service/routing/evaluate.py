"""Train the weighted router and measure every router on the held-out split.

Metrics on a set of labelled queries (label: which model a good answer needs):
- accuracy: routed to exactly the labelled model;
- quality: share answered adequately (a "strong" query sent to the cheap model is not;
  anything sent to the strong model is);
- strong share: share sent to the strong model;
- cost per 1k queries: list prices of the lab's models, prompt tokens counted with the
  service's system prompt, and an assumed 300 output tokens per answer for either model.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..pricing import PriceTable
from ..tokens import count_chat_tokens
from . import LectureRouter, Router, WeightedRouter
from .features import FEATURE_NAMES, features

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


def train(examples: list[Example], l2: float = 0.05, steps: int = 4000, lr: float = 0.5) -> dict:
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
    return {"weights": {n: round(float(v), 4) for n, v in zip(FEATURE_NAMES, w)},
            "trained_on": f"{len(train_set)} train queries of data/routing_queries.jsonl",
            "l2": l2, "steps": steps}


def _cost(query: str, strong: bool, system_prompt: str) -> float:
    prompt = count_chat_tokens([{"role": "system", "content": system_prompt},
                                {"role": "user", "content": query}])
    return LIST_PRICES.cost_usd(STRONG if strong else CHEAP, prompt, OUTPUT_TOKENS)


def metrics(examples: list[Example], decisions: list[bool], system_prompt: str) -> dict:
    n = len(examples)
    return {
        "accuracy": sum(d == e.strong for d, e in zip(decisions, examples)) / n,
        "quality": sum(d or not e.strong for d, e in zip(decisions, examples)) / n,
        "strong_share": sum(decisions) / n,
        "usd_per_1k": 1000 * sum(_cost(e.query, d, system_prompt)
                                 for d, e in zip(decisions, examples)) / n,
    }


def evaluate(examples: list[Example], router: WeightedRouter, threshold: float,
             split: str = "test", seed: int = 0) -> dict:
    """Every baseline and router on one split, plus the weighted router's threshold curve."""
    system_prompt = Settings(_env_file=None).system_prompt
    ex = [e for e in examples if e.split == split]
    rng = random.Random(seed)
    rules = LectureRouter()
    rows = {
        "always_cheap": metrics(ex, [False] * len(ex), system_prompt),
        "always_strong": metrics(ex, [True] * len(ex), system_prompt),
        "random_50": metrics(ex, [rng.random() < 0.5 for _ in ex], system_prompt),
        "lecture": metrics(ex, [rules.score(e.query) >= 0.5 for e in ex], system_prompt),
        f"weighted@{threshold:g}": metrics(ex, [router.score(e.query) >= threshold for e in ex],
                                           system_prompt),
    }
    scores = [router.score(e.query) for e in ex]
    curve = [{"threshold": t / 100, **metrics(ex, [s >= t / 100 for s in scores], system_prompt)}
             for t in range(0, 101, 5)]
    return {"split": split, "n": len(ex), "strong_needed": sum(e.strong for e in ex) / len(ex),
            "rows": rows, "curve": curve}


def mistakes(examples: list[Example], router: Router, threshold: float,
             split: str = "test") -> list[tuple[str, str, float]]:
    """(query, labelled model, score) of each misrouted query."""
    out = []
    for e in examples:
        if e.split != split:
            continue
        s = router.score(e.query)
        if (s >= threshold) != e.strong:
            out.append((e.query, "strong" if e.strong else "cheap", round(s, 3)))
    return out


def plot(report: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    curve = report["curve"]
    ax.plot([c["strong_share"] for c in curve], [c["quality"] for c in curve], "o-",
            label="weighted router (threshold sweep)", color="tab:blue", markersize=3)
    q0 = 1 - report["strong_needed"]
    ax.plot([0, 1], [q0, 1], "--", color="gray", label="random routing")
    markers = {"always_cheap": ("s", "tab:green"), "always_strong": ("s", "tab:red"),
               "lecture": ("D", "tab:orange")}
    for name, (m, color) in markers.items():
        r = report["rows"][name]
        ax.plot(r["strong_share"], r["quality"], m, color=color, markersize=8,
                label=f"{name} (${r['usd_per_1k']:.2f}/1k)")
    wname = next(k for k in report["rows"] if k.startswith("weighted@"))
    r = report["rows"][wname]
    ax.plot(r["strong_share"], r["quality"], "*", color="tab:blue", markersize=14,
            label=f"{wname} (${r['usd_per_1k']:.2f}/1k)")
    ax.set_xlabel("share of queries sent to the strong model")
    ax.set_ylabel("quality (share answered by a good-enough model)")
    ax.set_title(f"Routing on the held-out split (n={report['n']})")
    ax.set_xlim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
