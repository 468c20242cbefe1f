"""Answering from the packed context, and LoCoMo's token F1."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import pytest

from memoryapp.evaluation.qa import answer, answer_prompt, normalise_answer, token_f1
from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend


@dataclass(frozen=True)
class Unit:
    text: str
    message_ids: tuple[UUID, ...] = ()
    tokens: int = 5


def test_normalisation_drops_case_punctuation_and_articles() -> None:
    assert normalise_answer("The Dog, and a Cat!") == "dog cat"


@pytest.mark.parametrize(
    ("prediction", "truth", "expected"),
    [
        ("Pixel", "pixel", 1.0),
        ("a dog named Pixel", "Pixel", 2 * (1 / 3) * 1 / (1 / 3 + 1)),
        ("Lisbon", "Porto", 0.0),
        ("", "Porto", 0.0),
        ("7 May 2023", "7 May, 2023", 1.0),
    ],
)
def test_token_f1(prediction: str, truth: str, expected: float) -> None:
    assert token_f1(prediction, truth) == pytest.approx(expected)


def test_the_prompt_numbers_the_units_and_dates_the_question() -> None:
    messages = answer_prompt(
        [Unit("Ann adopted Pixel."), Unit("Ann moved to Lisbon.")],
        "Where did Ann move?",
        datetime(2023, 6, 27, tzinfo=UTC),
    )

    user = messages[-1]["content"]
    assert "[1] Ann adopted Pixel.\n[2] Ann moved to Lisbon." in user
    assert "Today is 27 June 2023. Question: Where did Ann move?" in user


def test_the_answer_is_the_models_reply_stripped() -> None:
    with use_backend(ScriptedBackend([" Lisbon \n"])) as llm:
        reply = answer(llm, [Unit("Ann moved to Lisbon.")], "Where?", datetime.now(UTC))

    assert reply == "Lisbon"
