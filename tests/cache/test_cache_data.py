"""The cache's labelled data keeps what data/*.md says: held-out sets disjoint from what
is trained or tuned on, topic splits that share no topic, the counts documented."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import Counter

import pytest

from reference_service.cache import train

DATA = train.ROOT / "data"


def load(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def key(text: str) -> str:
    """A question as data/qqp_heldout.md compares them: NFKC, case-folded, no punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def test_held_out_qqp_pairs_share_no_question_with_the_dev_file():
    if not train.QQP_DEV.exists():
        pytest.skip(f"no QQP dev file at {train.QQP_DEV}")
    dev = {key(p[f]) for p in load(train.QQP_DEV) for f in ("text_a", "text_b")}
    held = load(DATA / "qqp_heldout.jsonl")
    assert len(held) == 461 and Counter(p["label"] for p in held) == {0: 278, 1: 183}
    assert not [p for p in held if key(p["text_a"]) in dev or key(p["text_b"]) in dev]
    assert len({(key(p["text_a"]), key(p["text_b"])) for p in held}) == len(held)


def test_the_second_held_out_qqp_sample_shares_no_question_with_dev_or_the_first():
    if not train.QQP_DEV.exists():
        pytest.skip(f"no QQP dev file at {train.QQP_DEV}")
    seen = {
        key(p[f])
        for path in (train.QQP_DEV, DATA / "qqp_heldout.jsonl")
        for p in load(path)
        for f in ("text_a", "text_b")
    }
    held = load(DATA / "qqp_heldout2.jsonl")
    assert len(held) == 455 and Counter(p["label"] for p in held) == {0: 301, 1: 154}
    assert not [p for p in held if key(p["text_a"]) in seen or key(p["text_b"]) in seen]
    assert len({(key(p["text_a"]), key(p["text_b"])) for p in held}) == len(held)


def test_topic_pairs_are_split_by_topic_as_documented():
    pairs = load(DATA / "cache_pairs_topics.jsonl")
    topics = {p["topic"] for p in pairs}
    by_split = {s: {p["topic"] for p in pairs if p["split"] == s} for s in ("train", "test")}
    assert len(pairs) == 352 and len(topics) == 44
    assert not by_split["train"] & by_split["test"]
    # the 13 topics whose name has the smallest sha256 are the test split
    first = sorted(topics, key=lambda t: hashlib.sha256(t.encode()).hexdigest())[:13]
    assert by_split["test"] == set(first)
    assert Counter((p["split"], p["label"]) for p in pairs) == {
        ("train", 1): 127,
        ("train", 0): 121,
        ("test", 1): 52,
        ("test", 0): 52,
    }


def test_training_never_sees_a_test_pair_or_a_test_topic():
    trained = train.load_training_pairs() if train.QQP_DEV.exists() else []
    if not trained:
        pytest.skip(f"no QQP dev file at {train.QQP_DEV}")
    test_texts = {
        (p["text_a"], p["text_b"])
        for f in ("cache_pairs_topics.jsonl", "cache_pairs.jsonl")
        for p in load(DATA / f)
        if p["split"] == "test"
    }
    test_topics = {
        p["topic"] for p in load(DATA / "cache_pairs_topics.jsonl") if p["split"] == "test"
    }
    lab = [(group, p) for source, group, p in trained if source == "lab"]
    assert lab and not [p for _, p in lab if (p["text_a"], p["text_b"]) in test_texts]
    assert not [g for g, _ in lab if g.removeprefix("topic:") in test_topics]
    # older pairs that mention a test topic's words are left out
    assert not [
        p
        for g, p in lab
        if g.startswith("old:")
        and any(w in f"{p['text_a']} {p['text_b']}".lower() for w in train.TEST_TOPIC_WORDS)
    ]
