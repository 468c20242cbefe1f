"""Ingestion: embed new messages and cut the conversation into segments (memory units).

New messages extend the conversation's open segment or close it at a topic boundary found by
`memoryapp.segmentation` (embedding similarity of neighbouring turns and time gaps; works
with any model). Boundaries are decided once enough later turns exist to judge them; an idle
segment is closed with whatever exists. Closed segments are queued for consolidation.

Decisions are computed without locks (they may call the model) and applied in a short
transaction that first checks nothing changed meanwhile; otherwise they are computed again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from uuid import UUID

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from memoryapp import jobs, segmentation
from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.models import Conversation, Message, Segment
from memoryapp.models.conversation import FINISHED, FOR_MEMORY
from memoryapp.services.memory.boundary_check import confirm_boundaries
from memoryapp.services.memory.passages import (
    messages_lock_unchanged,
    messages_vectors_write,
    passages_plan,
)

logger = logging.getLogger(__name__)

# Messages of the previous segment given as left context to the boundary detector.
LEFT_CONTEXT = 6
APPLY_ATTEMPTS = 3
CONVERSATION_LOCK_NAMESPACE = 7306


@dataclass(frozen=True)
class Plan:
    """Messages of the open tail of a conversation, split into groups; all but the last group
    become closed segments, the last one stays open unless the plan is final."""

    open_segment_id: UUID | None
    groups: list[list[Message]]
    final: bool
    new_ids: frozenset[UUID]


def _unassigned(conversation: Conversation) -> list[Message]:
    """Remembered messages not yet in a segment, in order, up to the first one still being
    written. Failed and stopped-empty answers are passed over and stay out of segments, and
    so do private ones (an incognito conversation's, or said while memory was paused)."""
    pending = Message.objects.filter(conversation=conversation, segment=None).exclude(
        status__in=FINISHED
    )
    first_unfinished = pending.aggregate(first=Min("sequence"))["first"]
    messages = Message.objects.filter(
        FOR_MEMORY, conversation=conversation, owner_id=conversation.owner_id, segment=None
    )
    if first_unfinished is not None:
        messages = messages.filter(sequence__lt=first_unfinished)
    return list(messages.order_by("sequence"))


def messages_embed(messages: Sequence[Message]) -> None:
    """Give remembered messages without an (up to date) embedding one (boundaries are found
    on every turn), and people's messages their passages, in one model call.

    Embedding happens before the messages are locked; one whose text or status changed
    meanwhile (an answer continued or retried) keeps no vector of its old text."""
    fingerprint = model_fingerprint()
    with_text = [m for m in messages if m.is_remembered]
    todo = [m for m in with_text if m.embedding is None or m.embedding_model != fingerprint]
    passaged = [m for m in with_text if m.passages_model != fingerprint]
    if not todo and not passaged:
        return
    planned = passages_plan(passaged)
    vectors = embed_texts([m.content for m in todo] + [text for _, _, text in planned])
    with transaction.atomic():
        unchanged = {
            m.pk for m in messages_lock_unchanged(list({m.pk: m for m in todo + passaged}.values()))
        }
        messages_vectors_write(
            embedded=[
                (message, vector)
                for message, vector in zip(todo, vectors[: len(todo)], strict=True)
                if message.pk in unchanged
            ],
            passaged=[m for m in passaged if m.pk in unchanged],
            planned=planned,
            vectors=vectors[len(todo) :],
            fingerprint=fingerprint,
        )


def _turn(message: Message) -> segmentation.Turn:
    return segmentation.Turn(
        text=message.content,
        embedding=np.asarray(message.embedding, dtype=np.float32),
        at=timezone.localtime(message.created_at),  # calendar days as the user lives them
        role=message.role,
    )


def _left_context(conversation: Conversation, before_sequence: int) -> list[Message]:
    earlier = Message.objects.filter(
        conversation=conversation, sequence__lt=before_sequence, segment__isnull=False
    ).exclude(embedding=None)
    return list(reversed(earlier.order_by("-sequence")[:LEFT_CONTEXT]))


def _late_attach(conversation: Conversation, new: list[Message]) -> list[Message]:
    """Put messages that became remembered after later turns were ingested (a failed answer
    retried) into the segment of the turn before them; return the others.

    Such a message is an answer, joining its question's segment (a question is never cut
    from its answer); the assistant's words are context only, so no text is rebuilt.
    """
    assigned = Message.objects.filter(conversation=conversation, segment__isnull=False)
    last = assigned.aggregate(last=Max("sequence"))["last"]
    if last is None:
        return new
    for message in [m for m in new if m.sequence < last]:
        nearest = assigned.filter(sequence__lt=message.sequence).order_by("-sequence").first()
        nearest = nearest or assigned.order_by("sequence").first()
        segment_id = nearest.segment_id if nearest else None
        if segment_id is None:  # deleted meanwhile
            continue
        with transaction.atomic():
            if Message.objects.filter(id=message.id, segment=None).update(segment_id=segment_id):
                Segment.objects.filter(id=segment_id).update(
                    message_count=F("message_count") + 1,
                    first_sequence=Least("first_sequence", message.sequence),
                    last_sequence=Greatest("last_sequence", message.sequence),
                )
    return [m for m in new if m.sequence > last]


def _plan(conversation: Conversation, *, final: bool) -> Plan | None:
    new = _late_attach(conversation, _unassigned(conversation))
    open_segment = Segment.objects.filter(
        conversation=conversation, status=Segment.Status.OPEN
    ).first()
    if not new and (open_segment is None or not final):
        return None
    current = (
        list(Message.objects.filter(segment=open_segment).order_by("sequence"))
        if open_segment
        else []
    )
    tail = current + new
    messages_embed(tail)
    with_text = [m for m in tail if m.embedding is not None]
    context = _left_context(conversation, tail[0].sequence) if tail else []
    turns = [_turn(m) for m in context + with_text]
    params = replace(
        segmentation.DEFAULT_PARAMS,
        max_gap=timedelta(minutes=settings.MEMORY_SEGMENT_IDLE_MINUTES),
    )
    decided = segmentation.settled_boundaries(turns, params, final=final, start=len(context))
    decided = confirm_boundaries(turns, decided, offset=len(context))
    cut_after = {
        with_text[i - len(context)].pk
        for i, boundary in enumerate(decided)
        if boundary and i >= len(context)
    }
    groups: list[list[Message]] = [[]]
    for message in tail:
        groups[-1].append(message)
        if message.pk in cut_after:
            groups.append([])
    if not groups[-1]:
        groups.pop()
    return Plan(
        open_segment_id=open_segment.pk if open_segment else None,
        groups=groups,
        final=final,
        new_ids=frozenset(m.pk for m in new),
    )


def _still_current(conversation: Conversation, plan: Plan) -> bool:
    open_segment = Segment.objects.filter(
        conversation=conversation, status=Segment.Status.OPEN
    ).first()
    open_id = open_segment.pk if open_segment else None
    # Also out of date when one of them became private (incognito switched on meanwhile).
    still_unassigned = set(
        Message.objects.filter(FOR_MEMORY, pk__in=plan.new_ids, segment=None).values_list(
            "pk", flat=True
        )
    )
    return open_id == plan.open_segment_id and still_unassigned == set(plan.new_ids)


def _apply(conversation: Conversation, plan: Plan) -> list[Segment]:
    """Write the plan; returns the segments it closed."""
    closed: list[Segment] = []
    segment = Segment.objects.get(pk=plan.open_segment_id) if plan.open_segment_id else None
    for index, group in enumerate(plan.groups):
        if segment is None:
            segment = Segment(owner_id=conversation.owner_id, conversation=conversation)
        last = index == len(plan.groups) - 1
        _fill(segment, group, close=not last or plan.final)
        if segment.status == Segment.Status.CLOSED:
            closed.append(segment)
            segment = None
    return closed


def _fill(segment: Segment, group: list[Message], *, close: bool) -> None:
    segment.first_sequence = group[0].sequence
    segment.last_sequence = group[-1].sequence
    segment.start_at = min(m.created_at for m in group)
    segment.end_at = max(m.created_at for m in group)
    segment.message_count = len(group)
    if close:
        segment.status = Segment.Status.CLOSED
        segment.closed_at = timezone.now()
    segment.save()
    Message.objects.filter(pk__in=[m.pk for m in group]).update(segment=segment)


def conversation_ingest(
    *, conversation_id: UUID, final: bool = False, queue: bool = True
) -> list[Segment]:
    """Ingest the conversation's new messages; with `final`, close its open segment too.

    Idempotent: with nothing new (and not final) it changes nothing. Returns the segments it
    closed; their consolidation is queued once the transaction commits, unless `queue` is
    false (the caller consolidates them; the upkeep queues any it leaves pending).
    """
    conversation = Conversation.objects.get(pk=conversation_id)
    for _ in range(APPLY_ATTEMPTS):
        plan = _plan(conversation, final=final)
        if plan is None:
            return []
        with transaction.atomic():
            ingestion_lock(conversation_id=conversation.pk)
            if not _still_current(conversation, plan):
                continue
            closed = _apply(conversation, plan)
            for segment in closed if queue else ():
                transaction.on_commit(partial(jobs.consolidation_enqueue, segment_id=segment.pk))
            return closed
    logger.warning("conversation %s kept changing during ingestion; will retry", conversation_id)
    return []


def ingestion_lock(*, conversation_id: UUID) -> None:
    """Hold the conversation's ingestion until the transaction ends."""
    # Not the conversation row: sending a message locks that, and must never wait for us.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [CONVERSATION_LOCK_NAMESPACE, str(conversation_id)],
        )
