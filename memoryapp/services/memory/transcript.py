"""Which words of a run of turns are memory: people's remembered turns, each with the part of
the assistant's turn before it that it responds to (`denoise.responded_to`) as context.

The user's words are the memory. An assistant's turn never counts on its own, since the
model's inventions must not become what the person is remembered by; it only explains a
short reply ("Where did she move?" before "Lisbon"). In an imported transcript of two people
both speakers are people (`Message.by_person`), so every turn counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memoryapp.models import Message
from memoryapp.services.memory.denoise import Utterance, responded_to


@dataclass(frozen=True)
class MemoryTurn:
    message: Message  # a person's remembered turn
    context: Message | None  # the assistant's turn just before it, when it responds to it
    context_text: str  # what of that turn it responds to

    @property
    def context_line(self) -> str:
        if self.context is None:
            return ""
        return f"{speaker_of(self.context)}: {self.context_text}"


def speaker_of(message: Message) -> str:
    return message.speaker or message.role


def memory_turn(message: Message, previous: Message | None) -> MemoryTurn:
    """A person's turn with its context from `previous`, the turn before it if known."""
    if (
        previous is None
        or previous.by_person
        or not previous.is_remembered
        or previous.private
        or previous.conversation_id != message.conversation_id
        or previous.sequence != message.sequence - 1
    ):
        return MemoryTurn(message=message, context=None, context_text="")
    text = responded_to(previous.content, message.content)
    return MemoryTurn(message=message, context=previous if text else None, context_text=text)


def memory_turns(messages: Sequence[Message]) -> list[MemoryTurn]:
    """The people's remembered turns of `messages` (turns of one conversation, in order),
    each with its context."""
    return [
        memory_turn(message, messages[index - 1] if index else None)
        for index, message in enumerate(messages)
        if message.is_memory
    ]


@dataclass(frozen=True)
class TranscriptPart:
    """A line of a transcript a model reads: a person's turn, or before it the assistant's
    words it responds to (`is_context`)."""

    message: Message
    text: str
    is_context: bool


def transcript_parts(turns: Sequence[MemoryTurn]) -> list[TranscriptPart]:
    """The turns as a model reads them, each after its context."""
    parts = []
    for turn in turns:
        if turn.context is not None:
            parts.append(TranscriptPart(turn.context, turn.context_text, is_context=True))
        parts.append(TranscriptPart(turn.message, turn.message.content, is_context=False))
    return parts


def context_first(parts: Sequence[TranscriptPart]) -> list[int]:
    """The order in which parts are left out of a prompt that cannot show them all: the
    assistant's words first, then people's turns; the oldest first."""
    return sorted(range(len(parts)), key=lambda index: not parts[index].is_context)


def memory_utterances(messages: Sequence[Message]) -> list[Utterance]:
    """`memory_turns` as the denoiser takes them."""
    return [
        Utterance(
            speaker=speaker_of(turn.message), text=turn.message.content, context=turn.context_line
        )
        for turn in memory_turns(messages)
    ]
