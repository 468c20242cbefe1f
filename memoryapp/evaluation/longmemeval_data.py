"""The LongMemEval data set (xiaowu0162/LongMemEval; S, M and oracle files), .json or .json.gz.

A file is a list of questions, each with its own haystack: `haystack_sessions` (lists of
`{"role", "content", "has_answer"?}` turns), `haystack_session_ids`, `haystack_dates` like
"2023/05/20 (Sat) 02:21", and `question_id`, `question_type`, `question`, `answer`,
`question_date`.

As history for import, a question is one user ("lme-<question_id>") with one conversation per
haystack session, titled "Session <n> (<session_id>)". Turns keep their role, with "user" or
"assistant" as speaker, are 30 seconds apart from the session's date, and are named
"<session_id>:<index>", the index being the 0-based position in the session's full list of
turns (both roles). A session listed twice in a haystack is imported twice.

The evidence of a question is its user turns marked `has_answer`; questions ending in "_abs"
(abstention) have none by definition.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.dates import parse_time
from memoryapp.services.imports import ImportedConversation, ImportedHistory, ImportedMessage

TURN_SPACING = timedelta(seconds=30)
USERNAME_PREFIX = "lme-"
ROLES = ("user", "assistant")
_REQUIRED = {"question_id", "question", "haystack_sessions", "haystack_session_ids"}


@dataclass(frozen=True)
class LmeTurn:
    role: str
    content: str
    has_answer: bool


@dataclass(frozen=True)
class LmeSession:
    session_id: str
    started_at: datetime
    turns: tuple[LmeTurn, ...]

    def turn_id(self, index: int) -> str:
        return f"{self.session_id}:{index}"


@dataclass(frozen=True)
class LmeQuestion:
    question_id: str
    question_type: str
    question: str
    answer: str
    asked_at: datetime
    sessions: tuple[LmeSession, ...]

    @property
    def username(self) -> str:
        return f"{USERNAME_PREFIX}{self.question_id}"

    @property
    def is_abstention(self) -> bool:
        return self.question_id.endswith("_abs")

    def evidence(self) -> list[str]:
        """The ids of the user turns marked `has_answer`, in haystack order, once each."""
        found: list[str] = []
        for session in self.sessions:
            for index, turn in enumerate(session.turns):
                turn_id = session.turn_id(index)
                if turn.role == "user" and turn.has_answer and turn_id not in found:
                    found.append(turn_id)
        return found


def read_longmemeval(path: Path) -> list[LmeQuestion]:
    """The questions of a LongMemEval file; raises `EvaluationError` when it is not one."""
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                data = json.load(handle)
        else:
            data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, EOFError) as exc:
        raise EvaluationError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, list) or not all(_is_question(item) for item in data):
        raise EvaluationError(
            f"{path} is not a LongMemEval file (a list of objects with question_id, question, "
            "haystack_sessions, haystack_session_ids, haystack_dates)"
        )
    try:
        return [parse_question(item) for item in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise EvaluationError(f"{path}: {exc}") from exc


def _is_question(item: Any) -> bool:
    return isinstance(item, dict) and item.keys() >= _REQUIRED


def parse_question(item: dict[str, Any]) -> LmeQuestion:
    """One question from decoded JSON; raises KeyError/TypeError/ValueError when malformed."""
    question_id = str(item["question_id"])
    ids, dates, sessions = (
        item["haystack_session_ids"],
        item["haystack_dates"],
        item["haystack_sessions"],
    )
    if not len(ids) == len(dates) == len(sessions):
        raise ValueError(f"question {question_id}: haystack lists differ in length")
    return LmeQuestion(
        question_id=question_id,
        question_type=str(item.get("question_type", "")),
        question=str(item["question"]),
        answer=str(item.get("answer", "")),
        asked_at=_time(question_id, item["question_date"]),
        sessions=tuple(
            LmeSession(str(sid), _time(question_id, date), tuple(_turn(question_id, t) for t in s))
            for sid, date, s in zip(ids, dates, sessions, strict=True)
        ),
    )


def _time(question_id: str, text: Any) -> datetime:
    parsed = parse_time(str(text))
    if parsed is None:
        raise ValueError(f"question {question_id}: unreadable date {text!r}")
    return parsed


def _turn(question_id: str, turn: dict[str, Any]) -> LmeTurn:
    role = str(turn["role"])
    if role not in ROLES:
        raise ValueError(f"question {question_id}: unknown role {role!r}")
    return LmeTurn(
        role=role, content=str(turn.get("content") or ""), has_answer=bool(turn.get("has_answer"))
    )


def longmemeval_history(question: LmeQuestion) -> ImportedHistory:
    """The question's haystack as one user's history (see the module doc)."""
    return ImportedHistory(
        username=question.username,
        conversations=tuple(
            ImportedConversation(
                title=f"Session {number} ({session.session_id})",
                messages=tuple(
                    ImportedMessage(
                        role=turn.role,
                        speaker=turn.role,
                        content=turn.content,
                        created_at=session.started_at + index * TURN_SPACING,
                        external_id=session.turn_id(index),
                        by_person=turn.role == "user",
                    )
                    for index, turn in enumerate(session.turns)
                ),
            )
            for number, session in enumerate(question.sessions, start=1)
        ),
    )
