"""`chat_bench --memory-messages N`: the bench user's memory, built from a realistic history
the way an import builds it, and questions about that history.

The history is `memory_bench import`'s (`scale.histories`: LoCoMo and LongMemEval turns
replicated with fresh names and dates); it is stored by `conversations_store` and built by
`memory_build` (message embeddings, passages, segments, consolidation), with memory's LLM
stages off as in `memory_bench import`, so the build takes minutes rather than hours of model
calls. A question asks about one of the people's turns by who said it and three of its
longest words, so that retrieval has something to find.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.auth.models import User
from django.db import transaction
from django.test import override_settings

from memoryapp.benchmarks.scale.histories import read_sources, replicated_history
from memoryapp.models import Citation, Message, Passage, Segment
from memoryapp.services.imports import (
    ImportedConversation,
    ImportedMessage,
    conversations_store,
    memory_build,
)

KEY_WORDS = 3
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")
_MIN_WORD_CHARS = 5
_COMMON = frozenset((
    "about", "after", "again", "always", "anything", "being", "could", "every", "everything",
    "first", "going", "great", "maybe", "other", "really", "right", "should", "since",
    "something", "still", "their", "there", "these", "thing", "things", "think", "those",
    "though", "through", "today", "where", "which", "while", "would", "years",
))  # fmt: skip


@dataclass(frozen=True)
class BuiltMemory:
    """What `memory_import` stored and built, and how long it took (seconds)."""

    messages: int
    conversations: int
    passages: int
    segments: int
    seconds: float

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        return (
            f"memory: {self.messages:,} messages in {self.conversations:,} conversations "
            f"built in {self.seconds:.1f} s ({self.messages_per_second:.1f} messages/s; "
            f"{self.passages:,} passages, {self.segments:,} segments; memory's LLM stages off)"
        )


@dataclass(frozen=True)
class MemoryQuestion:
    """A question about one turn of the history, and that turn's external id."""

    text: str
    external_id: str


def memory_history(
    *, locomo: Path, longmemeval: Path, messages: int, seed: int
) -> list[ImportedConversation]:
    """A history of exactly `messages` turns (`scale.histories`); BenchError when the files
    cannot be read."""
    sources = read_sources(locomo, longmemeval)
    return replicated_history(sources, messages, np.random.default_rng(seed))


def memory_import(*, owner: User, conversations: Sequence[ImportedConversation]) -> BuiltMemory:
    """Store `conversations` as `owner`'s and build their memory, as `memory_bench import`
    does (memory's LLM stages off)."""
    started = time.monotonic()
    with override_settings(MEMORY_LLM="off"):
        with transaction.atomic():
            conversations_store(owner=owner, conversations=conversations)
        memory_build(owner=owner)
    return BuiltMemory(
        messages=Message.objects.filter(owner=owner).count(),
        conversations=len(conversations),
        passages=Passage.objects.filter(owner=owner).count(),
        segments=Segment.objects.filter(owner=owner).count(),
        seconds=time.monotonic() - started,
    )


def _key_words(turn: ImportedMessage) -> list[str]:
    """The turn's `KEY_WORDS` longest distinct words (not its speaker's name, nor common
    words), in the order they were said."""
    words: dict[str, str] = {}
    for word in _WORD.findall(turn.content):
        lowered = word.lower()
        if (
            len(word) >= _MIN_WORD_CHARS
            and lowered not in _COMMON
            and lowered != turn.speaker.lower()
        ):
            words.setdefault(lowered, word)
    longest = sorted(words, key=lambda w: -len(w))[:KEY_WORDS]
    return [words[w] for w in words if w in longest]


def _question(turn: ImportedMessage, words: list[str]) -> str:
    # LongMemEval's person is the user ("I"); LoCoMo's people have names.
    who = "I" if turn.speaker == "user" else turn.speaker
    return f"What did {who} say about {', '.join(words[:-1])} and {words[-1]}?"


def memory_questions(
    conversations: Sequence[ImportedConversation], *, count: int, seed: int
) -> list[MemoryQuestion]:
    """`count` questions (fewer if the history has fewer people's turns of `KEY_WORDS` key
    words), each about a different turn, picked at random with `seed`."""
    turns = [
        (turn, words)
        for conversation in conversations
        for turn in conversation.messages
        if turn.by_person and len(words := _key_words(turn)) == KEY_WORDS
    ]
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(turns), size=min(count, len(turns)), replace=False)
    return [MemoryQuestion(_question(*turns[int(i)]), turns[int(i)][0].external_id) for i in picked]


def turn_in_context(*, answer: Message, external_id: str) -> bool:
    """Whether the turn `external_id` of the answer's owner was among the memory units the
    answer was given (its citations, cited or not)."""
    turn = Message.objects.filter(owner_id=answer.owner_id, external_id=external_id).first()
    return (
        turn is not None
        and Citation.objects.filter(answer=answer, message_ids__contains=[turn.pk]).exists()
    )
