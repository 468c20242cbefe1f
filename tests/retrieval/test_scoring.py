"""How list ranks become turn scores: neighbours, segments, the named person, the period."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from memoryapp.models import Message
from memoryapp.retrieval.scoring import (
    Focus,
    TurnEvidence,
    best_of,
    fused,
    question_focus,
    score_turns,
    without_names,
)
from memoryapp.retrieval.search import Hit
from memoryapp.retrieval.time_hints import Period
from memoryapp.retrieval.tuning import (
    NEIGHBOUR_WEIGHT,
    NEXT_SHARE,
    PREVIOUS_SHARE,
    RRF_K,
    SEGMENT_WEIGHT,
)

DAY = datetime(2024, 5, 10, 9, tzinfo=UTC)
CHAT = uuid.uuid4()


def turn(
    sequence: int,
    speaker: str = "Ann",
    at: datetime = DAY,
    segment: uuid.UUID | None = None,
    content: str = "",
) -> Message:
    return Message(
        id=uuid.uuid4(),
        conversation_id=CHAT,
        sequence=sequence,
        speaker=speaker,
        role="user",
        content=content or f"turn {sequence}",
        created_at=at,
        segment_id=segment,
    )


def test_fusion_adds_reciprocal_ranks_over_lists() -> None:
    scores = fused(
        [[Hit("message", "a", 0.9), Hit("message", "b", 0.8)], [Hit("message", "b", 3.0)]]
    )

    assert scores["b"] > scores["a"] > 0


def test_a_list_counts_by_its_weight() -> None:
    dense = [Hit("message", "a", 0.9)]
    lexical = [Hit("message", "b", 3.0)]

    scores = fused([dense, lexical], weights=[1.5, 1.0])

    assert scores == {"a": 1.5 / (RRF_K + 1), "b": 1.0 / (RRF_K + 1)}


def test_best_of_keeps_each_turn_once_at_its_best_similarity() -> None:
    whole_turns = [Hit("message", "a", 0.5), Hit("message", "b", 0.4), Hit("message", "c", 0.3)]
    best_sentences = [Hit("message", "c", 0.8), Hit("message", "a", 0.2), Hit("message", "d", 0.1)]

    merged = best_of([whole_turns, best_sentences], limit=3)

    assert merged == [
        Hit("message", "c", 0.8),
        Hit("message", "a", 0.5),
        Hit("message", "b", 0.4),
    ]


def test_an_answer_borrows_from_its_question_more_than_a_question_from_its_answer() -> None:
    question, answer = turn(1, content="Did you paint?"), turn(2, content="Yes, a sunset.")

    found_question = score_turns(
        [question, answer],
        TurnEvidence(turns={str(question.pk): 1.0}, segments={}),
        focus=None,
        period=None,
    )
    found_answer = score_turns(
        [question, answer],
        TurnEvidence(turns={str(answer.pk): 1.0}, segments={}),
        focus=None,
        period=None,
    )

    assert found_question[answer.pk] == NEIGHBOUR_WEIGHT * PREVIOUS_SHARE
    assert found_answer[question.pk] == NEIGHBOUR_WEIGHT * NEXT_SHARE
    assert found_question[answer.pk] > found_answer[question.pk]


def test_statements_lend_nothing_to_their_neighbours() -> None:
    before, middle, after = turn(1), turn(2), turn(3)
    evidence = TurnEvidence(turns={str(middle.pk): 1.0}, segments={})

    scores = score_turns([before, middle, after], evidence, focus=None, period=None)

    assert scores == {before.pk: 0.0, middle.pk: 1.0, after.pk: 0.0}


def test_turns_gain_their_segments_score() -> None:
    segment = uuid.uuid4()
    inside, outside = turn(1, segment=segment), turn(5)
    evidence = TurnEvidence(turns={}, segments={str(segment): 0.5})

    scores = score_turns([inside, outside], evidence, focus=None, period=None)

    assert scores[inside.pk] == SEGMENT_WEIGHT * 0.5
    assert scores[outside.pk] == 0.0


def test_the_named_speaker_and_the_named_period_lift_their_turns() -> None:
    anns, bobs = turn(1, "Ann"), turn(4, "Bob")
    old, recent = turn(8, "Bob", at=DAY - timedelta(days=90)), turn(12, "Bob")
    evidence = TurnEvidence(turns={str(t.pk): 0.1 for t in (anns, bobs, old, recent)}, segments={})
    may = Period(datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC))

    by_speaker = score_turns([anns, bobs], evidence, focus=Focus(speaker="Ann"), period=None)
    by_period = score_turns([old, recent], evidence, focus=None, period=may)

    assert by_speaker[anns.pk] > by_speaker[bobs.pk]
    assert by_period[recent.pk] > by_period[old.pk]


def test_the_focus_is_the_one_named_speaker_or_the_user_asking_in_the_first_person() -> None:
    speakers = ["Caroline", "Mel"]
    assert question_focus("What did caroline paint?", speakers) == Focus(speaker="Caroline")
    assert question_focus("Did Caroline and Mel meet?", speakers) is None
    assert question_focus("What about Melbourne?", speakers) is None
    assert question_focus("My dog's name?", []) == Focus(role="user")
    assert question_focus("What did I buy in Iceland?", []) == Focus(role="user")
    assert question_focus("Is it in Italy?", []) is None


def test_names_are_taken_out_of_the_dense_query() -> None:
    assert without_names("What did Caroline's son paint?", ["Caroline"]) == "What did son paint?"
    assert without_names("Caroline", ["Caroline"]) == "Caroline"  # never an empty query
