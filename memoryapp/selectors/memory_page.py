"""What the Memory page shows a person: counts, state, profile, facts and topics, each with the
messages it was learned from. Every query filters by the owner."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, Q, QuerySet

from memoryapp.models import Fact, JobStatus, Message, Profile, Segment
from memoryapp.services.memory.model_access import llm_stages_on
from memoryapp.services.model_manager.choice import active_model_is_demo

TOPICS_PER_PAGE = 20
# The timeline of past facts shows the latest ones only.
PAST_FACTS_SHOWN = 100
UNFINISHED_JOBS = [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.RETRY]
SOURCE_FIELDS = ("id", "conversation_id", "segment_id", "role", "content", "created_at", "sequence")


def source_messages(*, owner: User, groups: Sequence[Sequence[UUID]]) -> list[list[Message]]:
    """For each group of message ids (a proposal's, a search unit's), the owner's messages
    among them that still exist, in the order they were said, as "learned from" lists show
    them (SOURCE_FIELDS); in one query."""
    wanted = {message_id for group in groups for message_id in group}
    found = Message.objects.filter(owner=owner, pk__in=wanted).only(*SOURCE_FIELDS)
    by_id = {message.pk: message for message in found}
    return [
        sorted(
            (by_id[m] for m in group if m in by_id),
            key=lambda message: (message.created_at, message.sequence),
        )
        for group in groups
    ]


@dataclass(frozen=True)
class MemoryCounts:
    messages: int
    segments: int
    facts: int
    jobs_pending: int
    jobs_failed: int


@dataclass(frozen=True)
class FactGroup:
    kind: str
    label: str
    facts: list[Fact]


def memory_counts(*, owner: User) -> MemoryCounts:
    """Messages, topics, current facts and the memory jobs not done yet or failed."""
    segments = Segment.objects.filter(owner=owner).aggregate(
        total=Count("pk"),
        # An open segment is still growing: its consolidation is not due yet.
        pending=Count("pk", filter=Q(status=Segment.Status.CLOSED, job_status__in=UNFINISHED_JOBS)),
        failed=Count("pk", filter=Q(job_status=JobStatus.FAILED)),
    )
    return MemoryCounts(
        messages=Message.objects.filter(owner=owner).count(),
        segments=segments["total"],
        facts=Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE).count(),
        jobs_pending=segments["pending"],
        jobs_failed=segments["failed"],
    )


def memory_llm_stages_on() -> bool:
    """Whether memory's LLM stages run, by the memory worker's rule, from the active model
    (else the settings' model): it is described, not loaded."""
    return llm_stages_on(settings.MEMORY_LLM, is_demo=active_model_is_demo())


def _sources() -> Prefetch[str, QuerySet[Message], str]:
    return Prefetch(
        "source_messages",
        queryset=Message.objects.only(*SOURCE_FIELDS).order_by("created_at", "sequence"),
    )


def profile_get(*, owner: User) -> Profile | None:
    return Profile.objects.filter(owner=owner).first()


def current_facts(*, owner: User) -> list[FactGroup]:
    """Active facts grouped by kind (in the order of `Fact.Kind`), newest first in each."""
    order = {kind: index for index, kind in enumerate(Fact.Kind.values)}
    facts = sorted(
        Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE)
        .defer("embedding")
        .prefetch_related(_sources())
        .order_by("-recorded_at"),
        key=lambda fact: order.get(fact.kind, len(order)),
    )
    labels = dict(Fact.Kind.choices)
    return [
        FactGroup(kind=kind, label=str(labels.get(kind, kind)), facts=list(group))
        for kind, group in groupby(facts, key=lambda fact: fact.kind)
    ]


def past_facts(*, owner: User) -> list[Fact]:
    """Superseded and retracted facts, latest retired first, with what replaced them."""
    return list(
        Fact.objects.filter(owner=owner)
        .exclude(status=Fact.Status.ACTIVE)
        .defer("embedding", "superseded_by__embedding")
        .select_related("superseded_by")
        .prefetch_related(_sources())
        .order_by("-retired_at", "-recorded_at")[:PAST_FACTS_SHOWN]
    )


def topics_page(*, owner: User, number: str | int | None) -> Page[Segment]:
    """One page of the owner's segments, newest first, with their conversation and messages."""
    segments: QuerySet[Segment] = (
        Segment.objects.filter(owner=owner)
        .defer("key_embedding", "summary_embedding", "retrieval_key", "raw_output")
        .select_related("conversation")
        .prefetch_related(
            Prefetch(
                "messages",
                queryset=Message.objects.only(*SOURCE_FIELDS).order_by("sequence"),
            )
        )
        .order_by("-start_at", "-pk")
    )
    return Paginator(segments, TOPICS_PER_PAGE).get_page(number)
