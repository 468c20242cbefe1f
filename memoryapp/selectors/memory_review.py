"""Reads for the person's hands on their memory: the review inbox (changes consolidation
proposed instead of applying) and the history of changesets, with whether each can still be
undone. Every query filters by the owner, and each list takes a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.db.models.fields.json import KT
from django.shortcuts import get_object_or_404

from memoryapp.models import Fact, FactProposal, MemoryChangeset, MemoryEvent, Message
from memoryapp.selectors.memory_page import SOURCE_FIELDS, source_messages
from memoryapp.services.memory.journal import undo_refusals

# The inbox shows the latest proposals only.
INBOX_SHOWN = 100
CHANGESETS_PER_PAGE = 20
# Events listed under one changeset (an import may hold thousands).
EVENTS_SHOWN = 50
# Whether a changeset can be undone is checked beforehand for the page's changesets up to
# this many events in all (their snapshots are read); the others are checked on Undo.
UNDO_CHECK_EVENTS = 400
# What a history row shows of an event's snapshots: never their vectors.
SNAPSHOT_KEYS = ("text", "status", "valid_from", "valid_to")


@dataclass(frozen=True)
class InboxItem:
    proposal: FactProposal
    # The messages it was learned from that still exist, oldest first.
    sources: list[Message]

    @property
    def target_is_current(self) -> bool:
        target = self.proposal.target
        return target is None or target.status == Fact.Status.ACTIVE


def pending_proposal_count(*, owner: User) -> int:
    return FactProposal.objects.filter(owner=owner, status=FactProposal.Status.PENDING).count()


def fact_get(*, owner: User, fact_id: UUID) -> Fact:
    """The owner's fact (without its vector), or 404 (also for another user's id)."""
    return get_object_or_404(Fact.objects.defer("embedding"), pk=fact_id, owner=owner)


def proposal_get(*, owner: User, proposal_id: UUID) -> FactProposal:
    """The owner's proposal, or 404 (also for another user's id)."""
    return get_object_or_404(FactProposal, pk=proposal_id, owner=owner)


def _proposals(owner: User) -> QuerySet[FactProposal]:
    return (
        FactProposal.objects.filter(owner=owner)
        .defer("embedding", "target__embedding")
        .select_related("target")
        .prefetch_related(
            Prefetch(
                "target__source_messages",
                queryset=Message.objects.only(*SOURCE_FIELDS).order_by("created_at", "sequence"),
            )
        )
    )


def _with_sources(owner: User, proposals: list[FactProposal]) -> list[InboxItem]:
    groups = source_messages(owner=owner, groups=[p.source_message_ids for p in proposals])
    return [
        InboxItem(proposal=proposal, sources=sources)
        for proposal, sources in zip(proposals, groups, strict=True)
    ]


def inbox(*, owner: User) -> list[InboxItem]:
    """Pending proposals, newest first, each with its source messages and the fact it would
    change (with that fact's sources), in three queries."""
    pending = _proposals(owner).filter(status=FactProposal.Status.PENDING)
    return _with_sources(owner, list(pending.order_by("-created_at", "-pk")[:INBOX_SHOWN]))


def inbox_item(*, owner: User, proposal_id: UUID) -> InboxItem:
    """One of the owner's proposals, decided or not, as the inbox shows it; 404 if none."""
    return _with_sources(owner, [get_object_or_404(_proposals(owner), pk=proposal_id)])[0]


def _event_rows() -> QuerySet[MemoryEvent]:
    """Events with the parts of their snapshots a person reads, without the snapshots."""
    keys: dict[str, Any] = {}
    for side in ("before", "after"):
        for key in SNAPSHOT_KEYS:
            keys[f"{side}_{key}"] = KT(f"{side}__{key}")
    return MemoryEvent.objects.defer("before", "after").annotate(**keys).order_by("id")


def changeset_history(*, owner: User, number: str | int | None) -> Page[MemoryChangeset]:
    """One page of the owner's changesets, newest first, each with `shown_events` (its first
    EVENTS_SHOWN events, snapshots reduced to text, status and dates), `event_count` and
    `undo_refusal` (why it cannot be undone, None when it can or was not checked: see
    UNDO_CHECK_EVENTS)."""
    changesets: QuerySet[MemoryChangeset] = (
        MemoryChangeset.objects.filter(owner=owner)
        .select_related("segment")
        .only(
            "id",
            "source",
            "reason",
            "created_at",
            "undone_by_id",
            "segment__title",
            "segment__message_count",
        )
        .annotate(event_count=Count("events"))
        .prefetch_related(
            Prefetch("events", queryset=_event_rows()[:EVENTS_SHOWN], to_attr="shown_events")
        )
        .order_by("-created_at", "-pk")
    )
    page = Paginator(changesets, CHANGESETS_PER_PAGE).get_page(number)
    checked: list[MemoryChangeset] = []
    budget = UNDO_CHECK_EVENTS
    for changeset in page:
        changeset.undo_refusal = None  # type: ignore[attr-defined]
        count: int = changeset.event_count  # type: ignore[attr-defined]
        if changeset.undone_by_id or count <= budget:
            checked.append(changeset)
            budget -= 0 if changeset.undone_by_id else count
    refusals = undo_refusals(owner=owner, changesets=checked)
    for changeset in checked:
        changeset.undo_refusal = refusals[changeset.pk]  # type: ignore[attr-defined]
    return page
