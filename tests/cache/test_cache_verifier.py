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


@pytest.mark.parametrize(
    "a, b",
    [
        (
            "Is there a planet in the universe as big as our Sun?",
            "Is there any planet in the universe that is bigger than our sun?",
        ),
        ("Is the A100 as fast as the H100?", "Is the A100 faster than the H100?"),
        ("Is Rust as safe as Go?", "Is Rust safer than Go?"),
        ("Is the MI300 as popular as the H100?", "Is the MI300 more popular than the H100?"),
    ],
)
def test_as_big_as_is_not_bigger_than(a, b):
    assert verify(a, b, similarity=0.99).reason == "comparison degree"


def test_the_same_comparison_in_other_words_is_not_a_degree_change():
    assert verify("Is the A100 as fast as the H100?", "Is the A100 as quick as the H100?", 0.97).ok
    assert verify("Is the H100 bigger than the A100?", "Is the H100 larger than the A100?", 0.97).ok


@pytest.mark.parametrize(
    "a, b",
    [
        (
            "What are the pros and cons of San Francisco Ballot Measure G (2014)?",
            "What are the pros and cons of San Francisco Ballot Measure L (2014)?",
        ),
        ("What are the safety issues concerning vitamin E?", "What are the safety issues?"),
        ("How do I find the voltage at node X?", "How do I find the voltage at node Y?"),
    ],
)
def test_a_letter_used_as_a_name_counts_as_a_name(a, b):
    assert verify(a, b, similarity=0.97).reason == "names"


def test_the_pronoun_i_and_an_article_are_not_letter_names():
    assert verify("Can I use a DAC cable?", "Can I use a DAC cable for this?", 0.97).ok


@pytest.mark.parametrize(
    "a, b",
    [
        (
            "How can you determine the specific heat capacity of silver?",
            "What is the specific heat capacity of silver?",
        ),
        ("How do I calculate the TDP of a server?", "What is the TDP of a server?"),
        ("How is memory bandwidth measured?", "What is the memory bandwidth?"),
    ],
)
def test_how_to_compute_something_is_not_what_it_is(a, b):
    assert verify(a, b, similarity=0.97).reason == "method vs value"


def test_how_to_find_something_may_ask_for_it():
    # "find" also means "look up": "How do I find the BMC's IP address?" asks for it
    assert verify(
        "How do I find the IP address of the BMC?", "What is the IP address of the BMC?", 0.97
    ).ok
    # both asking for the method is the same question
    assert verify("How do you calculate an average?", "How do you compute an average?", 0.97).ok
