"""The shipped operating point (reference_service/cache/operating_point.json) is what
`python -m reference_service.cache train` produces, and the service runs at it."""

from __future__ import annotations

import json

import pytest

from reference_service import Settings
from reference_service.app import shared_embedder
from reference_service.cache import CacheConfig, train


def shipped() -> dict:
    return json.loads(train.OPERATING_POINT.read_text())


@pytest.mark.timeout(1200)  # embeds ~6,000 questions: a minute or two of CPU
def test_the_shipped_operating_point_is_what_the_train_command_produces():
    if not train.QQP_DEV.exists():  # the course's shared data, beside the checkout (CI has it)
        pytest.skip(f"no QQP dev file at {train.QQP_DEV}: the training data is not here")
    rows = train.build_rows(train.load_training_pairs(), shared_embedder())
    assert train.operating_point(rows) == shipped()


def test_the_service_runs_at_the_chosen_threshold():
    chosen = shipped()["similarity_threshold"]
    assert Settings(_env_file=None).cache_similarity_threshold == chosen
    assert CacheConfig().similarity_threshold == chosen


def row(source: str, label: int, cosine: float, passes: bool = True, group: str = "g") -> train.Row:
    return train.Row(source, group, label, False, cosine, False, passes, "q", "c")


def test_the_lowest_threshold_meeting_both_precision_targets_is_chosen():
    # lab: 20 right and 1 wrong (0.95 precision) up to 0.85, all right above
    lab = [row("lab", 1, 0.95)] * 20 + [row("lab", 0, 0.85)]
    # QQP: 16 right and 3 wrong (0.84) up to 0.87, 8 and 3 (0.73) up to 0.90, 8 and 0 above
    qqp = [row("qqp", 1, 0.95)] * 8 + [row("qqp", 0, 0.90)] * 3 + [row("qqp", 1, 0.87)] * 8
    assert train.choose(lab + qqp) == 0.91
    assert train.rates(lab + qqp, 0.91, "qqp") == {
        "precision": 1.0,
        "recall": 0.5,
        "false_hit_rate": 0.0,
        "pairs": 19,
    }
    assert train.rates(lab + qqp, 0.85, "lab")["precision"] == 0.9524


def test_no_threshold_is_chosen_when_no_threshold_meets_the_targets():
    rows = [row("lab", 1, 0.995), row("lab", 0, 0.995), row("qqp", 1, 0.995)]
    assert train.choose(rows) is None


def test_a_pair_refused_by_a_rule_never_hits_and_an_aligned_one_always_does():
    refused = row("lab", 0, 0.999, passes=False)
    aligned = train.Row("lab", "g", 1, False, 0.35, True, True, "q", "c")
    assert not refused.hit(0.80)
    assert aligned.hit(0.99)
