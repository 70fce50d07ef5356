"""The replay (reference_service/cache/replay.py): the workload it builds, the lecture's
rule, and the bookkeeping of what each cache saved and got wrong."""

from __future__ import annotations

import json

import numpy as np

from reference_service.app import shared_embedder
from reference_service.cache.replay import (
    LECTURE_TTL_S,
    LectureRule,
    load_intents,
    make_questions,
    replay,
)


def write_pairs(tmp_path, pairs):
    path = tmp_path / "pairs.jsonl"
    keys = ("text_a", "text_b", "label", "split")  # a pair may leave out its split
    path.write_text("".join(json.dumps(dict(zip(keys, p, strict=False))) + "\n" for p in pairs))
    return path


def test_label_1_pairs_join_wordings_into_intents_and_label_0_pairs_mark_them_different(tmp_path):
    path = write_pairs(
        tmp_path,
        [
            ("What is BGP?", "Explain BGP", 1, "test"),
            ("Explain BGP", "What does BGP do?", 1, "test"),
            ("What is BGP?", "What is OSPF?", 0, "test"),
            ("What is RIP?", "What is OSPF?", 0, "train"),  # another split: left out
        ],
    )
    intents, different = load_intents([(path, "test")])
    assert sorted(map(sorted, intents)) == [
        ["Explain BGP", "What does BGP do?", "What is BGP?"],
        ["What is OSPF?"],
    ]
    bgp = next(i for i, words in enumerate(intents) if "Explain BGP" in words)
    assert different == {frozenset((bgp, 1 - bgp))}


def test_questions_follow_popularity_and_are_reproducible():
    intents = [[f"question {i}?"] for i in range(100)]
    a = make_questions(intents, 2000, 8, seed=1)
    assert a == make_questions(intents, 2000, 8, seed=1)
    assert [q.t for q in a] == sorted(q.t for q in a) and a[-1].t <= 8 * 3600
    counts = np.bincount([q.intent for q in a], minlength=100)
    # Zipf: the most asked intent far more often than the median one
    assert counts.max() > 10 * np.median(counts)
    assert all(q.text.lower().rstrip("?") == intents[q.intent][0].lower().rstrip("?") for q in a)


def test_the_lecture_rule_serves_the_best_match_at_095_until_it_expires():
    rule = LectureRule()
    e1, e2 = np.eye(3, dtype=np.float32)[:2]
    near = (0.96 * e1 + np.sqrt(1 - 0.96**2) * e2).astype(np.float32)
    rule.set(e1, 7, now=0.0)
    assert rule.get(near, now=10.0) == 7  # cosine 0.96
    far = (0.94 * e1 + np.sqrt(1 - 0.94**2) * e2).astype(np.float32)
    assert rule.get(far, now=10.0) is None  # cosine 0.94
    assert rule.get(e1, now=LECTURE_TTL_S - 1) == 7
    assert rule.get(e1, now=LECTURE_TTL_S) is None  # expired


def test_a_replay_accounts_for_every_question(tmp_path):
    path = write_pairs(
        tmp_path,
        [
            ("How do I reset the BMC?", "How can I reset the BMC?", 1, "test"),
            ("Is the H100 faster than the A100?", "Is the A100 faster than the H100?", 0, "test"),
            ("How long does shipping take?", "How long does shipping to Canada take?", 0, "test"),
        ],
    )
    report = replay(
        [(path, "test")], n=200, hours=4, seed=3, threshold=0.93, embedder=shared_embedder()
    )
    assert len(report["results"]) == 3 and report["questions"] == 200
    for r in report["results"]:
        assert r["calls_saved"] + r["llm_calls"] == 200
        right = r["calls_saved"] - r["wrong_answers"] - r["unlabelled_answers"]
        # a right answer needs the same intent asked before, within the expiry
        assert 0 <= right <= r["calls_saved"] and right * 100 / 200 <= r["perfect_cache_saves_pct"]
        assert 0 < r["usd_saved"] < r["usd_without_cache"]
    lecture, lab = report["results"][0], report["results"][1]
    # H100/A100 swapped scores 0.997: the lecture's rule serves it, the verifier does not
    assert lecture["wrong_answers"] > 0 and lab["wrong_answers"] == 0


async def test_a_notebook_can_await_the_replay_and_print_what_the_command_prints(tmp_path):
    from reference_service.cache.replay import areplay, format_report

    path = write_pairs(tmp_path, [("How do I reset the BMC?", "How can I reset the BMC?", 1, None)])
    report = await areplay([(path, None)], n=20, hours=1, embedder=shared_embedder())
    text = format_report(report)
    assert text.startswith("replay: 20 questions over 1 h, 1 intents asked")
    assert text.count("LLM calls saved") == 3
