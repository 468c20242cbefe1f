"""Times named in a question, resolved against the moment it is asked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from memoryapp.retrieval.time_hints import Period, asks_about_the_past, question_period

NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)


def month(year: int, number: int) -> Period:
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return Period(datetime(year, number, 1, tzinfo=UTC), end)


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("What did I do last May?", month(2023, 5)),
        ("Last May, where did I go?", month(2023, 5)),
        ("what did i do last may?", month(2023, 5)),
        ("What did I do in May 2022?", month(2022, 5)),
        ("Where was I in March?", month(2024, 3)),
        ("maybe something in june", month(2023, 6)),
        (
            "What happened last spring?",
            Period(datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 6, 1, tzinfo=UTC)),
        ),
        (
            "What did I say last winter?",
            Period(datetime(2023, 12, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)),
        ),
    ],
)
def test_named_months_and_seasons(question: str, period: Period) -> None:
    assert question_period(question, NOW) == period


def test_relative_expressions_resolve_against_the_moment_asked() -> None:
    period = question_period("What was I reading two weeks ago?", NOW)

    assert period is not None
    assert period.start <= datetime(2024, 5, 6, tzinfo=UTC) < period.end


@pytest.mark.parametrize(
    "question",
    ["Do you think this may be an allergy?", "I may go to Lisbon, is that wise?", "How are you?"],
)
def test_no_time_is_read_into_questions_that_name_none(question: str) -> None:
    assert question_period(question, NOW) is None


def test_questions_about_the_past_are_recognised() -> None:
    assert asks_about_the_past("Where did I use to live?")
    assert asks_about_the_past("Where was I working before?")
    assert not asks_about_the_past("Where do I live?")
