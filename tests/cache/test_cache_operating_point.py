"""The shipped operating point (reference_service/cache/operating_point.json) is what
`python -m reference_service.cache train` produces, and the service runs at it."""

from __future__ import annotations

import inspect
import json

import pytest

from reference_service import Settings
from reference_service.app import shared_embedder
from reference_service.cache import CacheConfig, train
from reference_service.cache.verifier import verify


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
    # the verifier's own entry point (tests, notebooks) judges at the same threshold
    assert inspect.signature(verify).parameters["threshold"].default == chosen


def row(source: str, label: int, cosine: float, passes: bool = True, group: str = "g") -> train.Row:
    return train.Row(source, group, label, False, cosine, False, passes, "q", "c")


def test_the_threshold_where_every_target_holds_with_the_most_room_is_chosen():
    # lab: 20 answerable pairs, 12 similar (0.96) and 8 less (0.90); one wrong hit at 0.91
    lab = [row("lab", 1, 0.96)] * 12 + [row("lab", 1, 0.90)] * 8 + [row("lab", 0, 0.91)]
    # QQP: 40 answerable pairs; wrong hits at 0.92 (2) and 0.86 (6)
    qqp = (
        [row("qqp", 1, 0.97)] * 10
        + [row("qqp", 1, 0.93)] * 10
        + [row("qqp", 1, 0.88)] * 10
        + [row("qqp", 1, 0.70)] * 10
        + [row("qqp", 0, 0.92)] * 2
        + [row("qqp", 0, 0.86)] * 6
    )
    rows = lab + qqp
    # at 0.96 QQP recall is 0.25 (no room), at 0.88 its precision is 30/38 (below 0.88);
    # from 0.925 to 0.93 every target holds, QQP precision 20/20 and recall 0.5
    assert train.rates(rows, 0.93, "qqp") == {
        "precision": 1.0,
        "recall": 0.5,
        "false_hit_rate": 0.0,
        "pairs": 48,
    }
    assert train.margin(rows, 0.96) == pytest.approx(0.0, abs=1e-9)  # QQP recall exactly 0.25
    assert train.margin(rows, 0.88) < 0
    assert train.choose(rows) == 0.925  # the lowest of the equally good 0.925-0.93


def test_room_is_counted_in_standard_errors_of_the_target():
    # 9 right hits of 10 against 0.88: (0.9 - 0.88) / sqrt(0.88 * 0.12 / 10)
    rows = [row("lab", 1, 0.99)] * 10 + [row("qqp", 1, 0.99)] * 9 + [row("qqp", 0, 0.99)]
    rows += [row("qqp", 1, 0.5)] * 26  # QQP recall 9/35
    room_precision = (0.9 - 0.88) / (0.88 * 0.12 / 10) ** 0.5
    room_recall = (9 / 35 - 0.25) / (0.25 * 0.75 / 35) ** 0.5
    assert train.margin(rows, 0.95) == pytest.approx(min(room_precision, room_recall))


def test_no_threshold_is_chosen_when_no_threshold_meets_the_targets():
    rows = [row("lab", 1, 0.995), row("lab", 0, 0.995), row("qqp", 1, 0.995)]
    assert train.choose(rows) is None


def test_a_pair_refused_by_a_rule_never_hits_and_an_aligned_one_always_does():
    refused = row("lab", 0, 0.999, passes=False)
    aligned = train.Row("lab", "g", 1, False, 0.35, True, True, "q", "c")
    assert not refused.hit(0.80)
    assert aligned.hit(0.99)
