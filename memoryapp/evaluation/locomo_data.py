"""The LoCoMo data set (snap-research/locomo, `locomo10.json` and files of its format).

A file is a list of samples: two speakers' conversation in dated sessions
(`conversation.session_<n>` turns with `speaker`, `dia_id`, `text`, optional `blip_caption`;
`conversation.session_<n>_date_time` like "1:56 pm on 8 May, 2023") and questions (`qa`:
`question`, `answer` or `adversarial_answer`, `evidence` dia_ids, `category` 1-5).

As history for import, a sample is one user ("locomo-<sample_id>") with one conversation per
session titled "Session <n>". speaker_a's turns become the "user" role and the others
(speaker_b's) the "assistant" role (a question is never cut from its answer at a topic
boundary); both are people (`by_person`), so both speakers' turns are memory. Both keep their
names as `speaker`.
A session's turns are 30 seconds apart from the session's time, and keep their dia_id as
`external_id`. A shared photo adds "[shares a photo: <caption>]" to the turn's text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.dates import parse_time
from memoryapp.services.imports import ImportedConversation, ImportedHistory, ImportedMessage

TURN_SPACING = timedelta(seconds=30)
USERNAME_PREFIX = "locomo-"
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
_SESSION_KEY = re.compile(r"session_(\d+)")
_EVIDENCE_ID = re.compile(r"D:?0*(\d+):0*(\d+)")


@dataclass(frozen=True)
class LocomoTurn:
    dia_id: str
    speaker: str
    text: str  # with the photo caption, when there is one


@dataclass(frozen=True)
class LocomoSession:
    number: int
    started_at: datetime
    turns: tuple[LocomoTurn, ...]

    def turn_time(self, index: int) -> datetime:
        return self.started_at + index * TURN_SPACING


@dataclass(frozen=True)
class LocomoQuestion:
    index: int  # position in the sample's `qa` list
    question: str
    answer: str
    category: int
    evidence: tuple[str, ...]  # as given, possibly malformed


@dataclass(frozen=True)
class LocomoSample:
    sample_id: str
    speaker_a: str
    speaker_b: str
    sessions: tuple[LocomoSession, ...]
    questions: tuple[LocomoQuestion, ...]

    @property
    def username(self) -> str:
        return f"{USERNAME_PREFIX}{self.sample_id}"

    @property
    def ended_at(self) -> datetime:
        """Just after the last turn of the last session (LoCoMo's questions are asked then)."""
        last = max(self.sessions, key=lambda session: session.started_at)
        return last.turn_time(len(last.turns))

    def dia_ids(self) -> set[str]:
        return {turn.dia_id for session in self.sessions for turn in session.turns}


def read_locomo(path: Path) -> list[LocomoSample]:
    """The samples of a LoCoMo file; raises `EvaluationError` when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EvaluationError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, list) or not all(_is_sample(item) for item in data):
        raise EvaluationError(
            f"{path} is not a LoCoMo file (a list of objects with sample_id, conversation, qa)"
        )
    try:
        return [parse_sample(item) for item in data]
    except (KeyError, TypeError, ValueError) as exc:
        raise EvaluationError(f"{path}: {exc}") from exc


def _is_sample(item: Any) -> bool:
    return isinstance(item, dict) and {"sample_id", "conversation", "qa"} <= item.keys()


def parse_sample(item: dict[str, Any]) -> LocomoSample:
    """One sample from decoded JSON; raises KeyError/TypeError/ValueError when malformed."""
    conversation = item["conversation"]
    sample_id = str(item["sample_id"])
    sessions = sorted(
        (
            _session(sample_id, int(match[1]), conversation)
            for key in conversation
            if (match := _SESSION_KEY.fullmatch(key)) and conversation[key]
        ),
        key=lambda session: session.number,
    )
    if not sessions:
        raise ValueError(f"sample {sample_id} has no sessions")
    return LocomoSample(
        sample_id=sample_id,
        speaker_a=str(conversation["speaker_a"]),
        speaker_b=str(conversation["speaker_b"]),
        sessions=tuple(sessions),
        questions=tuple(_question(i, qa) for i, qa in enumerate(item["qa"])),
    )


def _session(sample_id: str, number: int, conversation: dict[str, Any]) -> LocomoSession:
    raw_date = conversation.get(f"session_{number}_date_time")
    started_at = parse_time(str(raw_date)) if raw_date else None
    if started_at is None:
        raise ValueError(f"sample {sample_id}: session {number} has no readable date {raw_date!r}")
    turns = tuple(_turn(turn) for turn in conversation[f"session_{number}"])
    return LocomoSession(number=number, started_at=started_at, turns=turns)


def _turn(turn: dict[str, Any]) -> LocomoTurn:
    text = str(turn.get("text") or "").strip()
    caption = str(turn.get("blip_caption") or "").strip()
    if caption:
        text = f"{text} [shares a photo: {caption}]".strip()
    return LocomoTurn(dia_id=str(turn["dia_id"]), speaker=str(turn["speaker"]), text=text)


def _question(index: int, qa: dict[str, Any]) -> LocomoQuestion:
    answer = qa.get("answer", qa.get("adversarial_answer", ""))
    evidence = qa.get("evidence") or []
    return LocomoQuestion(
        index=index,
        question=str(qa["question"]),
        answer=str(answer),
        category=int(qa["category"]),
        evidence=tuple(str(e) for e in evidence),
    )


def normalise_evidence(raw: Sequence[str]) -> list[str]:
    """Evidence ids in the data's own dia_id form: "D8:6; D9:17" is two ids, "D:11:26" is
    "D11:26", "D30:05" is "D30:5". Parts that look like no id are kept as they are."""
    ids: list[str] = []
    for item in raw:
        for part in re.split(r"[;,\s]+", item.strip()):
            match = _EVIDENCE_ID.fullmatch(part)
            normal = f"D{int(match[1])}:{int(match[2])}" if match else part
            if normal and normal not in ids:
                ids.append(normal)
    return ids


def locomo_history(sample: LocomoSample) -> ImportedHistory:
    """The sample as one user's history: a conversation per session (see the module doc)."""
    return ImportedHistory(
        username=sample.username,
        conversations=tuple(
            ImportedConversation(
                title=f"Session {session.number}",
                messages=tuple(
                    _message(sample, session, index, turn)
                    for index, turn in enumerate(session.turns)
                ),
            )
            for session in sample.sessions
        ),
    )


def _message(
    sample: LocomoSample, session: LocomoSession, index: int, turn: LocomoTurn
) -> ImportedMessage:
    return ImportedMessage(
        role="user" if turn.speaker == sample.speaker_a else "assistant",
        speaker=turn.speaker,
        content=turn.text,
        created_at=session.turn_time(index),
        external_id=turn.dia_id,
        by_person=True,  # both speakers are people: both speakers' turns are memory
    )
