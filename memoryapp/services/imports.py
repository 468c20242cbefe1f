"""Importing recorded conversation history (benchmark data sets) as users with conversations,
then building their memory with the normal pipeline, synchronously.

The data set readers (`memoryapp.evaluation.locomo_data`, `...longmemeval_data`) turn a file
into `ImportedHistory` values, one per person; this module stores them and builds memory.

Idempotent per user: a history whose username exists is not stored again (the existing user
is kept as it is, never replaced), but its memory build is resumed, so re-running an
interrupted import finishes it. Every query is scoped to the imported user.

Memory is built in this process: `conversation_ingest(final=True)` per conversation, oldest
first, each group of conversations followed by the consolidation of the segments it closed
(`segments_consolidate`), here: nothing is sent to the broker, so nothing piles up in Redis
and no worker is needed. A last pass consolidates the segments an earlier, interrupted run
left pending.

The ChatGPT importer (`memoryapp.services.memory.importing`) stores its conversations for an
existing person with `conversations_store`, then builds memory with `memory_build` (in this
process) or `conversations_ingest` (consolidation queued for the memory worker).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count

from memoryapp import jobs
from memoryapp.models import Conversation, Fact, JobStatus, Message, Segment
from memoryapp.models.conversation import FOR_MEMORY
from memoryapp.services.memory.consolidation import segments_consolidate
from memoryapp.services.memory.ingestion import conversation_ingest, messages_embed

logger = logging.getLogger(__name__)

MESSAGE_BATCH = 1000
# Messages embedded together ahead of ingestion (see `conversations_ingest`).
EMBED_AHEAD = 512
# Segments consolidated together when a build finds some pending (an interrupted build's).
CONSOLIDATE_BATCH = 256
SPEAKER_MAX_CHARS = 100
TITLE_MAX_CHARS = 200
MODEL_NAME_MAX_CHARS = 200

# Called with (done, total) as conversations are ingested.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImportedMessage:
    """One turn: `created_at` is when it was said (timezone-aware); `by_person` is false for
    an assistant's words (only people's words are memory, see `Message.by_person`)."""

    role: str  # "user" | "assistant"
    speaker: str
    content: str
    created_at: datetime
    external_id: str
    by_person: bool
    model_name: str = ""  # the model that wrote an imported answer, when the source says


@dataclass(frozen=True)
class ImportedConversation:
    title: str
    messages: tuple[ImportedMessage, ...]
    # Its id in the source (a ChatGPT conversation id): importing it again skips it.
    external_id: str = ""


@dataclass(frozen=True)
class ImportedHistory:
    """Everything one person said: their username and their conversations."""

    username: str
    conversations: tuple[ImportedConversation, ...]


@dataclass(frozen=True)
class ImportResult:
    user: User
    created: bool  # False: the user existed and was kept as it was
    conversations: int
    messages: int
    segments: int  # closed segments of the user after the build
    facts: int  # active facts after the build (none while memory's LLM stages are off)
    seconds: float


def history_import(*, history: ImportedHistory, build_memory: bool = True) -> ImportResult:
    """Store `history` as a new user (unless the username exists), then build its memory.

    The user, its conversations and its messages are committed together, so a user that
    exists was imported completely. Returns counts of what the user has afterwards.
    """
    started = time.monotonic()
    user, created = _user_store(history)
    if build_memory:
        memory_build(owner=user)
    return ImportResult(
        user=user,
        created=created,
        conversations=Conversation.objects.filter(owner=user).count(),
        messages=Message.objects.filter(owner=user).count(),
        segments=Segment.objects.filter(owner=user, status=Segment.Status.CLOSED).count(),
        facts=Fact.objects.filter(owner=user, status=Fact.Status.ACTIVE).count(),
        seconds=time.monotonic() - started,
    )


def _user_store(history: ImportedHistory) -> tuple[User, bool]:
    existing = User.objects.filter(username=history.username).first()
    if existing is not None:
        return existing, False
    return history_store(history=history), True


@transaction.atomic
def history_store(*, history: ImportedHistory) -> User:
    """Create the user (unusable password), a conversation per imported conversation and its
    messages (status done, numbered from 0), all in one transaction."""
    user = User(username=history.username)
    user.set_unusable_password()
    user.save()
    conversations_store(owner=user, conversations=history.conversations)
    return user


def conversations_store(
    *, owner: User, conversations: Sequence[ImportedConversation], private: bool = False
) -> list[Conversation]:
    """Store each imported conversation that has messages, with its messages (status done,
    numbered from 0; `private`: kept out of memory), in bulk. Call it inside a transaction."""
    stored = [_conversation(owner, imported) for imported in conversations if imported.messages]
    Conversation.objects.bulk_create([c for c, _ in stored], batch_size=MESSAGE_BATCH)
    batch: list[Message] = []
    for conversation, imported in stored:
        batch.extend(_messages(conversation, imported.messages, private))
        if len(batch) >= MESSAGE_BATCH:
            Message.objects.bulk_create(batch)
            batch = []
    Message.objects.bulk_create(batch)
    return [conversation for conversation, _ in stored]


def _conversation(
    user: User, imported: ImportedConversation
) -> tuple[Conversation, ImportedConversation]:
    conversation = Conversation(
        owner=user,
        title=imported.title[:TITLE_MAX_CHARS],
        external_id=imported.external_id,
        created_at=imported.messages[0].created_at,
        updated_at=imported.messages[-1].created_at,
    )
    return conversation, imported


def _messages(
    conversation: Conversation, turns: Sequence[ImportedMessage], private: bool
) -> list[Message]:
    return [
        Message(
            conversation=conversation,
            owner_id=conversation.owner_id,
            role=turn.role,
            by_person=turn.by_person,
            private=private,
            speaker=turn.speaker[:SPEAKER_MAX_CHARS],
            content=turn.content,
            created_at=turn.created_at,
            sequence=sequence,
            status=Message.Status.DONE,
            external_id=turn.external_id,
            model_name=turn.model_name[:MODEL_NAME_MAX_CHARS],
        )
        for sequence, turn in enumerate(turns)
    ]


def memory_build(
    *,
    owner: User,
    conversation_ids: Sequence[UUID] | None = None,
    progress: Progress | None = None,
) -> None:
    """Ingest the conversations of `owner` (all of them, oldest first, unless
    `conversation_ids` says which) and consolidate every closed segment of theirs still
    pending, in this process.

    Safe to repeat: ingestion with nothing new changes nothing, and consolidation claims a
    segment only while it is pending.
    """
    if conversation_ids is None:
        everything = Conversation.objects.filter(owner=owner).order_by("created_at", "pk")
        conversation_ids = list(everything.values_list("pk", flat=True))
    with jobs.run_here():
        conversations_ingest(conversation_ids=conversation_ids, progress=progress, here=True)
        pending = _pending_segments(owner)
        for start in range(0, len(pending), CONSOLIDATE_BATCH):
            segments_consolidate(segment_ids=pending[start : start + CONSOLIDATE_BATCH])


def conversations_ingest(
    *, conversation_ids: Sequence[UUID], progress: Progress | None = None, here: bool = False
) -> None:
    """Ingest each conversation in turn, closing its last segment (final), and report
    (done, total) after each. The consolidation of the segments closed is queued on commit,
    or, with `here`, run in this process after each group of conversations
    (`segments_consolidate`: with memory's model off, their texts embedded together). A
    conversation deleted meanwhile is passed over.

    The messages waiting in the next conversations, about `EMBED_AHEAD` of them, are embedded
    (with their passages) together before those conversations are ingested, which then finds
    them embedded: the model pads texts of one length together across conversations, where
    a conversation alone pads its short questions to its long answers."""
    total = len(conversation_ids)
    done = 0
    for group in _embedding_groups(conversation_ids):
        messages_embed(_waiting(group))
        closed: list[UUID] = []
        for conversation_id in group:
            try:
                segments = conversation_ingest(
                    conversation_id=conversation_id, final=True, queue=not here
                )
                closed += [segment.pk for segment in segments]
            except Conversation.DoesNotExist:
                logger.info("conversation %s was deleted before its ingestion", conversation_id)
            done += 1
            if progress is not None:
                progress(done, total)
        if here and closed:
            segments_consolidate(segment_ids=closed)


def _waiting(conversation_ids: Sequence[UUID]) -> list[Message]:
    """The remembered messages of these conversations that no segment holds yet."""
    waiting = Message.objects.filter(FOR_MEMORY, conversation_id__in=conversation_ids, segment=None)
    return list(waiting.order_by("conversation_id", "sequence"))


def _embedding_groups(conversation_ids: Sequence[UUID]) -> list[list[UUID]]:
    """The conversations in order, cut into runs whose waiting messages are about
    `EMBED_AHEAD` (a conversation is never split)."""
    counts = dict(
        Message.objects.filter(FOR_MEMORY, conversation_id__in=conversation_ids, segment=None)
        .values_list("conversation_id")
        .annotate(waiting=Count("pk"))
    )
    groups: list[list[UUID]] = [[]]
    size = 0
    for conversation_id in conversation_ids:
        if size >= EMBED_AHEAD:
            groups.append([])
            size = 0
        groups[-1].append(conversation_id)
        size += counts.get(conversation_id, 0)
    return [group for group in groups if group]


def _pending_segments(owner: User) -> list[UUID]:
    pending = Segment.objects.filter(
        owner=owner, status=Segment.Status.CLOSED, job_status=JobStatus.PENDING
    )
    return list(pending.order_by("start_at", "pk").values_list("pk", flat=True))
