"""Realistic histories of any length for the import benchmark: the turns of LoCoMo sessions
(two people chatting) and LongMemEval sessions (a person and an assistant), replicated with
fresh dates and names.

Sessions are read with the evaluation's own readers (`locomo_data`, `longmemeval_data`);
LongMemEval haystacks share sessions, so each session id is taken once. A history is built
by taking sessions in a seeded order, from whichever source has given fewer messages so far
(so both kinds of conversation weigh the same), over and over: every pass over a source is a
new replica, whose LoCoMo speakers get new names (in their turns' text too) and whose turns
get new external ids. Conversations follow each other on a timeline starting at `START`, a
few hours to three days apart; turns keep the data's 30-second spacing. The last
conversation is cut so that the history has exactly the messages asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from memoryapp.benchmarks import BenchError
from memoryapp.evaluation import EvaluationError
from memoryapp.evaluation.locomo_data import locomo_history, read_locomo
from memoryapp.evaluation.longmemeval_data import longmemeval_history, read_longmemeval
from memoryapp.services.imports import ImportedConversation, ImportedMessage

START = datetime(2021, 1, 4, 9, 0, tzinfo=UTC)
GAP_HOURS = (3, 72)
NAMES = (
    "Ada", "Bruno", "Chiara", "Dmitri", "Esme", "Farid", "Greta", "Hiro", "Ines", "Jonas",
    "Kemal", "Lena", "Mateo", "Nadia", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tamsin",
    "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zofia",
)  # fmt: skip


@dataclass(frozen=True)
class Session:
    """One conversation of the data, its turns' times relative to its start."""

    source: str  # "locomo" | "longmemeval"
    title: str
    messages: tuple[ImportedMessage, ...]
    names: tuple[str, ...]  # the people's names to replace in a replica (LoCoMo's speakers)


@dataclass(frozen=True)
class Sources:
    locomo: tuple[Session, ...]
    longmemeval: tuple[Session, ...]

    def describe(self) -> str:
        def count(sessions: Sequence[Session]) -> str:
            turns = sum(len(s.messages) for s in sessions)
            return f"{len(sessions)} sessions, {turns:,} turns"

        return f"LoCoMo {count(self.locomo)}; LongMemEval {count(self.longmemeval)}"


def read_sources(locomo: Path | None, longmemeval: Path | None) -> Sources:
    """The sessions of the given files; raises `BenchError` when none can be read."""
    try:
        locomo_sessions = _locomo_sessions(locomo) if locomo else ()
        lme_sessions = _longmemeval_sessions(longmemeval) if longmemeval else ()
    except EvaluationError as exc:
        raise BenchError(str(exc)) from exc
    if not locomo_sessions and not lme_sessions:
        raise BenchError("no sessions with turns in the data files")
    return Sources(locomo_sessions, lme_sessions)


def _locomo_sessions(path: Path) -> tuple[Session, ...]:
    sessions = []
    for sample in read_locomo(path):
        names = (sample.speaker_a, sample.speaker_b)
        for conversation in locomo_history(sample).conversations:
            sessions.append(_session("locomo", conversation, names))
    return tuple(s for s in sessions if s.messages)


def _longmemeval_sessions(path: Path) -> tuple[Session, ...]:
    seen: set[str] = set()
    sessions = []
    for question in read_longmemeval(path):
        for conversation in longmemeval_history(question).conversations:
            first = conversation.messages[0].external_id if conversation.messages else ""
            session_id = first.rpartition(":")[0]
            if session_id and session_id not in seen:
                seen.add(session_id)
                sessions.append(_session("longmemeval", conversation, ()))
    return tuple(sessions)


def _session(source: str, conversation: ImportedConversation, names: tuple[str, ...]) -> Session:
    start = conversation.messages[0].created_at if conversation.messages else START
    messages = tuple(
        replace(m, created_at=START + (m.created_at - start)) for m in conversation.messages
    )
    return Session(source, conversation.title, messages, names)


def replicated_history(
    sources: Sources, messages: int, rng: np.random.Generator
) -> list[ImportedConversation]:
    """Conversations of exactly `messages` turns in all (see the module doc)."""
    names = FreshNames()
    streams = {
        name: _replicas(sessions, rng, names)
        for name, sessions in (("locomo", sources.locomo), ("longmemeval", sources.longmemeval))
        if sessions
    }
    given = dict.fromkeys(streams, 0)
    conversations: list[ImportedConversation] = []
    at = START
    total = 0
    while total < messages:
        source = min(given, key=lambda name: (given[name], name))
        conversation = next(streams[source])
        turns = conversation.messages[: messages - total]
        conversation = replace(
            conversation,
            messages=tuple(replace(m, created_at=at + (m.created_at - START)) for m in turns),
        )
        conversations.append(conversation)
        given[source] += len(turns)
        total += len(turns)
        at = conversation.messages[-1].created_at + timedelta(hours=float(rng.uniform(*GAP_HOURS)))
    return conversations


class FreshNames:
    """A new name for each person of each replica, the same one for all their turns."""

    def __init__(self) -> None:
        self.given: dict[tuple[int, str], str] = {}

    def of(self, replica: int, name: str) -> str:
        key = (replica, name)
        if key not in self.given:
            k = len(self.given)
            fresh = NAMES[k % len(NAMES)]
            if k >= len(NAMES):  # "Ada", ..., "Zofia", then "Adabruno", ...
                fresh += NAMES[(k // len(NAMES)) % len(NAMES)].lower()
            self.given[key] = fresh
        return self.given[key]


def _replicas(
    sessions: Sequence[Session], rng: np.random.Generator, names: FreshNames
) -> Iterator[ImportedConversation]:
    replica = 0
    while True:
        for index in rng.permutation(len(sessions)):
            yield _replica(sessions[int(index)], replica, names)
        replica += 1


def _replica(session: Session, replica: int, names: FreshNames) -> ImportedConversation:
    """The session with its people renamed and fresh external ids."""
    renames = {name: names.of(replica, name) for name in session.names}
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, renames)) + r")\b") if renames else None

    def renamed(text: str) -> str:
        return pattern.sub(lambda match: renames[match[1]], text) if pattern else text

    return ImportedConversation(
        title=renamed(session.title),
        messages=tuple(
            replace(
                m,
                speaker=renamed(m.speaker),
                content=renamed(m.content),
                external_id=f"{session.source}:{replica}:{m.external_id}",
            )
            for m in session.messages
        ),
    )
