"""Train the learned verifier: `python -m reference_service.cache train` writes
reference_service/cache/verifier_model.json (tests check the shipped file is what this
produces).

Training data (never a test split):
- data/cache_pairs_topics.jsonl, split train (31 topics);
- data/cache_pairs.jsonl, split train, less the pairs that mention a test topic of the
  file above (TEST_TOPIC_WORDS), so that no test topic is seen in training;
- ../shared/data/qqp_dev.jsonl (3,000 QQP pairs, the development set).

Each pair goes through what a lookup does: question forms, exact tier, cosine, exact rules.
The rows the model learns from are the candidates left over: cosine >= the candidate
floor, not an exact-tier hit, not refused by an exact rule.

The operating point is chosen for a false-hit rate, not for accuracy: the lowest
probability threshold whose out-of-fold false-hit rate (false hits / label-0 pairs,
counting every way a pair can hit) is at most TARGET_FALSE_HIT_RATE on the lab's pairs and
on QQP separately. Out-of-fold: 5 folds, the lab's pairs grouped by topic, so a threshold
is always judged on topics its model did not see. The candidate floor is chosen the same
way (the one with the most out-of-fold recall at the target). The report also gives, per
fold, the threshold chosen on the other folds and what it did on that fold.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import FEATURES, pair_features
from .normalize import exact_key_text, question_form
from .verifier import hard_reason

ROOT = Path(__file__).resolve().parents[2]
TOPIC_PAIRS = ROOT / "data" / "cache_pairs_topics.jsonl"
OLD_PAIRS = ROOT / "data" / "cache_pairs.jsonl"
QQP_DEV = ROOT.parent / "shared" / "data" / "qqp_dev.jsonl"
MODEL_PATH = Path(__file__).with_name("verifier_model.json")

# The lab's pairs are clean: at most 1 wrong answer in 100 near-misses. QQP's labels are
# noisy (pairs marked different that ask the same thing): 2 in 100.
TARGET_FALSE_HIT_RATE = {"lab": 0.01, "qqp": 0.02}
FLOORS = (0.5, 0.6, 0.7, 0.8)
THRESHOLDS = tuple(round(0.30 + 0.01 * i, 2) for i in range(70))
FOLDS = 5
# Words of the test topics of cache_pairs_topics.jsonl: an older pair that mentions one is
# left out of training.
TEST_TOPIC_WORDS = ("invoice", "billing", "billed", "charged", "payment", "instance", "liquid",
                    "coolant", "mtu", "jumbo", "psu", "power supply", "qos", "quality of service",
                    "raid", "return", "rma", "refund", "restocking", "sfp", "transceiver",
                    "optics", "sr-iov", "virtual function", "ticket", "tpu", "vpc")


@dataclass
class Row:
    source: str  # "lab" | "qqp"
    group: str  # pairs of a group are always in the same fold
    label: int
    exact: bool
    cosine: float
    hard: str | None
    query: str
    cached: str


def load_training_pairs(qqp_dev: Path = QQP_DEV) -> list[tuple[str, str, dict]]:
    """(source, group, pair) for every training pair."""
    out = []
    for line in TOPIC_PAIRS.read_text().splitlines():
        p = json.loads(line)
        if p["split"] == "train":
            out.append(("lab", "topic:" + p["topic"], p))
    for i, line in enumerate(OLD_PAIRS.read_text().splitlines()):
        p = json.loads(line)
        text = f"{p['text_a']} {p['text_b']}".lower()
        if p["split"] == "train" and not any(w in text for w in TEST_TOPIC_WORDS):
            out.append(("lab", f"old:{i}", p))
    for i, line in enumerate(qqp_dev.read_text().splitlines()):
        out.append(("qqp", f"qqp:{i}", json.loads(line)))
    return out


def build_rows(pairs: list[tuple[str, str, dict]], embedder) -> list[Row]:
    """Each pair as a lookup sees it: b asked, a stored."""
    forms = [(question_form(p["text_b"]), question_form(p["text_a"])) for _, _, p in pairs]
    uniq = list(dict.fromkeys(t for f in forms for t in f))
    vectors = dict(zip(uniq, embedder.embed(uniq)))
    rows = []
    for (source, group, p), (q, c) in zip(pairs, forms):
        exact = exact_key_text(p["text_a"]) == exact_key_text(p["text_b"])
        rows.append(Row(source, group, int(p["label"]), exact,
                        float(np.dot(vectors[q], vectors[c])), hard_reason(q, c), q, c))
    return rows


def _fold(group: str) -> int:
    return int(hashlib.sha256(group.encode()).hexdigest(), 16) % FOLDS


def _fit(x: np.ndarray, y: np.ndarray) -> dict:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    clf = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / scale, y)
    return {"mean": mean, "scale": scale, "coef": clf.coef_[0], "intercept": clf.intercept_[0]}


def _predict(model: dict, x: np.ndarray) -> np.ndarray:
    z = model["intercept"] + ((x - model["mean"]) / model["scale"]) @ model["coef"]
    return 1.0 / (1.0 + np.exp(-z))


def _rates(rows: list[Row], idx: list[int], prob: dict[int, float], floor: float,
           threshold: float, source: str) -> tuple[float, float]:
    """(false-hit rate, recall) of the rows `idx` of one source at this floor and threshold."""
    tp = fp = pos = neg = 0
    for i in idx:
        r = rows[i]
        if r.source != source:
            continue
        hit = r.exact or (r.cosine >= floor and r.hard is None and prob.get(i, 0.0) >= threshold)
        pos += r.label
        neg += 1 - r.label
        tp += hit and r.label == 1
        fp += hit and r.label == 0
    return fp / neg if neg else 0.0, tp / pos if pos else 0.0


def _candidates(rows: list[Row], floor: float) -> list[int]:
    return [i for i, r in enumerate(rows) if not r.exact and r.hard is None and r.cosine >= floor]


def _features(rows: list[Row], idx: list[int]) -> np.ndarray:
    return np.array([pair_features(rows[i].query, rows[i].cached, rows[i].cosine) for i in idx])


def _choose(rows: list[Row], idx: list[int], prob: dict[int, float], floor: float) -> float:
    """Lowest threshold meeting the false-hit target on both sources (rows `idx` only)."""
    for t in THRESHOLDS:
        if all(_rates(rows, idx, prob, floor, t, s)[0] <= TARGET_FALSE_HIT_RATE[s]
               for s in ("lab", "qqp")):
            return t
    return 1.0


def out_of_fold(rows: list[Row], floor: float) -> dict[int, float]:
    """Each candidate's probability from a model that did not see its fold."""
    idx = _candidates(rows, floor)
    x, y = _features(rows, idx), np.array([rows[i].label for i in idx])
    folds = np.array([_fold(rows[i].group) for i in idx])
    prob = {}
    for k in range(FOLDS):
        model = _fit(x[folds != k], y[folds != k])
        for i, p in zip(np.array(idx)[folds == k], _predict(model, x[folds == k])):
            prob[int(i)] = float(p)
    return prob


def train(embedder, qqp_dev: Path = QQP_DEV) -> dict:
    """Choose the floor and operating point by cross-validation, fit on all, report."""
    rows = build_rows(load_training_pairs(qqp_dev), embedder)
    everything = list(range(len(rows)))
    report, best = {}, None
    for floor in FLOORS:
        prob = out_of_fold(rows, floor)
        t = _choose(rows, everything, prob, floor)
        rates = {s: _rates(rows, everything, prob, floor, t, s) for s in ("lab", "qqp")}
        report[str(floor)] = {"threshold": t, **_named(rates)}
        score = sum(v[1] for v in rates.values())
        if best is None or score > best[0]:
            best = (score, floor, t, prob)
    _, floor, threshold, prob = best
    # Per fold: the threshold chosen on the other folds, judged on this one.
    per_fold = []
    for k in range(FOLDS):
        inside = [i for i in everything if _fold(rows[i].group) != k]
        held = [i for i in everything if _fold(rows[i].group) == k]
        t = _choose(rows, inside, prob, floor)
        rates = {s: _rates(rows, held, prob, floor, t, s) for s in ("lab", "qqp")}
        per_fold.append({"fold": k, "threshold": t, **_named(rates)})
    idx = _candidates(rows, floor)
    model = _fit(_features(rows, idx), np.array([rows[i].label for i in idx]))
    r6 = lambda v: [round(float(a), 6) for a in v]  # noqa: E731
    return {
        "features": FEATURES, "mean": r6(model["mean"]), "scale": r6(model["scale"]),
        "coef": r6(model["coef"]), "intercept": round(float(model["intercept"]), 6),
        "threshold": threshold, "candidate_floor": floor,
        "chosen_for": {"false_hit_rate_at_most": TARGET_FALSE_HIT_RATE,
                       "on": "out-of-fold predictions, 5 folds, lab pairs grouped by topic; "
                             "lab and QQP separately"},
        "cross_validation": {"by_floor": report, "per_fold": per_fold},
        "training_rows": len(idx),
        "training_pairs": {"lab": sum(r.source == "lab" for r in rows),
                           "qqp": sum(r.source == "qqp" for r in rows)},
    }


def _named(rates: dict[str, tuple[float, float]]) -> dict:
    out = {}
    for source, (fhr, recall) in rates.items():
        out[f"{source}_false_hit_rate"] = round(fhr, 4)
        out[f"{source}_recall"] = round(recall, 4)
    return out


def write(model: dict, path: Path = MODEL_PATH) -> None:
    path.write_text(json.dumps(model, indent=1) + "\n")
