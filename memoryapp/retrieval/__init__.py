"""Reads that find what an answer should know. Everything here is scoped to the owner."""

from __future__ import annotations

from dataclasses import dataclass, field

from memoryapp.models import Message
from memoryapp.selectors.conversations import recent_turns


@dataclass(frozen=True)
class AnswerContext:
    """What the answer prompt is built from.

    `memories` are remembered items rendered as text (empty until memory retrieval exists);
    `turns` are the conversation's recent messages, oldest first.
    """

    turns: list[Message]
    memories: list[str] = field(default_factory=list)


def context_for_answer(*, answer: Message) -> AnswerContext:
    """The seam where memory retrieval plugs in; for now the recent turns only."""
    return AnswerContext(turns=recent_turns(answer=answer))
