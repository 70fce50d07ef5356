"""Replay a question workload through the lecture's cache and the lab's, and count what
each saves and what each gets wrong: `python -m reference_service.cache replay`.

The lecture claims a 0.95 threshold "can reduce LLM calls by 30-60% on typical support/QA
workloads". This measures it on a workload built from labelled question pairs:

- *Intents*: questions with one answer. Pairs labelled 1 (same question) join their two
  wordings into one intent (union-find). A hit that serves another intent's answer is
  *wrong* when a pair labelled 0 (different questions) joins the two intents, and
  *unlabelled* otherwise: two paraphrases nobody paired ("What are the benefits of
  chiplets?" / "... advantages ...") are different intents here, so an unlabelled hit
  is often right. Both are counted; "wrong" is the one to trust. (QQP's labels are
  noisy; the lab's pairs were written to be unambiguous.)
- *Questions*: `n` of them (default 2,000), many users asking the same few hundred things
  in their own words: each picks an intent by popularity (Zipf, exponent 1: the tenth most
  asked intent is asked a tenth as often as the first), one of its wordings at random,
  and sometimes types it differently (lower case, no question mark: 30%). Arrival times
  are a Poisson process over `hours` (default 8), so the lecture's one-hour expiry matters.
- *Caches*, both starting empty, both filled by their misses (every miss calls the LLM
  and stores its answer):
  - the lecture's rule (`LectureRule`): embed the question as typed (all-MiniLM-L6-v2,
    normalized), serve the stored answer of the stored question with the best cosine if
    it is >= 0.95; entries expire 3,600 s after they were stored. Its other properties
    (ids, Redis layout, speed) are not what is measured here;
  - the lab's `SemanticCache` as the service runs it (exact tier, vector set, verifier,
    threshold from settings, 24 h expiry), on fakeredis and the replay's clock; one scope
    (one tenant, one model, one system prompt: an app's users behind one API key);
  - the lab's cache with the lecture's 1 h expiry: the same expiry as the lecture's, so
    the difference to the lecture's is the decision rule alone.
- *Counted*: LLM calls saved (hits / questions), wrong and unlabelled answers served
  (above), cost saved at the lab's list prices (prompt: the
  service's system prompt and the question, counted by reference_service.tokens; answer:
  ANSWER_TOKENS), and what a perfect cache would save (questions whose intent was asked
  before and is still within that cache's expiry).

Workloads: `lab` (default) is the lab's held-out domain pairs (test splits of
data/cache_pairs_topics.jsonl and data/cache_pairs.jsonl); `lab-train` their train splits
(for development); `qqp` the held-out QQP pairs (data/qqp_heldout.jsonl).
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .embedder import BatchEmbedder
from .normalize import question_form
from .store import CacheConfig, SemanticCache, scope_of

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS: dict[str, list[tuple[Path, str | None]]] = {
    "lab": [
        (ROOT / "data" / "cache_pairs_topics.jsonl", "test"),
        (ROOT / "data" / "cache_pairs.jsonl", "test"),
    ],
    "lab-train": [
        (ROOT / "data" / "cache_pairs_topics.jsonl", "train"),
        (ROOT / "data" / "cache_pairs.jsonl", "train"),
    ],
    "qqp": [(ROOT / "data" / "qqp_heldout.jsonl", None)],
}
LECTURE_THRESHOLD = 0.95  # the lecture's similarity_threshold
LECTURE_TTL_S = 3600  # the lecture's ttl_seconds
ANSWER_TOKENS = 250  # assumed length of an answer (a few paragraphs)
MODEL = "gpt-4o-mini"  # the lecture's model


class ReplayEmbedder(BatchEmbedder, Protocol):
    """What a replay needs of an embedder (embedder.Embedder, or a stand-in): the workload's
    texts in one batch, and now and then one text it did not see."""

    def embed_one(self, text: str) -> np.ndarray: ...


@dataclass
class Question:
    t: float  # seconds from the start
    text: str
    intent: int


def load_intents(
    sources: list[tuple[Path, str | None]],
) -> tuple[list[list[str]], set[frozenset[int]]]:
    """The workload's intents, each a list of its wordings (first seen first), and the
    pairs of intents a label-0 pair says are different questions."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs = []
    for path, split in sources:
        for line in path.read_text().splitlines():
            p = json.loads(line)
            if split and p.get("split") != split:
                continue
            pairs.append((p["text_a"], p["text_b"], int(p["label"])))
            a, b = find(p["text_a"]), find(p["text_b"])
            if int(p["label"]) == 1:
                parent[a] = b
    groups: dict[str, list[str]] = {}
    for text in parent:
        groups.setdefault(find(text), []).append(text)
    index = {root: i for i, root in enumerate(groups)}
    different = {
        frozenset((index[find(a)], index[find(b)]))
        for a, b, label in pairs
        if label == 0 and find(a) != find(b)
    }
    return list(groups.values()), different


def make_questions(intents: list[list[str]], n: int, hours: float, seed: int) -> list[Question]:
    """n questions: intents by Zipf popularity, wordings at random, Poisson arrivals."""
    rng = random.Random(seed)
    order = list(range(len(intents)))
    rng.shuffle(order)  # which intents are popular: random, not file order
    weights = [1.0 / (rank + 1) for rank in range(len(order))]
    times = sorted(rng.uniform(0, hours * 3600) for _ in range(n))
    questions = []
    for t in times:
        intent = rng.choices(order, weights)[0]
        text = rng.choice(intents[intent])
        if rng.random() < 0.3:  # typed differently
            text = rng.choice([text.lower(), text.rstrip("?"), text.lower().rstrip("?")])
        questions.append(Question(t, text, intent))
    return questions


class ReplayClock:
    """The replay's time: where the workload is, not the wall clock (deterministic)."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class LectureRule:
    """The lecture's SemanticCache rule, in memory: best cosine over the stored questions'
    normalized embeddings, served at >= 0.95; an entry lives 3,600 s from when it was
    stored. (Its Redis layout and id scheme are not modelled: they change its speed and
    its bugs under concurrency, not which answer it serves.)"""

    def __init__(self, threshold: float = LECTURE_THRESHOLD, ttl_s: float = LECTURE_TTL_S):
        self.threshold, self.ttl_s = threshold, ttl_s
        self.vectors: list[np.ndarray] = []
        self.answers: list[int] = []
        self.expires: list[float] = []

    def get(self, vector: np.ndarray, now: float) -> int | None:
        best, best_sim = None, -1.0
        for v, answer, expires in zip(self.vectors, self.answers, self.expires, strict=True):
            if expires <= now:
                continue
            sim = float(np.dot(vector, v))
            if sim > best_sim:
                best, best_sim = answer, sim
        return best if best_sim >= self.threshold else None

    def set(self, vector: np.ndarray, answer: int, now: float) -> None:
        self.vectors.append(vector)
        self.answers.append(answer)
        self.expires.append(now + self.ttl_s)


@dataclass
class Tally:
    """What one cache did over the replay."""

    name: str
    different: set[frozenset[int]]  # intents labelled different questions
    hits: int = 0
    reworded_hits: int = 0  # hits on a wording not asked before (not a verbatim repeat)
    wrong: int = 0  # another intent's answer, the two labelled different
    unlabelled: int = 0  # another intent's answer, the two never labelled
    usd_saved: float = 0.0
    usd_total: float = 0.0
    possible: int = 0  # questions a perfect cache with this expiry would have answered
    curve: list[tuple[int, int]] = field(default_factory=list)  # (hits, wrong) after each

    def add(
        self, served: int | None, intent: int, usd: float, possible: bool, verbatim: bool
    ) -> None:
        self.usd_total += usd
        self.possible += possible
        if served is not None:
            self.hits += 1
            self.reworded_hits += not verbatim
            self.usd_saved += usd
            if served != intent:
                if frozenset((served, intent)) in self.different:
                    self.wrong += 1
                else:
                    self.unlabelled += 1
        self.curve.append((self.hits, self.wrong))

    def summary(self, n: int) -> dict[str, Any]:
        return {
            "cache": self.name,
            "questions": n,
            "llm_calls": n - self.hits,
            "calls_saved": self.hits,
            "calls_saved_pct": round(100 * self.hits / n, 1),
            "reworded_hits": self.reworded_hits,
            "wrong_answers": self.wrong,
            "wrong_pct_of_hits": round(100 * self.wrong / self.hits, 1) if self.hits else 0.0,
            "unlabelled_answers": self.unlabelled,
            "usd_saved": round(self.usd_saved, 4),
            "usd_without_cache": round(self.usd_total, 4),
            "perfect_cache_saves_pct": round(100 * self.possible / n, 1),
        }


# long: one replay loop, the lecture's cache and the lab's side by side in it
async def _replay(
    questions: list[Question],
    embedder: ReplayEmbedder,
    threshold: float,
    different: set[frozenset[int]],
) -> list[Tally]:
    import fakeredis

    from ..config import Settings
    from ..pricing import PriceTable
    from ..tokens import count_chat_tokens

    system_prompt = Settings(_env_file=None).system_prompt
    raw = list(dict.fromkeys(q.text for q in questions))
    texts = list(dict.fromkeys(raw + [question_form(t) for t in raw]))
    by_text = dict(zip(texts, embedder.embed(texts), strict=True))

    class Vectors:  # the lab's cache asks for question forms: all embedded above
        async def aembed_one(self, text: str) -> np.ndarray:
            return by_text[text] if text in by_text else embedder.embed_one(text)

    clock = ReplayClock()
    redis = fakeredis.FakeAsyncRedis()
    lecture = LectureRule()
    labs = {
        ttl: SemanticCache(
            redis, Vectors(), clock, CacheConfig(similarity_threshold=threshold, ttl_s=ttl)
        )
        for ttl in (CacheConfig().ttl_s, LECTURE_TTL_S)
    }
    tallies = [Tally(f"lecture (cosine >= {LECTURE_THRESHOLD:g}, 1 h expiry)", different)] + [
        Tally(f"lab (verifier, threshold {threshold:g}, {ttl / 3600:g} h expiry)", different)
        for ttl in labs
    ]
    answered: dict[int, list[float]] = {}  # intent -> when it was asked before
    typed: set[str] = set()  # wordings asked before, as typed
    for q in questions:
        clock.now = q.t
        prompt = count_chat_tokens(
            [{"role": "system", "content": system_prompt}, {"role": "user", "content": q.text}]
        )
        usd = PriceTable().cost_usd(MODEL, prompt, ANSWER_TOKENS)  # MODEL_PRICES' defaults
        before = answered.setdefault(q.intent, [])
        verbatim = q.text in typed
        typed.add(q.text)

        served = lecture.get(by_text[q.text], q.t)
        if served is None:
            lecture.set(by_text[q.text], q.intent, q.t)
        tallies[0].add(
            served, q.intent, usd, any(q.t - t < LECTURE_TTL_S for t in before), verbatim
        )

        for (ttl, lab), tally in zip(labs.items(), tallies[1:], strict=True):
            scope = scope_of(tenant="app", model=MODEL, system=system_prompt, ttl=ttl)
            found = await lab.lookup(scope, q.text)
            hit = found.entry if found.status == "HIT" else None
            served = int(hit.answer) if hit is not None else None
            if served is None:
                await lab.store(
                    scope,
                    q.text,
                    str(q.intent),
                    model=MODEL,
                    prompt_tokens=prompt,
                    completion_tokens=ANSWER_TOKENS,
                    vector=found.vector,
                )
            tally.add(served, q.intent, usd, any(q.t - t < ttl for t in before), verbatim)
        before.append(q.t)
    await redis.aclose()
    return tallies


def replay(
    workload: str | list[tuple[Path, str | None]] = "lab",
    n: int = 2000,
    hours: float = 8.0,
    seed: int = 0,
    threshold: float | None = None,
    embedder: ReplayEmbedder | None = None,
) -> dict[str, Any]:
    """Replay `n` questions of `workload` (a name in WORKLOADS, or (pairs file, split)
    sources) through the caches; a JSON-able report (`curves`: (hits, wrong) after each
    question, per cache). From a running event loop (a notebook), await `areplay`."""
    return asyncio.run(areplay(workload, n, hours, seed, threshold, embedder))


async def areplay(
    workload: str | list[tuple[Path, str | None]] = "lab",
    n: int = 2000,
    hours: float = 8.0,
    seed: int = 0,
    threshold: float | None = None,
    embedder: ReplayEmbedder | None = None,
) -> dict[str, Any]:
    """`replay`, awaitable."""
    from ..config import Settings

    settings = Settings(_env_file=None)
    if threshold is None:
        threshold = settings.cache_similarity_threshold
    if embedder is None:
        from .embedder import load_embedder

        embedder = load_embedder(settings.embedder_backend, settings.embedder_onnx_dir)
    sources = WORKLOADS[workload] if isinstance(workload, str) else workload
    intents, different = load_intents(sources)
    questions = make_questions(intents, n, hours, seed)
    tallies = await _replay(questions, embedder, threshold, different)
    return {
        "workload": workload if isinstance(workload, str) else "custom",
        "intents": len(intents),
        "distinct_intents_asked": len({q.intent for q in questions}),
        "distinct_wordings_asked": len({q.text for q in questions}),
        "questions": n,
        "hours": hours,
        "seed": seed,
        "results": [t.summary(n) for t in tallies],
        "curves": {t.name: t.curve for t in tallies},
    }


def format_report(report: dict[str, Any]) -> str:
    """The report as the command prints it."""
    lines = [
        f"replay: {report['questions']} questions over {report['hours']:g} h, "
        f"{report['distinct_intents_asked']} intents asked "
        f"({report['distinct_wordings_asked']} wordings), workload {report['workload']}"
    ]
    for r in report["results"]:
        lines += [
            f"  {r['cache']}",
            f"    LLM calls saved {r['calls_saved']} ({r['calls_saved_pct']}%; a perfect "
            f"cache with this expiry: {r['perfect_cache_saves_pct']}%); "
            f"{r['reworded_hits']} of the hits on a wording not asked before",
            f"    wrong answers served {r['wrong_answers']} ({r['wrong_pct_of_hits']}% of "
            f"hits), another intent's answer never labelled {r['unlabelled_answers']}",
            f"    cost saved ${r['usd_saved']} of ${r['usd_without_cache']}",
        ]
    return "\n".join(lines)


def plot_replay(report: dict[str, Any], path: Path) -> None:
    """Two panels over the replay: share of LLM calls saved, wrong answers served."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    colors = ["tab:red", "tab:blue", "tab:cyan"]
    for (name, curve), color in zip(report["curves"].items(), colors, strict=False):
        xs = np.arange(1, len(curve) + 1)
        hits = np.array([h for h, _ in curve])
        wrong = np.array([w for _, w in curve])
        left.plot(xs, 100 * hits / xs, color=color, label=name)
        right.plot(xs, wrong, color=color, label=name)
    left.axhspan(30, 60, color="grey", alpha=0.15, label="lecture's claim: 30-60%")
    left.set_xlabel("questions replayed")
    left.set_ylabel("LLM calls saved so far (%)")
    left.set_ylim(0, 100)
    left.legend(fontsize=7, loc="upper left")
    right.set_xlabel("questions replayed")
    right.set_ylabel("wrong answers served (labelled different)")
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"Replay: {report['questions']} questions, {report['distinct_intents_asked']} "
        f"intents ({report['workload']} workload), {report['hours']:g} h",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
