"""Reading LoCoMo files: sessions, dates, photos, evidence ids, and the import mapping."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.locomo_data import (
    locomo_history,
    normalise_evidence,
    parse_sample,
    read_locomo,
)
from tests.evaluation.samples import LOCOMO_SAMPLE, write_json


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["D1:3"], ["D1:3"]),
        (["D8:6; D9:17"], ["D8:6", "D9:17"]),
        (["D:11:26"], ["D11:26"]),
        (["D30:05"], ["D30:5"]),
        (["D1:3", "D1:3", " D2:1 "], ["D1:3", "D2:1"]),
        (["D4:1,D4:2"], ["D4:1", "D4:2"]),
        (["nonsense"], ["nonsense"]),
        ([], []),
    ],
)
def test_malformed_evidence_ids_are_normalised(raw: list[str], expected: list[str]) -> None:
    assert normalise_evidence(raw) == expected


def test_sessions_are_ordered_by_number_and_dated_in_utc() -> None:
    sample = parse_sample(LOCOMO_SAMPLE)

    assert [s.number for s in sample.sessions] == [1, 2]
    assert sample.sessions[0].started_at == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert sample.sessions[1].started_at == datetime(2023, 6, 27, 10, 37, tzinfo=UTC)
    assert sample.ended_at == datetime(2023, 6, 27, 10, 38, tzinfo=UTC)


def test_a_shared_photo_adds_its_caption_to_the_text() -> None:
    turn = parse_sample(LOCOMO_SAMPLE).sessions[0].turns[1]

    assert (
        turn.text
        == "Lovely! Look at my garden. [shares a photo: a photo of a garden with red roses]"
    )


def test_questions_keep_their_index_category_and_answer() -> None:
    questions = parse_sample(LOCOMO_SAMPLE).questions

    assert [q.index for q in questions] == [0, 1, 2, 3, 4, 5]
    assert questions[3].category == 5 and questions[3].answer == "Bob has no cat"
    assert questions[2].evidence == ("D1:1; D:2:2",)


def test_history_maps_speaker_a_to_user_and_spaces_turns_by_thirty_seconds() -> None:
    history = locomo_history(parse_sample(LOCOMO_SAMPLE))

    assert history.username == "locomo-conv-1"
    assert [c.title for c in history.conversations] == ["Session 1", "Session 2"]
    first = history.conversations[0].messages
    assert [(m.role, m.speaker, m.external_id) for m in first] == [
        ("user", "Ann", "D1:1"),
        ("assistant", "Bob", "D1:2"),
        ("user", "Ann", "D1:3"),
    ]
    assert [m.created_at.isoformat() for m in first] == [
        "2023-05-08T13:56:00+00:00",
        "2023-05-08T13:56:30+00:00",
        "2023-05-08T13:57:00+00:00",
    ]


def test_a_session_without_a_readable_date_is_an_error(tmp_path: Path) -> None:
    sample = copy.deepcopy(LOCOMO_SAMPLE)
    sample["conversation"]["session_2_date_time"] = "sometime"

    with pytest.raises(EvaluationError, match="session 2 has no readable date"):
        read_locomo(write_json(tmp_path / "bad.json", [sample]))


def test_a_file_of_another_format_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="not a LoCoMo file"):
        read_locomo(write_json(tmp_path / "other.json", {"questions": []}))
