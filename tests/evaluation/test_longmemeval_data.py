"""Reading LongMemEval files: turn ids, evidence, dates, and the import mapping."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.longmemeval_data import longmemeval_history, read_longmemeval
from tests.evaluation.samples import LONGMEMEVAL, write_json


def test_a_gzipped_file_reads_like_a_plain_one(tmp_path: Path) -> None:
    plain = read_longmemeval(write_json(tmp_path / "s.json", LONGMEMEVAL))
    packed = tmp_path / "s.json.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as handle:
        json.dump(LONGMEMEVAL, handle)

    assert read_longmemeval(packed) == plain
    assert [q.question_id for q in plain] == ["q1", "q2_abs", "q3"]
    assert plain[0].asked_at == datetime(2023, 6, 1, 10, 0, tzinfo=UTC)


def test_evidence_is_the_user_turns_marked_has_answer(tmp_path: Path) -> None:
    q1, q2, q3 = read_longmemeval(write_json(tmp_path / "s.json", LONGMEMEVAL))

    # s2:1 is an assistant turn marked has_answer: not user-side evidence.
    assert q1.evidence() == ["s2:2"]
    assert q2.is_abstention
    assert q3.evidence() == []


def test_history_names_turns_by_session_and_position_counting_both_roles(
    tmp_path: Path,
) -> None:
    question = read_longmemeval(write_json(tmp_path / "s.json", LONGMEMEVAL))[0]

    history = longmemeval_history(question)

    assert history.username == "lme-q1"
    assert [c.title for c in history.conversations] == ["Session 1 (s1)", "Session 2 (s2)"]
    second = history.conversations[1].messages
    assert [(m.external_id, m.role, m.speaker) for m in second] == [
        ("s2:0", "user", "user"),
        ("s2:1", "assistant", "assistant"),
        ("s2:2", "user", "user"),
        ("s2:3", "assistant", "assistant"),
    ]
    assert second[0].created_at == datetime(2023, 5, 21, 9, 0, tzinfo=UTC)
    assert second[3].created_at == datetime(2023, 5, 21, 9, 1, 30, tzinfo=UTC)


def test_an_unknown_role_is_an_error(tmp_path: Path) -> None:
    data = json.loads(json.dumps(LONGMEMEVAL[:1]))
    data[0]["haystack_sessions"][0][0]["role"] = "system"

    with pytest.raises(EvaluationError, match="unknown role 'system'"):
        read_longmemeval(write_json(tmp_path / "s.json", data))


def test_a_file_of_another_format_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="not a LongMemEval file"):
        read_longmemeval(write_json(tmp_path / "s.json", [{"question": "?"}]))
