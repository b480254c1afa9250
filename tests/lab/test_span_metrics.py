"""The extractive answer metrics: SQuAD's normalisation and F1, and presence agreeing with ragas's StringPresence."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workbench.lab.scorers.span_metrics import answer_tokens, contains_reference, normalize_answer, token_f1


def test_squad_normalisation_and_f1_by_hand() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert answer_tokens("An apple, a pear.") == ["apple", "pear"]
    # SQuAD's F1: 2 of the answer's 4 tokens are the reference's 2 -> precision 0.5, recall 1.0
    assert token_f1("Denver Broncos won it", ["Denver Broncos"]) == pytest.approx(2 * 0.5 * 1.0 / 1.5)
    assert token_f1("Carolina Panthers", ["Denver Broncos", "Carolina"]) == pytest.approx(2 / 3)  # the best reference
    assert token_f1("nothing shared", ["Denver"]) == 0.0 and token_f1("anything", []) == 0.0


def test_presence_is_normalised_whole_tokens_over_every_reference() -> None:
    sentence = "The Denver Broncos defeated the Carolina Panthers 24-10 in 1990."
    assert contains_reference(sentence, ["denver broncos"]) == 1.0  # case and articles do not matter
    assert contains_reference(sentence, ["Seattle", "Carolina Panthers"]) == 1.0  # any reference counts
    assert contains_reference(sentence, ["199"]) == 0.0  # a number inside another is not the answer
    assert contains_reference(sentence, ["the"]) == 0.0  # a reference that normalises to nothing never matches
    assert contains_reference(sentence, []) == 0.0


@pytest.fixture(scope="module")
def ragas_string_presence():
    import os

    os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")  # as build_metrics does: no analytics thread
    from ragas import SingleTurnSample
    from ragas.metrics import StringPresence

    return SingleTurnSample, StringPresence


words = st.lists(st.sampled_from(["denver", "broncos", "won", "super", "bowl", "50", "carolina"]), min_size=1, max_size=8)


@settings(deadline=None, max_examples=60)
@given(words, words)
def test_presence_agrees_with_ragas_string_presence_on_normalised_text(ragas_string_presence, response, reference) -> None:
    """On text already normalised, ours is ragas's StringPresence at token boundaries."""
    SingleTurnSample, StringPresence = ragas_string_presence
    response_text, reference_text = " ".join(response), " ".join(reference)
    ragas_says = asyncio.run(
        StringPresence().single_turn_ascore(SingleTurnSample(response=f" {response_text} ", reference=f" {reference_text} "))
    )
    assert contains_reference(response_text, [reference_text]) == ragas_says
