"""Model routing: the lecture's rules, the weighted router, and routing in the service."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from reference_service.routing import (
    COMPLEXITY_SIGNALS,
    LectureRouter,
    WeightedRouter,
    default_weights,
    estimate_complexity,
    make_router,
)
from reference_service.routing.evaluate import evaluate, load, train

DATA = Path(__file__).parents[2] / "data" / "routing_queries.jsonl"
HARD = "Design a memory subsystem for a 4-GPU inference server and justify the HBM capacity."
EASY = "What does HBM stand for?"


def test_the_data_set_has_200_labelled_queries_and_a_held_out_split():
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    assert len(rows) >= 200
    assert {r["label"] for r in rows} == {"cheap", "strong"}
    test = [r for r in rows if r["split"] == "test"]
    assert len(test) >= 60 and {r["label"] for r in test} == {"cheap", "strong"}
    assert len({r["query"] for r in rows}) == len(rows)  # no duplicates across splits


def words(n: int, word: str = "memory") -> str:
    return " ".join([word] * n)


def test_lecture_rule_five_words_or_fewer_is_simple_even_with_a_signal():
    assert estimate_complexity("Why explain compare design architecture?") == "simple"  # 5
    assert estimate_complexity("Why explain compare design the architecture?") == "complex"  # 6
    assert estimate_complexity(words(5)) == "simple" and estimate_complexity("") == "simple"


def test_lecture_rule_over_50_words_is_complex():
    assert estimate_complexity(words(50)) == "simple"
    assert estimate_complexity(words(51)) == "complex"
    assert estimate_complexity("\t".join(["bus"] * 51)) == "complex"  # any whitespace splits


@pytest.mark.parametrize(
    "signal",
    [
        "compare",
        "difference",
        "why",
        "explain",
        "analyze",
        "implement",
        "design",
        "architecture",
        "tradeoff",
        "pros and cons",
    ],
)
def test_each_lecture_signal_makes_six_words_complex(signal):
    assert estimate_complexity(f"Tell me about {signal.upper()} for DDR5 please") == "complex"
    assert estimate_complexity(f"Tell me about {signal}s for DDR5 please") == "simple"
    # whole words only: "explains", "whys", "pros and conss" are not signals


def test_lecture_signals_are_exactly_the_lectures_ten():
    assert COMPLEXITY_SIGNALS == (
        r"\bcompare\b",
        r"\bdifference\b",
        r"\bwhy\b",
        r"\bexplain\b",
        r"\banalyze\b",
        r"\bimplement\b",
        r"\bdesign\b",
        r"\barchitecture\b",
        r"\btradeoff\b",
        r"\bpros and cons\b",
    )
    # what the rule does not know: spelling variants and close synonyms
    for near in ("analyse", "trade-off", "comparison", "explained", "designing"):
        assert estimate_complexity(f"Please {near} these two HBM stacks") == "simple", near


def test_lecture_rules_are_fooled_by_length_and_keywords():
    assert estimate_complexity("So why is it called DDR memory?") == "complex"  # trivial
    assert (
        estimate_complexity("Plan a firmware rollout for 2,000 servers with canaries.") == "simple"
    )


def test_shipped_weights_are_what_train_produces():
    model = train(load(DATA))
    assert model["weights"] == default_weights()


def test_weighted_router_beats_the_lecture_rules_on_held_out_queries():
    report = evaluate(load(DATA), WeightedRouter(default_weights()), 0.5)
    rows = report["rows"]
    assert rows["weighted@0.5"]["accuracy"] > rows["lecture"]["accuracy"]
    assert rows["weighted@0.5"]["quality"] > rows["lecture"]["quality"]
    assert rows["weighted@0.5"]["usd_per_1k"] < rows["always_strong"]["usd_per_1k"]


def test_make_router():
    assert make_router("weighted").score(HARD) > 0.5 > make_router("weighted").score(EASY)
    assert isinstance(make_router("lecture"), LectureRouter)
    with pytest.raises(ValueError):
        make_router("oracle")


def test_smart_routes_hard_to_strong_and_easy_to_cheap(client, mock):
    hard = client.post("/chat/smart", json={"message": HARD})
    easy = client.post("/chat/smart", json={"message": EASY})
    assert hard.json()["model_used"] == "gpt-4o" == hard.headers["x-model"]
    assert easy.json()["model_used"] == "gpt-4o-mini" == easy.headers["x-model"]
    assert hard.json()["routing"]["reason"] == "routed" == hard.headers["x-route-reason"]
    assert hard.json()["routing"]["router"] == "weighted"
    assert hard.json()["routing"]["score"] >= 0.5 > easy.json()["routing"]["score"]
    assert [r.body["model"] for r in mock.state.chat_requests()] == ["gpt-4o", "gpt-4o-mini"]


def test_a_pinned_model_is_not_routed(client):
    r = client.post("/chat", json={"message": HARD, "model": "gpt-4o-mini"})
    assert r.json()["model_used"] == "gpt-4o-mini"
    assert r.json()["routing"] == {
        "reason": "pinned",
        "router": None,
        "score": None,
        "fallback_from": None,
    }


def test_a_conversation_stays_on_its_first_model(client, mock):
    first = client.post("/chat/smart", json={"message": HARD}, headers={"X-Client-ID": "conv-1"})
    assert first.json()["model_used"] == "gpt-4o"
    history = [
        {"role": "user", "content": HARD},
        {"role": "assistant", "content": first.json()["answer"]},
    ]
    follow = client.post(
        "/chat/smart",
        json={"message": "What does HBM stand for?", "history": history},
        headers={"X-Client-ID": "conv-1"},
    )
    assert follow.json()["model_used"] == "gpt-4o"  # the easy follow-up stays on gpt-4o
    assert follow.json()["routing"]["reason"] == "sticky"
    with client.stream(
        "POST",
        "/chat/stream",
        json={"message": "ok", "history": history, "model": "auto"},
        headers={"X-Client-ID": "conv-1"},
    ) as s:
        s.read()
        assert s.headers["x-model"] == "gpt-4o" and s.headers["x-route-reason"] == "sticky"
    # another tenant's conversation with the same opening is routed on its own
    other = client.post(
        "/chat/smart",
        json={"message": "What does HBM stand for?", "history": history},
        headers={"X-Client-ID": "conv-2"},
    )
    assert other.json()["routing"]["reason"] == "routed"


def test_openai_front_door_routes_model_auto(service, mock):
    sdk = openai.OpenAI(base_url=service.url + "/v1", api_key="x", max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": HARD}]
    )
    assert raw.headers["x-model"] == "gpt-4o" and raw.parse().model == "gpt-4o"
    chunks = list(
        sdk.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": EASY}], stream=True
        )
    )
    assert chunks[0].model == "gpt-4o-mini"


def test_eval_compares_at_equal_spend_and_against_word_count_and_the_labels():
    report = evaluate(load(DATA), WeightedRouter(default_weights()), 0.5)
    rows = report["rows"]
    same = rows[f"weighted@{report['same_share_threshold']:.3f}"]
    assert same["strong_share"] == rows["lecture"]["strong_share"]
    assert rows["labels"]["accuracy"] == rows["labels"]["quality"] == 1.0
    assert rows["labels"]["strong_share"] == report["strong_needed"]
    assert f"words>={report['word_cut']}" in rows
    assert rows["always_strong"]["saving"] == 1.0
    assert rows["lecture"]["saving"] == pytest.approx(
        rows["always_strong"]["usd_per_1k"] / rows["lecture"]["usd_per_1k"]
    )
    assert rows["always_cheap"]["saving"] > rows["lecture"]["saving"] > 1.0


def test_word_count_cut_is_the_most_accurate_on_the_train_split_only():
    from reference_service.routing.evaluate import Example, word_count_cut

    def ex(n: int, strong: bool, split: str = "train") -> Example:
        return Example(words(n), strong, split)

    train_set = [ex(3, False), ex(4, False), ex(9, False), ex(7, True), ex(12, True)]
    assert word_count_cut(train_set) == 5  # 4 of 5 right at 5-7 and 10-12: the smallest
    assert word_count_cut([*train_set, ex(1, True, "test"), ex(30, False, "test")]) == 5


def test_same_share_threshold_sends_exactly_that_many_to_the_strong_model():
    from reference_service.routing.evaluate import same_share_threshold

    scores = [0.9, 0.2, 0.7, 0.4, 0.1]
    for k in range(len(scores) + 1):
        t = same_share_threshold(scores, k)
        assert sum(s >= t for s in scores) == k, (k, t)


def test_eval_cli_prints_every_row_lists_mistakes_and_writes_the_plot(
    tmp_path, monkeypatch, capsys
):
    from reference_service.routing.__main__ import main

    png = tmp_path / "routing.png"
    monkeypatch.setattr(
        "sys.argv", ["routing", "eval", "--data", str(DATA), "--mistakes", "--plot", str(png)]
    )
    main()
    out = capsys.readouterr().out
    report = evaluate(load(DATA), WeightedRouter(default_weights()), 0.5)
    for name, r in report["rows"].items():
        assert f"{name:<18} {r['accuracy']:>8.3f}" in out and f"{r['saving']:>6.1f}x" in out
    n_wrong = sum(1 for line in out.splitlines() if line.startswith("  needs "))
    assert "misrouted by lecture: " in out and "misrouted by weighted: " in out
    assert n_wrong == round((1 - report["rows"]["lecture"]["accuracy"]) * report["n"]) + round(
        (1 - report["rows"]["weighted@0.5"]["accuracy"]) * report["n"]
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
