"""The verifier's decisions (reference_service/cache/verifier.py), on question pairs."""

from __future__ import annotations

import pytest

from reference_service.cache.normalize import align_texts
from reference_service.cache.verifier import (
    ALIGNED_FLOOR,
    SAME_AFTER_ALIGNMENT,
    SIMILARITY,
    judge,
    verify,
)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (
            "Does the switch support the Link Aggregation Control Protocol?",
            "Does the switch support LACP?",
            "Does the switch support the LACP?",
        ),
        ("what is drive writes per day", "what is DWPD", "what is DWPD"),
        (
            "How many virtual LANs can a switch have?",
            "How many VLANs can a switch have?",
            "How many VLANs can a switch have?",
        ),
    ],
)
def test_a_long_form_is_aligned_to_the_acronym_on_the_other_side(a, b, expected):
    aligned_a, aligned_b, found = align_texts(a, b)
    assert (aligned_a, aligned_b, found) == (expected, b, 1)


@pytest.mark.parametrize(
    "a, b",
    [
        ("what is ASIC", "what is FPGA"),  # no letters to match
        ("How do I reset my API key?", "How do I reset my password?"),
    ],
)
def test_words_that_do_not_spell_the_acronym_are_left_alone(a, b):
    assert align_texts(a, b)[2] == 0


def test_an_acronym_and_its_long_form_are_served_below_the_threshold():
    served, why = judge("what is Border Gateway Protocol", "what is BGP", 0.42, 0.93)
    assert (served, why) == (True, SAME_AFTER_ALIGNMENT)
    # but not below the floor, nor when another word differs
    assert (
        judge("what is Border Gateway Protocol", "what is BGP", ALIGNED_FLOOR - 0.01, 0.93)[0]
        is False
    )
    assert judge("what is Border Gateway Protocol used for", "what is BGP", 0.6, 0.93)[0] is False


def test_exact_rules_refuse_even_an_aligned_pair():
    served, why = judge(
        "Does the portal support single sign-on for 5 users?",
        "Does the portal support SSO for 50 users?",
        0.97,
        0.93,
    )
    assert (served, why) == (False, "numbers")


@pytest.mark.parametrize(
    "a, b",
    [
        ("Can the BMC update the BIOS?", "Can the BIOS update the BMC?"),
        ("Can a user reset an admin's MFA?", "Can an admin reset a user's MFA?"),
        (
            "Why is write bandwidth higher than read bandwidth on my SSD?",
            "Why is read bandwidth higher than write bandwidth on my SSD?",
        ),
    ],
)
def test_roles_exchanged_are_refused_at_any_similarity(a, b):
    assert verify(a, b, similarity=0.999).reason in ("roles exchanged", "comparison order")


@pytest.mark.parametrize(
    "a, b",
    [
        ("The A100 uses which PCIe generation?", "Which PCIe generation does the A100 use?"),
        ("Shipping to Canada takes how long?", "How long does shipping to Canada take?"),
    ],
)
def test_a_reordered_question_is_not_a_role_swap(a, b):
    assert verify(a, b, similarity=0.97).ok


def test_a_name_on_one_side_only_is_refused_and_a_threshold_applies():
    assert verify("How do I update the BMC?", "How do I update the BIOS?", 0.95).reason == "names"
    assert judge("How do I restart the server?", "How do I reboot the server?", 0.92, 0.93) == (
        False,
        "below threshold",
    )
    assert judge("How do I restart the server?", "How do I reboot the server?", 0.94, 0.93) == (
        True,
        SIMILARITY,
    )
