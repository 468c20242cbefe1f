"""Repairs an administrator starts from the admin: run a failed consolidation again, and have
rows embedded again. Both go through the pipeline's own paths (the consolidation job, the
upkeep's re-embedding), so they are as safe to repeat as the pipeline is."""

from __future__ import annotations

import logging
from collections.abc import Collection
from uuid import UUID

from django.db import transaction

from memoryapp import jobs
from memoryapp.models import Fact, JobStatus, Message, Segment

logger = logging.getLogger(__name__)

# A consolidation that may be run again: parked after its attempts, or waiting for a retry.
RETRYABLE = (JobStatus.FAILED, JobStatus.RETRY)


def segments_consolidation_retry(*, segment_ids: Collection[UUID]) -> list[UUID]:
    """Queue the consolidation of these closed segments again, with all its attempts, as the
    upkeep queues a pending one; returns the ids that were due for it (failed, or waiting
    for a retry). Others (done, running, open) are left alone.

    The last error and raw output stay until the new run replaces or clears them. When the
    broker cannot be reached the segments stay pending and the upkeep queues them.
    """
    with transaction.atomic():
        due = list(
            Segment.objects.select_for_update()
            .filter(pk__in=segment_ids, status=Segment.Status.CLOSED, job_status__in=RETRYABLE)
            .values_list("pk", flat=True)
        )
        Segment.objects.filter(pk__in=due).update(
            job_status=JobStatus.PENDING,
            attempts=0,
            next_attempt_at=None,
            in_flight_since=None,
            claim=None,
        )
        transaction.on_commit(lambda: _enqueue(due))
    return due


def _enqueue(segment_ids: list[UUID]) -> None:
    for segment_id in segment_ids:
        try:
            jobs.consolidation_enqueue(segment_id=segment_id)
        except jobs.BROKER_ERRORS as exc:
            logger.warning(
                "consolidation of segment %s was not queued (%s); the upkeep queues it",
                segment_id,
                exc,
            )


def segments_reembed(*, segment_ids: Collection[UUID]) -> int:
    """Have the upkeep embed these segments' key and summary again (its next pass, in
    batches): their model stamp is cleared. Segments without vectors yet are left to their
    consolidation. Returns how many were marked."""
    return (
        Segment.objects.filter(pk__in=segment_ids)
        .exclude(key_embedding=None)
        .update(embedding_model="")
    )


def facts_reembed(*, fact_ids: Collection[UUID]) -> int:
    """Have the upkeep embed these facts again (see `segments_reembed`)."""
    return Fact.objects.filter(pk__in=fact_ids).exclude(embedding=None).update(embedding_model="")


def messages_reembed(*, message_ids: Collection[UUID]) -> int:
    """Have the upkeep embed these messages and make their passages again (see
    `segments_reembed`); messages never embedded are left to their ingestion."""
    return (
        Message.objects.filter(pk__in=message_ids)
        .exclude(embedding=None)
        .update(embedding_model="", passages_model="")
    )
