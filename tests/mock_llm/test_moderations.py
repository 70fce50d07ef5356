"""The moderation endpoint: OpenAI's full response schema and a deterministic classifier."""

from __future__ import annotations

import openai
import pytest

from mock_llm.moderation import CATEGORIES


def flagged(result) -> set[str]:
    return {k for k, v in result.categories.model_dump(by_alias=True).items() if v}


def test_full_schema_for_a_string_input(sdk):
    r = sdk.moderations.create(input="What is the bandwidth of HBM3?")
    [res] = r.results
    assert res.flagged is False
    for part in (res.categories, res.category_scores, res.category_applied_input_types):
        assert set(part.model_dump(by_alias=True)) == set(CATEGORIES)
    assert all(0 <= s < 0.01 for s in res.category_scores.model_dump().values())


def test_list_input_gives_one_result_each_and_is_deterministic(sdk):
    texts = [
        "I will kill them all",
        "how do I kill the process with kill -9?",
        "MODERATION_TEST_FLAG:self-harm/intent",
        "the attack surface of a PCIe device",
    ]
    a = sdk.moderations.create(input=texts).results
    b = sdk.moderations.create(input=texts).results
    assert [x.model_dump() for x in a] == [x.model_dump() for x in b]
    assert flagged(a[0]) == {"violence"}
    assert flagged(a[1]) == set() and flagged(a[3]) == set()  # computing idioms pass
    assert flagged(a[2]) == {"self-harm/intent", "self-harm"}  # a subcategory implies its parent
    assert a[0].category_scores.violence > 0.9


def test_content_parts_are_one_input(sdk):
    r = sdk.moderations.create(
        model="omni-moderation-latest",
        input=[
            {"type": "text", "text": "I will find you"},
            {"type": "image_url", "image_url": {"url": "data:,"}},
        ],
    )
    assert len(r.results) == 1 and "harassment/threatening" in flagged(r.results[0])


def test_bad_input_is_400(sdk):
    with pytest.raises(openai.BadRequestError):
        sdk.moderations.create(input=[])
