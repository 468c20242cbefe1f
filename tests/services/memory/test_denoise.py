"""The deterministic text of memory units: compact turns and the extractive summary."""

from __future__ import annotations

import pytest

from memoryapp.services.memory.denoise import (
    Utterance,
    compact_turn,
    extractive_summary,
    retrieval_key,
    summary_candidates,
)


def test_a_turn_loses_greetings_filler_and_short_questions_but_keeps_its_content() -> None:
    text = "Hey Mel! Good to see you! I'm swamped with the kids & work. What's up with you?"

    assert compact_turn(text) == "Good to see you! I'm swamped with the kids & work."


def test_a_turn_that_is_only_questions_or_filler_is_kept() -> None:
    assert compact_turn("Where did you go?") == "Where did you go?"
    assert compact_turn("Thanks!") == "Thanks!"


def test_a_long_question_is_content_and_stays() -> None:
    text = "I adopted a dog. Can you suggest food for a three year old labrador with allergies?"

    assert compact_turn(text) == text


def test_summary_candidates_are_capped_and_spread_over_the_segment() -> None:
    utterances = [
        Utterance("Ann", f"This is content sentence number {n} here.") for n in range(100)
    ]

    found = summary_candidates(utterances, limit=10)

    assert len(found) == 10
    assert found[0].endswith("number 0 here.") and found[-1].endswith("number 99 here.")


def test_the_summary_is_the_most_central_sentences_in_their_order() -> None:
    candidates = [
        "Ann: The garden needs new tomato plants this spring.",
        "Ann: My sister called about the weekend.",
        "Bob: Tomato plants want sun, so the garden corner works.",
        "Bob: Water the tomato plants in the garden every morning.",
        "Ann: The traffic was terrible.",
    ]

    summary = extractive_summary(candidates, max_sentences=2)

    assert summary == f"{candidates[2]} {candidates[3]}"


def test_a_short_summary_keeps_every_candidate() -> None:
    assert extractive_summary(["Ann: One.", "Bob: Two."], max_sentences=3) == "Ann: One. Bob: Two."


@pytest.mark.parametrize(
    ("text", "compacted"),
    [
        ("So Caroline adopted a dog.", "So Caroline adopted a dog."),
        ("Great Britain voted in 2016.", "Great Britain voted in 2016."),
        ("Thanks Mel, that was kind.", "That was kind."),
        ("Oh, I see. I moved to Lisbon. I am 42.", "I moved to Lisbon. I am 42."),
    ],
)
def test_openers_go_only_when_punctuation_ends_them(text: str, compacted: str) -> None:
    assert compact_turn(text) == compacted


def test_sentences_that_differ_only_in_numbers_are_not_repeats() -> None:
    key = retrieval_key([Utterance("Ann", "The flight is at 9 am. The flight is at 11 am.")])

    assert key == "Ann: The flight is at 9 am. The flight is at 11 am."
