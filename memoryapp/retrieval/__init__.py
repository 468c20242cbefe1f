"""Reads that find what an answer should know: hybrid, time-aware retrieval over one owner's
memory, packed into a token budget as numbered units the answer can cite.

Candidates are the owner's turns (all messages: found by their own vector or that of their
nearest sentence, a passage; by full text; through their segment's retrieval key and
summary; or as the neighbour of a found turn) and facts (active ones; with a question about
the past, superseded ones too, labelled as past). Dense (pgvector) and full-text lists are
fused by weighted reciprocal rank (`scoring`), then packed (`packing`). Everything is scoped
to the owner in SQL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from memoryapp.embeddings import embed_texts
from memoryapp.models import Fact, FactSource, Message, Profile
from memoryapp.models.conversation import FOR_MEMORY, MEMORY
from memoryapp.retrieval import search
from memoryapp.retrieval.packing import Candidate, ContextUnit, pack
from memoryapp.retrieval.scoring import (
    TurnEvidence,
    best_of,
    fused,
    question_focus,
    score_turns,
    without_names,
)
from memoryapp.retrieval.search import Hit
from memoryapp.retrieval.time_hints import asks_about_the_past, question_period
from memoryapp.retrieval.tuning import DENSE_TURN_WEIGHT, SEGMENTS_EXPANDED, TURN_LIST_LENGTH
from memoryapp.selectors.conversations import recent_turns
from memoryapp.services.memory.transcript import MemoryTurn, memory_turn
from memoryapp.text import count_tokens, stems

__all__ = [
    "AnswerContext",
    "ContextUnit",
    "chat_memory_units",
    "context_for_answer",
    "count_tokens",
    "is_overview_question",
    "overview_units",
    "profile_text",
    "retrieve_units",
]

_CAPITALISED = re.compile(r"\b[A-Z][\w'-]*")


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


def _speakers_named(owner: User, question: str) -> list[str]:
    """The owner's speaker names that appear, capitalised, in the question."""
    words = {word.removesuffix("'s") for word in _CAPITALISED.findall(question)}
    if not words:
        return []
    found = Message.objects.filter(FOR_MEMORY, owner=owner, speaker__in=words)
    return sorted(set(found.order_by().values_list("speaker", flat=True).distinct()))


# Columns a candidate turn or fact never needs: its vector and full-text vector are the
# largest parts of a row (parsing the vectors alone took a third of a retrieval).
_UNUSED_COLUMNS = ("embedding", "search_vector")
# The turns just before and after each (conversation_id, sequence) pair of two arrays.
_AROUND_SQL = (
    "(conversation_id, sequence) IN (SELECT c, s + d FROM unnest(%s::uuid[], %s::int[]) "
    "AS found (c, s) CROSS JOIN (VALUES (-1), (1)) AS step (d))"
)


def _around(found: Sequence[Message]) -> RawSQL:
    pairs = [[m.conversation_id for m in found], [m.sequence for m in found]]
    return RawSQL(_AROUND_SQL, pairs, output_field=BooleanField())  # noqa: S611 - fixed SQL


def _candidate_turns(owner: User, evidence: TurnEvidence, excluded: set[UUID]) -> list[MemoryTurn]:
    """People's remembered turns that were listed, every such turn of the best segments, and
    those just before and after each of them (one query for the turns, one for their
    neighbours), each with the assistant's words it responds to as context. Private turns
    (incognito, or said while memory was paused) are never one of them, nor context."""
    best_segments = sorted(evidence.segments, key=lambda s: (-evidence.segments[s], s))
    found = list(
        Message.objects.filter(
            Q(pk__in=list(evidence.turns)) | Q(segment_id__in=best_segments[:SEGMENTS_EXPANDED]),
            MEMORY,
            owner=owner,
        )
        .defer(*_UNUSED_COLUMNS)
        .order_by()
    )
    known = {m.pk for m in found}
    neighbours = (
        [
            m
            for m in Message.objects.filter(_around(found), FOR_MEMORY, owner=owner)
            .defer(*_UNUSED_COLUMNS)
            .order_by()
            if m.pk not in known
        ]
        if found
        else []
    )
    found += [m for m in neighbours if m.by_person]
    at = {(m.conversation_id, m.sequence): m for m in [*found, *neighbours]}
    return [
        memory_turn(m, at.get((m.conversation_id, m.sequence - 1)))
        for m in found
        if m.pk not in excluded
    ]


def _facts_with_sources(owner: User, facts: QuerySet[Fact]) -> list[tuple[Fact, tuple[UUID, ...]]]:
    """`facts` (of `owner`) without their vectors, each with the ids of the messages it was
    learned from in conversation order (ids only: whole messages, vectors included, were
    most of a retrieval's time)."""
    loaded = list(facts.defer(*_UNUSED_COLUMNS))
    sources: dict[UUID, list[UUID]] = {fact.pk: [] for fact in loaded}
    links = (
        FactSource.objects.filter(owner=owner, fact_id__in=list(sources))
        .order_by("message__conversation", "message__sequence")
        .values_list("fact_id", "message_id")
    )
    for fact_id, message_id in links:
        sources[fact_id].append(message_id)
    return [(fact, tuple(sources[fact.pk])) for fact in loaded]


def _fact_candidates(owner: User, scores: dict[str, float]) -> list[Candidate]:
    found = _facts_with_sources(owner, Fact.objects.filter(owner=owner, pk__in=list(scores)))
    return [
        Candidate(scores[str(fact.pk)], fact=fact, fact_sources=sources) for fact, sources in found
    ]


def _dense_turns(*, owner_id: int, query: list[float], exclude: list[str]) -> list[Hit]:
    """The owner's turns nearest to `query`, each at the better of its own similarity and
    its nearest passage's, so that one remark inside a long turn can be found."""
    whole = search.dense(
        search.MESSAGES, "embedding", query=query, owner_id=owner_id, exclude=exclude,
        limit=TURN_LIST_LENGTH,
    )  # fmt: skip
    by_sentence = search.dense_passages(
        query=query, owner_id=owner_id, exclude=exclude, limit=TURN_LIST_LENGTH
    )
    return best_of([whole, by_sentence], limit=TURN_LIST_LENGTH)


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
    speakers = _speakers_named(owner, question)
    query = embed_texts([without_names(question, speakers)])[0].tolist()
    facts = search.FACTS_ALL if asks_about_the_past(question) else search.FACTS_CURRENT
    excluded = [str(m) for m in exclude_message_ids]
    me = owner.pk
    dense_turns = _dense_turns(owner_id=me, query=query, exclude=excluded)
    lexical_turns = search.lexical(
        search.MESSAGES, question=question, owner_id=me, exclude=excluded,
        limit=TURN_LIST_LENGTH,
    )  # fmt: skip
    segment_lists = [
        search.dense(search.SEGMENTS, "key_embedding", query=query, owner_id=me),
        search.dense(search.SEGMENTS, "summary_embedding", query=query, owner_id=me),
        search.lexical(search.SEGMENTS, question=question, owner_id=me),
    ]
    fact_lists = [
        search.dense(facts, "embedding", query=query, owner_id=me),
        search.lexical(facts, question=question, owner_id=me),
    ]
    evidence = TurnEvidence(
        turns=fused([dense_turns, lexical_turns], weights=[DENSE_TURN_WEIGHT, 1.0]),
        segments=fused(segment_lists),
    )
    turns = _candidate_turns(owner, evidence, set(exclude_message_ids))
    scores = score_turns(
        [turn.message for turn in turns],
        evidence,
        focus=question_focus(question, speakers),
        period=question_period(question, now),
    )
    candidates = [
        Candidate(
            scores[turn.message.pk],
            message=turn.message,
            context=turn.context,
            context_text=turn.context_text,
        )
        for turn in turns
    ]
    candidates += _fact_candidates(owner, fused(fact_lists))
    candidates.sort(key=_rank_key)
    seen = set(exclude_message_ids)
    return pack(candidates, token_budget, seen=seen, question=stems(question))


def _rank_key(candidate: Candidate) -> tuple[float, str]:
    """Best score first; ties broken by id so the order is deterministic."""
    row = candidate.message or candidate.fact
    return (-candidate.score, str(row.pk if row else ""))


def profile_text(owner: User) -> str:
    profile = Profile.objects.filter(owner=owner).first()
    return profile.summary if profile else ""


def chat_memory_units(
    *, owner: User, question: str, now: datetime, exclude_message_ids: Sequence[UUID] = ()
) -> list[ContextUnit]:
    """The memory the chat gives an answer to `question`: `retrieve_units` within the chat's
    budget (CHAT_MEMORY_TOKENS); nothing for a blank question. The Memory page's search and
    the `memory_search` command show exactly this."""
    if not question.strip():
        return []
    return retrieve_units(
        owner=owner,
        question=question,
        now=now,
        token_budget=settings.CHAT_MEMORY_TOKENS,
        exclude_message_ids=exclude_message_ids,
    )


def context_for_answer(*, answer: Message) -> AnswerContext:
    """Profile, memory for the question being answered, and the recent turns (private ones
    too: the conversation's own context, whatever memory keeps)."""
    turns = recent_turns(answer=answer)
    question = answer.reply_to.content if answer.reply_to else ""
    units = chat_memory_units(
        owner=answer.owner,
        question=question,
        now=answer.created_at,
        exclude_message_ids=[t.pk for t in turns],
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
    facts = Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE)
    found = _facts_with_sources(
        owner, facts.order_by("-confidence", "-recorded_at")[:OVERVIEW_FACTS]
    )
    return [
        ContextUnit(
            number=number,
            kind="fact",
            text=fact.text,
            message_ids=sources,
            score=fact.confidence,
            tokens=count_tokens(fact.text),
            ref_id=fact.pk,
        )
        for number, (fact, sources) in enumerate(found, start=1)
    ]
