"""Sleep-time work run by beat: close idle segments, re-queue lost or stuck jobs, retry failed
ones when due, merge near-duplicate facts, rebuild stale profiles, re-embed after a model
change. Every function here is safe to run at any time and any number of times."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from memoryapp import jobs
from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.models import (
    Conversation,
    Fact,
    FactSource,
    ImportJob,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Profile,
    Segment,
)
from memoryapp.models.conversation import FOR_MEMORY
from memoryapp.services.memory.consolidation import SEGMENT_TEXT_VERSION, segment_text_rebuild
from memoryapp.services.memory.importing import import_jobs_requeue
from memoryapp.services.memory.ingestion import messages_embed
from memoryapp.services.memory.journal import Journal, fact_snapshot
from memoryapp.services.memory.locks import owner_lock
from memoryapp.services.memory.profile import profile_rebuild

logger = logging.getLogger(__name__)

NEAR_DUPLICATE_SIMILARITY = 0.95
REEMBED_BATCH = 256
# While the machine is idle, a sleep pass goes on backfilling embeddings and passages batch
# after batch for up to this long (well within the task's 30-minute limit).
BACKFILL_SECONDS = 10 * 60
REBUILD_BATCH = 64
# Unassigned finished messages older than this had their ingestion job lost.
LOST_INGESTION_SECONDS = 120


def segments_close_idle() -> int:
    """Close open segments without a new message for MEMORY_SEGMENT_IDLE_MINUTES."""
    from memoryapp.services.memory.ingestion import conversation_ingest

    cutoff = timezone.now() - timedelta(minutes=settings.MEMORY_SEGMENT_IDLE_MINUTES)
    idle = Segment.objects.filter(status=Segment.Status.OPEN, end_at__lt=cutoff)
    closed = 0
    for conversation_id in idle.values_list("conversation_id", flat=True):
        closed += len(conversation_ingest(conversation_id=conversation_id, final=True))
    return closed


def ingestions_requeue_lost() -> int:
    """Queue ingestion for conversations whose remembered messages were never ingested
    (private ones never are)."""
    cutoff = timezone.now() - timedelta(seconds=LOST_INGESTION_SECONDS)
    waiting = Message.objects.filter(
        FOR_MEMORY, conversation=OuterRef("pk"), segment=None, created_at__lt=cutoff
    )
    conversations = Conversation.objects.filter(Exists(waiting)).values_list("pk", flat=True)
    for conversation_id in conversations:
        jobs.ingestion_enqueue(conversation_id=conversation_id)
    return len(conversations)


def consolidations_requeue() -> int:
    """Queue consolidations that are due: stuck (worker died), lost, or due for retry."""
    now = timezone.now()
    stuck = Segment.objects.filter(
        job_status=JobStatus.RUNNING,
        in_flight_since__lt=now - timedelta(seconds=settings.MEMORY_STALE_JOB_SECONDS),
    )
    stuck_ids = list(stuck.values_list("pk", flat=True))
    Segment.objects.filter(pk__in=stuck_ids, job_status=JobStatus.RUNNING).update(
        job_status=JobStatus.PENDING, claim=None, in_flight_since=None
    )
    # Pending for a minute after closing: the job queued on commit was lost.
    due = Segment.objects.filter(status=Segment.Status.CLOSED).filter(
        Q(job_status=JobStatus.PENDING, closed_at__lt=now - timedelta(seconds=60))
        | Q(job_status=JobStatus.RETRY, next_attempt_at__lte=now)
    )
    ids = set(stuck_ids) | set(due.values_list("pk", flat=True))
    for segment_id in ids:
        jobs.consolidation_enqueue(segment_id=segment_id)
    return len(ids)


def _near_duplicate_pairs(owner: User) -> list[tuple[Fact, Fact]]:
    facts = list(
        Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE)
        .exclude(embedding=None)
        .order_by("recorded_at")
    )
    if len(facts) < 2:
        return []
    vectors = np.asarray([f.embedding for f in facts], dtype=np.float32)
    similarity = vectors @ vectors.T
    pairs: list[tuple[Fact, Fact]] = []
    used: set[int] = set()
    for i, j in zip(
        *np.nonzero(np.triu(similarity, k=1) >= NEAR_DUPLICATE_SIMILARITY), strict=True
    ):
        if i not in used and j not in used:
            keep, duplicate = facts[i], facts[j]
            if duplicate.user_edited_at and not keep.user_edited_at:
                keep, duplicate = duplicate, keep  # the person's own wording stays
            pairs.append((keep, duplicate))
            used.update((i, j))
    return pairs


def facts_merge_near_duplicates(*, owner: User) -> MemoryChangeset | None:
    """Fold each newer near-duplicate into the older fact (sources kept), as one changeset."""
    with owner_lock(owner.pk), transaction.atomic():
        journal = Journal(
            owner=owner, source=MemoryChangeset.Source.SLEEP, reason="Merged near-duplicates"
        )
        for keep, duplicate in _near_duplicate_pairs(owner):
            keep_before, duplicate_before = fact_snapshot(keep), fact_snapshot(duplicate)
            for message_id in FactSource.objects.filter(fact=duplicate).values_list(
                "message_id", flat=True
            ):
                FactSource.objects.get_or_create(fact=keep, message_id=message_id, owner=owner)
            keep.confidence = max(keep.confidence, duplicate.confidence)
            keep.updated_at = timezone.now()
            keep.save()
            duplicate.status = Fact.Status.RETRACTED
            duplicate.retired_at = timezone.now()
            duplicate.save()
            reason = "near-duplicate"
            journal.record(
                fact=keep, action=MemoryEvent.Action.MERGE, before=keep_before, reason=reason
            )
            journal.record(
                fact=duplicate,
                action=MemoryEvent.Action.RETRACT,
                before=duplicate_before,
                reason=reason,
            )
        return journal.commit()


def profiles_rebuild_stale() -> int:
    stale = Profile.objects.filter(stale=True).select_related("owner")
    for profile in stale:
        profile_rebuild(owner=profile.owner)
    return len(stale)


def embeddings_refresh() -> int:
    """Re-embed rows embedded by another model than the configured one (or, for a message,
    whose text changed: a retried answer), and make the passages of finished messages that
    have none from this model; messages through `messages_embed`, as at ingestion (a batch
    of messages, of segments and of facts per call)."""
    fingerprint = model_fingerprint()
    done = 0
    stale = (
        Message.objects.filter(FOR_MEMORY)
        .exclude(embedding=None)
        .filter(~Q(embedding_model=fingerprint) | ~Q(passages_model=fingerprint))
    )
    messages = list(stale[:REEMBED_BATCH])
    messages_embed(messages)
    done += len(messages)
    segments = list(
        Segment.objects.exclude(key_embedding=None).exclude(embedding_model=fingerprint)[
            :REEMBED_BATCH
        ]
    )
    if segments:
        vectors = embed_texts([t for s in segments for t in (s.retrieval_key, s.summary)])
        for index, segment in enumerate(segments):
            segment.key_embedding = vectors[2 * index].tolist()
            segment.summary_embedding = vectors[2 * index + 1].tolist()
            segment.embedding_model = fingerprint
        Segment.objects.bulk_update(
            segments, ["key_embedding", "summary_embedding", "embedding_model"]
        )
        done += len(segments)
    facts = list(
        Fact.objects.exclude(embedding=None).exclude(embedding_model=fingerprint)[:REEMBED_BATCH]
    )
    if facts:
        for fact, vector in zip(facts, embed_texts([f.text for f in facts]), strict=True):
            fact.embedding, fact.embedding_model = vector.tolist(), fingerprint
        Fact.objects.bulk_update(facts, ["embedding", "embedding_model"])
        done += len(facts)
    return done


def machine_idle() -> bool:
    """Whether nobody waits for this machine: no answer pending or streaming, no
    consolidation and no import pending, running or due for retry.

    A person chatting has an answer on its way, and a message they sent closes a segment
    whose consolidation is then queued; either makes the machine busy until it is done."""
    waiting = Q(job_status__in=[JobStatus.PENDING, JobStatus.RUNNING]) | Q(
        job_status=JobStatus.RETRY, next_attempt_at__lte=timezone.now()
    )
    answering = Message.objects.filter(
        status__in=[Message.Status.PENDING, Message.Status.STREAMING]
    )
    consolidating = Segment.objects.filter(waiting, status=Segment.Status.CLOSED)
    importing = ImportJob.objects.filter(waiting)
    return not (answering.exists() or consolidating.exists() or importing.exists())


def embeddings_backfill(*, seconds: float = BACKFILL_SECONDS) -> int:
    """`embeddings_refresh` once, as every sleep pass did, then batch after batch while the
    machine stays idle (checked before each), a full batch was found (more may wait) and
    `seconds` have not passed. Returns the rows done."""
    started = time.monotonic()
    done = total = embeddings_refresh()
    while done >= REEMBED_BATCH and time.monotonic() - started < seconds and machine_idle():
        done = embeddings_refresh()
        total += done
    return total


def segments_rebuild_outdated() -> int:
    """Rebuild the title, summary, key and keywords of consolidated segments built by an
    older `SEGMENT_TEXT_VERSION` (a batch per call), as consolidation builds them now."""
    outdated = Segment.objects.filter(
        status=Segment.Status.CLOSED,
        job_status=JobStatus.DONE,
        text_version__lt=SEGMENT_TEXT_VERSION,
    ).values_list("pk", flat=True)
    ids = list(outdated[:REBUILD_BATCH])
    return sum(segment_text_rebuild(segment_id=segment_id) for segment_id in ids)


def memory_upkeep() -> dict[str, int]:
    """The frequent pass (every minute)."""
    return {
        "closed_idle_segments": segments_close_idle(),
        "requeued_ingestions": ingestions_requeue_lost(),
        "requeued_consolidations": consolidations_requeue(),
        "requeued_imports": import_jobs_requeue(),
    }


def memory_sleep() -> dict[str, int]:
    """The slow pass (every quarter hour): duplicates, profiles, embeddings (a batch, and
    more while the machine is idle)."""
    merged = 0
    owners = User.objects.filter(
        Exists(Fact.objects.filter(owner=OuterRef("pk"), status=Fact.Status.ACTIVE))
    )
    for owner in owners:
        if facts_merge_near_duplicates(owner=owner) is not None:
            merged += 1
    return {
        "owners_with_merges": merged,
        "profiles_rebuilt": profiles_rebuild_stale(),
        "segments_rebuilt": segments_rebuild_outdated(),
        "rows_reembedded": embeddings_backfill(),
    }
