"""Times named in a question, resolved against the moment it is asked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memoryapp.retrieval.time_hints import Period, asks_about_the_past, question_period

NOW = datetime(2024, 5, 20, 12, tzinfo=UTC)
YEAR_START = datetime(2024, 1, 1, tzinfo=UTC)


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


def test_in_a_week_ago_is_a_week_ago_not_a_week_ahead() -> None:
    period = question_period("What event did I take part in a week ago?", NOW)

    assert period is not None
    assert period.start <= datetime(2024, 5, 13, tzinfo=UTC) < period.end
    assert period.end <= NOW


def test_the_longer_ago_the_looser_the_period() -> None:
    recent = question_period("What did I buy 3 days ago?", NOW)
    distant = question_period("What did I buy ten weeks ago?", NOW)

    assert recent is not None and distant is not None
    assert recent.end - recent.start == timedelta(days=3)  # the day, a day either side
    # Ten weeks is 70 days: a fifth of that (14 days) either side of the day.
    assert distant.end - distant.start == timedelta(days=29)


@pytest.mark.parametrize(
    ("question", "start"),
    [
        ("What trips did I take in the past three months?", datetime(2024, 2, 20, tzinfo=UTC)),
        ("Which books have I read over the last few weeks?", datetime(2024, 4, 29, tzinfo=UTC)),
        ("What did I cook in the past 10 days?", datetime(2024, 5, 10, tzinfo=UTC)),
        ("What did I read in the past month?", datetime(2024, 4, 20, tzinfo=UTC)),
    ],
)
def test_the_past_n_months_runs_from_then_until_now(question: str, start: datetime) -> None:
    assert question_period(question, NOW) == Period(start, NOW + timedelta(days=1))


def test_last_weekend_has_ended_and_this_weekend_is_the_nearest() -> None:
    monday = NOW  # 20 May 2024
    friday = datetime(2024, 5, 24, 15, tzinfo=UTC)
    sunday = datetime(2024, 5, 26, 15, tzinfo=UTC)
    saturday_18th = Period(datetime(2024, 5, 18, tzinfo=UTC), datetime(2024, 5, 20, tzinfo=UTC))
    saturday_25th = Period(datetime(2024, 5, 25, tzinfo=UTC), datetime(2024, 5, 27, tzinfo=UTC))

    assert question_period("What did I do last weekend?", monday) == saturday_18th
    assert question_period("What did I do last weekend?", sunday) == saturday_18th
    assert question_period("Any plans this weekend?", sunday) == saturday_25th
    assert question_period("Any plans this weekend?", friday) == saturday_25th
    assert question_period("How was this weekend?", monday) == saturday_18th


@pytest.mark.parametrize(
    ("question", "period"),
    [
        ("What did I buy last month?", month(2024, 4)),
        ("Where did I travel last year?", Period(datetime(2023, 1, 1, tzinfo=UTC), YEAR_START)),
        ("What have I read this year?", Period(YEAR_START, datetime(2025, 1, 1, tzinfo=UTC))),
    ],
)
def test_last_month_and_last_year_are_calendar_periods(question: str, period: Period) -> None:
    assert question_period(question, NOW) == period


def test_a_few_days_ago_counts_as_three() -> None:
    period = question_period("What did I buy a few days ago?", NOW)

    assert period == Period(datetime(2024, 5, 16, tzinfo=UTC), datetime(2024, 5, 19, tzinfo=UTC))


@pytest.mark.parametrize(
    "question",
    [
        "Do you think this may be an allergy?",
        "I may go to Lisbon, is that wise?",
        "How are you?",
        "How many days a week do I go to the gym?",
        "I swim twice a month, is that enough?",
        "Do I usually go hiking on the weekend?",
        "Should I water it every 3 days?",
        "I have been going to the gym for 2 weeks.",
        "What did I see in the last 2 days of my trip to Rome?",
        "What did I do in Chicago?",
    ],
)
def test_no_time_is_read_into_questions_that_name_none(question: str) -> None:
    assert question_period(question, NOW) is None


def test_questions_about_the_past_are_recognised() -> None:
    assert asks_about_the_past("Where did I use to live?")
    assert asks_about_the_past("Where was I working before?")
    assert not asks_about_the_past("Where do I live?")
