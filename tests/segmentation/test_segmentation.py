"""The topic boundary detector on scripted conversations, with the real embedding model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from memoryapp.embeddings import embed_texts
from memoryapp.segmentation import (
    DEFAULT_PARAMS,
    SegmentationParams,
    Turn,
    boundaries,
    is_time_gap,
    settled_boundaries,
    window_features,
)

COOKING = [
    "I want to bake sourdough bread this weekend, how long should the dough rise?",
    "Let the dough rise for about four hours at room temperature, or overnight in the fridge.",
    "Should I add more flour if the dough feels sticky when I knead it?",
    "A little flour is fine, but a sticky dough usually gives a lighter, airier loaf.",
]
CAR = [
    "My car makes a grinding noise whenever I press the brake pedal.",
    "That grinding usually means the brake pads are worn down to the metal.",
    "Can I replace the brake pads myself with basic tools?",
    "Yes, with a jack, a lug wrench and a C-clamp to push the caliper piston back.",
]
ASTRONOMY = [
    "Which planets can I see in the night sky with a small telescope?",
    "Jupiter and Saturn are easy targets; you can see Saturn's rings and Jupiter's moons.",
    "When is the best time to look at the Andromeda galaxy?",
    "Autumn evenings away from city lights are best for spotting the Andromeda galaxy.",
]
# A longer conversation with subtler shifts, so that online decisions meet close calls.
MIXED = [
    *COOKING,
    "What temperature should the oven be for sourdough?",
    "Bake it at 230 degrees Celsius with steam for the first twenty minutes.",
    *CAR[:2],
    "How much does a brake job cost at a garage?",
    "Usually between 150 and 300 euros per axle, parts and labour included.",
    *ASTRONOMY,
    "Thanks, that is all for today.",
    "You're welcome, enjoy the stars!",
]
MONDAY_EVENING = datetime(2025, 3, 3, 20, 0, tzinfo=UTC)


def turns_of(
    texts: Sequence[str],
    *,
    roles: Sequence[str] | None = None,
    times: Sequence[datetime | None] | None = None,
) -> list[Turn]:
    vectors = embed_texts(list(texts))
    return [
        Turn(
            text=text,
            embedding=vector,
            role=roles[i] if roles else None,
            at=times[i] if times else None,
        )
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True))
    ]


def positions(flags: Sequence[bool]) -> list[int]:
    return [i for i, flag in enumerate(flags) if flag]


def every_minute(count: int, start: datetime = MONDAY_EVENING) -> list[datetime | None]:
    return [start + timedelta(minutes=i) for i in range(count)]


def test_boundaries_fall_where_the_topic_changes() -> None:
    flags = boundaries(turns_of(COOKING + CAR + ASTRONOMY))

    assert positions(flags) == [3, 7]
    assert len(flags) == 12


def test_one_topic_has_no_boundary() -> None:
    assert positions(boundaries(turns_of(COOKING))) == []


def test_a_new_day_starts_a_segment_within_one_topic() -> None:
    times = every_minute(2) + every_minute(2, MONDAY_EVENING + timedelta(hours=13))

    assert positions(boundaries(turns_of(COOKING, times=times))) == [1]


def test_a_long_silence_starts_a_segment_on_the_same_day() -> None:
    times = every_minute(2) + every_minute(2, MONDAY_EVENING + timedelta(minutes=45))

    assert positions(boundaries(turns_of(COOKING, times=times))) == [1]


def test_a_short_pause_across_midnight_does_not_split() -> None:
    before_midnight = datetime(2025, 3, 3, 23, 58, tzinfo=UTC)

    assert positions(boundaries(turns_of(COOKING, times=every_minute(4, before_midnight)))) == []


def test_calendar_days_are_read_in_the_earlier_turns_time_zone() -> None:
    lisbon, tokyo = ZoneInfo("Europe/Lisbon"), ZoneInfo("Asia/Tokyo")
    late = datetime(2025, 3, 3, 23, 50, tzinfo=lisbon)
    vector = np.ones(3)

    def pair(zone: ZoneInfo) -> tuple[Turn, Turn]:
        return (
            Turn(text="", embedding=vector, at=late.astimezone(zone)),
            Turn(text="", embedding=vector, at=(late + timedelta(minutes=15)).astimezone(zone)),
        )

    assert is_time_gap(*pair(lisbon))  # 23:50 to 00:05
    assert not is_time_gap(*pair(tokyo))  # 07:50 to 08:05


def test_unknown_times_make_no_time_gap() -> None:
    first, second = turns_of(COOKING[:2], times=[MONDAY_EVENING, None])

    assert not is_time_gap(first, second)


def test_boundaries_fall_only_before_user_turns() -> None:
    texts = COOKING[:3] + CAR + ASTRONOMY[:3]
    roles = ["user", "assistant"] * 5

    without_roles = boundaries(turns_of(texts))
    with_roles = boundaries(turns_of(texts, roles=roles))

    assert positions(without_roles) == [2, 6]  # each change falls before an assistant turn
    assert all(roles[i + 1] == "user" for i in positions(with_roles))


def test_roles_keep_an_answer_given_the_next_morning_with_its_question() -> None:
    roles = ["user", "assistant", "user", "assistant"]
    times = every_minute(1) + every_minute(3, MONDAY_EVENING + timedelta(hours=12))

    assert positions(boundaries(turns_of(COOKING, roles=roles, times=times))) == []


def test_topic_changes_are_found_with_roles_when_users_change_topic() -> None:
    roles = ["user", "assistant"] * 6

    assert positions(boundaries(turns_of(COOKING + CAR + ASTRONOMY, roles=roles))) == [3, 7]


def test_online_decisions_never_change_and_end_as_the_offline_ones() -> None:
    turns = turns_of(MIXED)
    offline = boundaries(turns)

    for count in range(len(turns) + 1):
        settled = settled_boundaries(turns[:count], final=False)
        assert settled == offline[: len(settled)]
        assert len(settled) == max(0, count - DEFAULT_PARAMS.lookahead)
    assert settled_boundaries(turns, final=True) == offline
    assert any(offline)


@pytest.mark.parametrize("roles", [None, ["user", "assistant"] * 8])
def test_the_pipeline_way_open_segment_plus_context_matches_offline(
    roles: list[str] | None,
) -> None:
    times = every_minute(13) + every_minute(len(MIXED) - 13, MONDAY_EVENING + timedelta(days=1))
    turns = turns_of(MIXED, times=times, roles=roles)

    offline = boundaries(turns)

    assert positions(offline) == ([5, 9, 12] if roles is None else [5, 9])
    assert replay_online(turns, context_size=6) == offline


def replay_online(turns: Sequence[Turn], context_size: int) -> list[bool]:
    """Feed turns one at a time as ingestion does: the open segment after a little context;
    cut where the settled decisions say; close the rest at the end."""
    cuts: list[int] = []
    opened = 0
    for count in range(1, len(turns) + 1):
        opened = settle(turns, cuts, opened, count, context_size, final=count == len(turns))
    flags = [False] * len(turns)
    for cut in cuts:
        flags[cut] = True
    return flags


def settle(
    turns: Sequence[Turn],
    cuts: list[int],
    opened: int,
    count: int,
    context_size: int,
    *,
    final: bool,
) -> int:
    first = max(0, opened - context_size)
    decided = settled_boundaries(turns[first:count], final=final, start=opened - first)
    for i, flag in enumerate(decided):
        if flag and first + i >= opened and first + i < count - 1:
            cuts.append(first + i)
    return cuts[-1] + 1 if cuts else 0


def test_context_before_start_is_ignored() -> None:
    context = turns_of(CAR)
    open_segment = turns_of(COOKING + ASTRONOMY)

    flags = settled_boundaries(context + open_segment, final=True, start=len(context))

    assert flags == [False, False, False, True, *boundaries(open_segment)]


def test_start_must_lie_within_the_turns() -> None:
    with pytest.raises(ValueError, match="start"):
        settled_boundaries(turns_of(COOKING[:1]), final=True, start=2)


def test_empty_and_single_turn_inputs() -> None:
    (only,) = turns_of(COOKING[:1])

    assert boundaries([]) == []
    assert settled_boundaries([], final=False) == []
    assert boundaries([only]) == [False]
    assert settled_boundaries([only], final=False) == []


def test_a_later_time_gap_settles_the_positions_before_it() -> None:
    times = [*every_minute(3), MONDAY_EVENING + timedelta(days=1)]

    assert settled_boundaries(turns_of(COOKING, times=times), final=False) == [
        False,
        False,
        True,
    ]


def test_min_turns_keeps_content_segments_long_enough() -> None:
    turns = turns_of(MIXED)
    params = replace(DEFAULT_PARAMS, min_turns=6)

    found = positions(boundaries(turns, params))

    assert found
    assert all(b - a >= 6 for a, b in zip([-1, *found], found, strict=False))


def test_features_cut_windows_at_the_segment_edges() -> None:
    vectors = np.eye(4)

    features = window_features(vectors, 1, 3, depth_radius=2)

    # turn 1 against the mean of turns 2-3: orthogonal; turn 2 against turn 3 only: too.
    assert features.shape == (2, 4)
    assert np.allclose(features[:, :2], 0.0)


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="min_turns"):
        SegmentationParams(min_turns=0)
    with pytest.raises(ValueError, match="weights"):
        SegmentationParams(weights=(1.0,))
