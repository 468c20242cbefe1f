"""Reads that find what an answer should know: hybrid, time-aware retrieval over one owner's
memory, packed into a token budget as numbered units the answer can cite.

Candidates come from closed segments (retrieval key and summary), facts (active ones; with a
question about the past, superseded ones too, labelled as past) and the messages not yet
covered by a consolidated segment. Dense and lexical lists are fused by reciprocal rank; a
time named in the question boosts what happened then. Everything is scoped to the owner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User

from memoryapp.embeddings import embed_texts
from memoryapp.models import Fact, Message, Profile, Segment
from memoryapp.retrieval import search
from memoryapp.retrieval.time_hints import Period, asks_about_the_past, question_period
from memoryapp.selectors.conversations import recent_turns

# A unit longer than this keeps only its messages closest to the question.
UNIT_MAX_TOKENS = 300
# Added to the fused score of units from the period the question names.
TIME_BOOST = 2 / 61
_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """Tokens as the packing budget counts them: words and punctuation marks (model-free)."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class ContextUnit:
    """One numbered piece of memory in the prompt, with the messages it brings."""

    number: int
    kind: str  # "segment" | "fact" | "message"
    text: str
    message_ids: tuple[UUID, ...]
    score: float
    tokens: int
    ref_id: UUID  # the segment, fact or message


@dataclass(frozen=True)
class AnswerContext:
    """What the answer prompt is built from: the profile, the packed memory units and the
    conversation's recent turns (oldest first)."""

    turns: list[Message]
    units: list[ContextUnit] = field(default_factory=list)
    profile: str = ""

    @property
    def memories(self) -> list[str]:
        return [f"[{unit.number}] {unit.text}" for unit in self.units]


def _line(message: Message) -> str:
    return f"[{message.created_at:%Y-%m-%d}] {message.speaker or message.role}: {message.content}"


def _closest_lines(messages: list[Message], query: np.ndarray, budget: int) -> list[Message]:
    """The messages most similar to the query that fit `budget`, in conversation order."""

    def similarity(message: Message) -> float:
        if message.embedding is None:
            return -1.0
        return float(np.dot(np.asarray(message.embedding, dtype=np.float32), query))

    chosen, used = [], 0
    for message in sorted(messages, key=similarity, reverse=True):
        cost = count_tokens(_line(message))
        if used + cost <= budget:
            chosen.append(message)
            used += cost
    return sorted(chosen, key=lambda m: m.sequence)


@dataclass
class _Candidate:
    kind: str
    ref_id: UUID
    score: float
    messages: list[Message] = field(default_factory=list)
    text: str = ""
    source_ids: tuple[UUID, ...] = ()
    when: tuple[datetime | None, datetime | None] = (None, None)


def _fact_text(fact: Fact) -> str:
    if fact.status == Fact.Status.SUPERSEDED:
        until = f"{fact.valid_to:%Y-%m-%d}" if fact.valid_to else "some time"
        return f"Fact, no longer true since {until}: {fact.text}"
    since = f" (since {fact.valid_from:%Y-%m-%d})" if fact.valid_from else ""
    return f"Fact{since}: {fact.text}"


def _load(owner: User, scores: dict[tuple[search.Kind, str], float]) -> list[_Candidate]:
    """The scored units' rows, loaded in bulk, in the order of `scores`."""
    keys = list(scores)
    ids = {kind: [key for k, key in keys if k == kind] for kind in ("segment", "fact", "message")}
    segments = Segment.objects.filter(owner=owner, pk__in=ids["segment"]).in_bulk()
    facts = (
        Fact.objects.filter(owner=owner, pk__in=ids["fact"])
        .prefetch_related("source_messages")
        .in_bulk()
    )
    messages = Message.objects.filter(owner=owner, pk__in=ids["message"]).in_bulk()
    by_segment: dict[UUID, list[Message]] = {}
    for message in Message.objects.filter(owner=owner, segment__in=list(segments)).order_by(
        "sequence"
    ):
        if message.segment_id is not None:
            by_segment.setdefault(message.segment_id, []).append(message)
    found: list[_Candidate] = []
    for kind, key in keys:
        uuid = UUID(key)
        score = scores[(kind, key)]
        if kind == "segment" and uuid in segments:
            segment = segments[uuid]
            found.append(
                _Candidate(
                    kind,
                    uuid,
                    score,
                    messages=by_segment.get(uuid, []),
                    when=(segment.start_at, segment.end_at),
                )
            )
        elif kind == "fact" and uuid in facts:
            fact = facts[uuid]
            sources = tuple(m.pk for m in fact.source_messages.all())
            found.append(
                _Candidate(
                    kind,
                    uuid,
                    score,
                    text=_fact_text(fact),
                    source_ids=sources,
                    when=(fact.valid_from or fact.recorded_at, fact.valid_to),
                )
            )
        elif kind == "message" and uuid in messages:
            message = messages[uuid]
            found.append(
                _Candidate(kind, uuid, score, messages=[message], when=(message.created_at, None))
            )
    return found


def _boost(candidates: list[_Candidate], period: Period | None) -> None:
    if period is None:
        return
    for candidate in candidates:
        if period.overlaps(*candidate.when):
            candidate.score += TIME_BOOST


def _pack(
    candidates: Iterable[_Candidate], query: np.ndarray, budget: int, seen: set[UUID]
) -> list[ContextUnit]:
    """Units in rank order while they fit; messages already in the context are not repeated."""
    units: list[ContextUnit] = []
    left = budget
    for candidate in candidates:
        if candidate.kind == "fact":
            if candidate.source_ids and set(candidate.source_ids) <= seen:
                continue  # what the fact says is in the context already, in full
            text, message_ids = candidate.text, candidate.source_ids
        else:
            fresh = [m for m in candidate.messages if m.pk not in seen and m.content.strip()]
            chosen = _closest_lines(fresh, query, min(UNIT_MAX_TOKENS, left))
            if not chosen:
                continue
            text = "\n".join(_line(m) for m in chosen)
            message_ids = tuple(m.pk for m in chosen)
        tokens = count_tokens(text)
        if tokens > left:
            continue
        units.append(
            ContextUnit(
                number=len(units) + 1,
                kind=candidate.kind,
                text=text,
                message_ids=message_ids,
                score=candidate.score,
                tokens=tokens,
                ref_id=candidate.ref_id,
            )
        )
        seen.update(message_ids)
        left -= tokens
        if left < 20:
            break
    return units


def retrieve_units(
    *,
    owner: User,
    question: str,
    now: datetime,
    token_budget: int,
    exclude_message_ids: Sequence[UUID] = (),
) -> list[ContextUnit]:
    """The owner's memory most relevant to `question`, packed into `token_budget` tokens
    (counted by `count_tokens`), numbered in packed order. Never another owner's rows."""
    query = embed_texts([question])[0]
    vector = query.tolist()
    facts = search.FACTS_ALL if asks_about_the_past(question) else search.FACTS_CURRENT
    excluded = [str(m) for m in exclude_message_ids]
    owner_id = owner.pk
    lists = [
        search.dense(search.SEGMENTS, "key_embedding", query=vector, owner_id=owner_id),
        search.dense(search.SEGMENTS, "summary_embedding", query=vector, owner_id=owner_id),
        search.lexical(search.SEGMENTS, question=question, owner_id=owner_id),
        search.dense(facts, "embedding", query=vector, owner_id=owner_id),
        search.lexical(facts, question=question, owner_id=owner_id),
        search.dense(
            search.FRESH_MESSAGES, "embedding", query=vector, exclude=excluded, owner_id=owner_id
        ),
        search.lexical(
            search.FRESH_MESSAGES, question=question, exclude=excluded, owner_id=owner_id
        ),
    ]
    scores = search.reciprocal_rank_fusion(lists)
    candidates = _load(owner, scores)
    _boost(candidates, question_period(question, now))
    candidates.sort(key=lambda c: (-c.score, c.kind, str(c.ref_id)))
    return _pack(candidates, query, token_budget, seen=set(exclude_message_ids))


def profile_text(owner: User) -> str:
    profile = Profile.objects.filter(owner=owner).first()
    return profile.summary if profile else ""


def context_for_answer(*, answer: Message) -> AnswerContext:
    """Profile, memory for the question being answered, and the recent turns."""
    turns = recent_turns(answer=answer)
    question = answer.reply_to.content if answer.reply_to else ""
    units = (
        retrieve_units(
            owner=answer.owner,
            question=question,
            now=answer.created_at,
            token_budget=settings.CHAT_MEMORY_TOKENS,
            exclude_message_ids=[t.pk for t in turns],
        )
        if question.strip()
        else []
    )
    return AnswerContext(turns=turns, units=units, profile=profile_text(answer.owner))


_OVERVIEW = re.compile(
    r"\bwhat do you (?:know|remember) about me\b|\bwhat have you learn(?:ed|t) about me\b",
    re.IGNORECASE,
)
OVERVIEW_FACTS = 25


def is_overview_question(question: str) -> bool:
    """ "What do you know about me?" and its close variants."""
    return bool(_OVERVIEW.search(question))


def overview_units(*, owner: User) -> list[ContextUnit]:
    """The owner's active facts, most confident first, as citable units with their sources."""
    facts = (
        Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE)
        .prefetch_related("source_messages")
        .order_by("-confidence", "-recorded_at")[:OVERVIEW_FACTS]
    )
    return [
        ContextUnit(
            number=number,
            kind="fact",
            text=fact.text,
            message_ids=tuple(m.pk for m in fact.source_messages.all()),
            score=fact.confidence,
            tokens=count_tokens(fact.text),
            ref_id=fact.pk,
        )
        for number, fact in enumerate(facts, start=1)
    ]
