"""Conversations and their messages: the immutable log everything else is derived from."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from pgvector.django import HnswIndex, VectorField

from memoryapp.embeddings import EMBEDDING_DIM

# Full-text configuration for every tsvector column and query.
SEARCH_CONFIG = "english"


def cosine_hnsw(name: str, field: str) -> HnswIndex:
    """The HNSW index every embedding column has (cosine distance, pgvector's defaults)."""
    return HnswIndex(
        name=name, fields=[field], m=16, ef_construction=64, opclasses=["vector_cosine_ops"]
    )


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200, blank=True)
    # Once the user renames a conversation, suggested titles no longer replace it.
    title_is_custom = models.BooleanField(default=False)
    # "Don't remember this conversation": its messages are chat history only (`Message.private`).
    incognito = models.BooleanField(default=False, db_default=False)
    # Where an imported conversation came from (a ChatGPT conversation id); empty otherwise.
    # Unique per owner, so importing the same file twice does not duplicate it.
    external_id = models.CharField(max_length=100, blank=True, db_default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "external_id"],
                condition=~Q(external_id=""),
                name="conversation_external_id_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-updated_at"]),
            GinIndex(fields=["search_vector"]),
        ]

    def __str__(self) -> str:
        return self.title or "New conversation"

    def get_absolute_url(self) -> str:
        return reverse("conversation", kwargs={"conversation_id": self.pk})


class Message(models.Model):
    """One turn of a conversation, as said.

    A turn is *remembered* when it is finished and has something to say: a user's message,
    or an answer that completed or was stopped with text kept. Failed, pending, streaming
    and stopped-empty answers are not; they never enter segments, keys, passages, facts or
    retrieval. REMEMBERED (ORM), REMEMBERED_SQL (raw SQL) and `is_remembered` (Python) are
    the one definition; `is_memory` adds that a person said it.
    """

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        PENDING = "pending"  # an answer waiting for the chat worker
        STREAMING = "streaming"  # the worker is generating it
        DONE = "done"
        STOPPED = "stopped"  # the user pressed stop; the partial answer is kept
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    speaker = models.CharField(max_length=100, blank=True)
    # Said by a person: the user, or either speaker of an imported transcript of two people.
    # Only people's words are memory; the assistant's are, at most, their context.
    by_person = models.BooleanField(default=True)
    # Kept out of memory: said in an incognito conversation or while the owner's memory was
    # paused. Still chat history (and the conversation's own context), but never in segments,
    # passages, facts or retrieval (`FOR_MEMORY`).
    private = models.BooleanField(default=False, db_default=False)
    content = models.TextField(blank=True)
    # When it was said (imported history keeps its original time).
    created_at = models.DateTimeField(default=timezone.now)
    sequence = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DONE)
    # The user message an assistant message answers; one answer per question.
    reply_to = models.OneToOneField(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="answer"
    )
    error = models.TextField(blank=True)
    # What the person should know about how an answer was made, shown under it: that their
    # message was too long for the model, which read only its end.
    note = models.TextField(blank=True)
    model_name = models.CharField(max_length=200, blank=True)
    token_count = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    # Set when an answer is queued, refreshed while a worker generates it; a stale value
    # means the job was lost or the worker died (see answers_requeue_stale).
    in_flight_since = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Why the model stopped generating an answer: "length" when it reached the token cap
    # (the answer is cut and can be continued), "stop" when it ended by itself.
    finish_reason = models.CharField(max_length=16, blank=True)
    # An identifier from imported history (e.g. a LoCoMo dia_id).
    external_id = models.CharField(max_length=100, blank=True)
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    # The embedding model its passages were made with; empty until they are made (an answer
    # or a message of one sentence has none, and this still records that it was looked at).
    passages_model = models.CharField(max_length=200, blank=True)
    # The memory unit this message belongs to, once ingested. A composite foreign key
    # (segment, conversation, owner) in the database keeps it inside its conversation.
    segment = models.ForeignKey(
        "memoryapp.Segment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="messages",
    )
    search_vector = models.GeneratedField(
        expression=SearchVector("content", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["conversation", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sequence"], name="message_sequence_unique"
            ),
            # Target of FactSource's composite foreign key (message, owner).
            models.UniqueConstraint(fields=["id", "owner"], name="message_identity"),
            models.CheckConstraint(
                condition=Q(reply_to__isnull=True) | Q(role="assistant"),
                name="message_only_answers_reply",
            ),
            models.CheckConstraint(
                condition=Q(role="assistant") | Q(status="done"),
                name="message_user_messages_are_done",
            ),
            models.CheckConstraint(
                condition=Q(role="assistant") | Q(by_person=True),
                name="message_user_messages_are_a_persons",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "created_at"]),
            # Retrieval looks up which capitalised words of a question are the owner's speakers.
            models.Index(fields=["owner", "speaker"], name="message_owner_speaker"),
            models.Index(
                fields=["conversation", "sequence"],
                name="message_not_ingested",
                condition=Q(segment__isnull=True),
            ),
            models.Index(
                fields=["status", "in_flight_since"],
                name="message_answer_queue",
                condition=Q(status__in=["pending", "streaming"]),
            ),
            GinIndex(fields=["owner", "search_vector"], name="message_owner_search"),
            cosine_hnsw("message_embedding_hnsw", "embedding"),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:60]}"

    @property
    def is_finished(self) -> bool:
        """No longer being written (it may still have failed)."""
        return self.status in FINISHED

    @property
    def is_remembered(self) -> bool:
        """Part of the record memory is built from (see REMEMBERED)."""
        return self.status in KEPT and self.content != ""

    @property
    def is_memory(self) -> bool:
        """A person's remembered words: what titles, keys, summaries, passages, facts and
        retrieval are made of."""
        return self.by_person and not self.private and self.is_remembered


# Answers no longer being written, and those of them that stay in the record.
FINISHED = frozenset({Message.Status.DONE, Message.Status.STOPPED, Message.Status.FAILED})
KEPT = frozenset({Message.Status.DONE, Message.Status.STOPPED})
REMEMBERED = Q(status__in=sorted(KEPT)) & ~Q(content="")
REMEMBERED_SQL = "status IN ('done', 'stopped') AND content <> ''"
# Remembered messages memory may be built from: not private (incognito or paused).
FOR_MEMORY = REMEMBERED & Q(private=False)
FOR_MEMORY_SQL = f"NOT private AND {REMEMBERED_SQL}"
# A person's remembered words (`Message.is_memory`).
MEMORY = FOR_MEMORY & Q(by_person=True)
MEMORY_SQL = f"by_person AND {FOR_MEMORY_SQL}"


class Passage(models.Model):
    """One sentence of a user's message of several, embedded on its own.

    A whole-message vector is an average over everything the message says, so one remark
    in a long turn ("by the way, I have 25 rare coins") barely moves it, and the model reads
    only the first 256 word pieces. Retrieval ranks a message by the better of its own
    similarity and its best passage's (`retrieval.search.dense_passages`); why only the
    user's messages: `services.memory.passages`. The owner is repeated here so every search
    filters on it; a composite foreign key on (message, owner) in the database keeps it the
    message's owner.
    """

    # Indexed by the unique (message, position) constraint.
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="passages", db_index=False
    )
    # No index of its own: the covering (owner_id) INCLUDE (message_id, embedding) B-tree of
    # migration 0007 serves every lookup by owner, and the planner would otherwise prefer
    # this smaller one and read each vector from the heap.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passages", db_index=False
    )
    position = models.PositiveSmallIntegerField()  # the sentence's index in the message
    text = models.TextField()
    embedding = VectorField(dimensions=EMBEDDING_DIM)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="passage_position"),
        ]
        indexes = [
            cosine_hnsw("passage_embedding_hnsw", "embedding"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} #{self.position}: {self.text[:60]}"


class SetupToken(models.Model):
    """A one-time secret that lets the first visitor create the owner account.

    Only its hash is stored; the link with the token is printed by `make run`.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"setup token created {self.created_at:%Y-%m-%d %H:%M}"
