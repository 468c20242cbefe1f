"""Memory derived from the message log: segments (memory units), facts, their change journal,
and the profile. Everything has an owner, and every query on it filters by that owner.

Derived rows are rebuilt by the pipeline (memoryapp/services/memory/); pipeline state lives in
columns (status, attempts, last error, in-flight since) so every job can be claimed, retried
and resumed.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from pgvector.django import VectorField

from memoryapp.embeddings import EMBEDDING_DIM
from memoryapp.models.conversation import SEARCH_CONFIG, Conversation, Message, cosine_hnsw


class JobStatus(models.TextChoices):
    """The state of a background job kept on the row it works on."""

    PENDING = "pending"  # queued (or to be queued by the sweeper)
    RUNNING = "running"  # claimed by a worker
    RETRY = "retry"  # failed; tried again after `next_attempt_at`
    DONE = "done"
    FAILED = "failed"  # parked after its attempts: raw output and error kept for inspection


class JobState(models.Model):
    """Columns that make a row a claimable, retryable, resumable job."""

    job_status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Model output that did not validate, kept for inspection when the job fails.
    raw_output = models.TextField(blank=True)
    # Set when claimed and while working; a stale value means the worker died.
    in_flight_since = models.DateTimeField(null=True, blank=True)
    # Identifies the claim, so only the worker holding it can commit the result.
    claim = models.UUIDField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Cost of the work on this row, for memory_stats.
    llm_calls = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class Segment(JobState):
    """A memory unit: a topically coherent run of consecutive messages of one conversation.

    Retrieval matches on the retrieval key and the summary and returns the original messages.
    """

    class Status(models.TextChoices):
        OPEN = "open"  # still growing
        CLOSED = "closed"  # its messages are final; consolidation follows

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="segments"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="segments"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    first_sequence = models.PositiveIntegerField()
    last_sequence = models.PositiveIntegerField()
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    message_count = models.PositiveIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)

    title = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True)
    # The segment's content with greetings, filler, back-channels and repetition removed.
    retrieval_key = models.TextField(blank=True)
    keywords = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    # "llm" when the model wrote title/summary/key, "extractive" for the deterministic ones.
    summary_source = models.CharField(max_length=16, blank=True)
    # How title, summary, key and keywords were built (`consolidation.SEGMENT_TEXT_VERSION`);
    # the upkeep rebuilds older ones.
    text_version = models.PositiveSmallIntegerField(db_default=1)
    key_embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    summary_embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    search_vector = models.GeneratedField(
        expression=(
            SearchVector("title", weight="A", config=SEARCH_CONFIG)
            + SearchVector("retrieval_key", weight="B", config=SEARCH_CONFIG)
            + SearchVector("summary", weight="C", config=SEARCH_CONFIG)
        ),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(default=timezone.now)
    consolidated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["conversation", "first_sequence"]
        constraints = [
            # The target of the messages' composite foreign key (segment, conversation, owner):
            # a segment's messages belong to its conversation and owner.
            models.UniqueConstraint(
                fields=["id", "conversation", "owner"], name="segment_identity"
            ),
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status="open"),
                name="segment_one_open_per_conversation",
            ),
            models.CheckConstraint(
                condition=Q(first_sequence__lte=F("last_sequence")), name="segment_sequence_order"
            ),
            models.CheckConstraint(
                condition=Q(start_at__lte=F("end_at")), name="segment_time_order"
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(closed_at__isnull=False),
                name="segment_closed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(job_status="done") | Q(status="closed"),
                name="segment_consolidated_only_when_closed",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "start_at"]),
            models.Index(fields=["job_status", "next_attempt_at"], name="segment_job_queue"),
            GinIndex(fields=["owner", "search_vector"], name="segment_owner_search"),
            cosine_hnsw("segment_key_hnsw", "key_embedding"),
            cosine_hnsw("segment_summary_hnsw", "summary_embedding"),
        ]

    def __str__(self) -> str:
        return self.title or f"Segment of {self.message_count} messages"


class Fact(models.Model):
    """An atomic statement about the user or their world, with its provenance and its time.

    Event time (`valid_from`/`valid_to`): when it is true in the user's life. Record time
    (`recorded_at`/`retired_at`): when the system learned it and stopped believing it.
    A contradicted fact is superseded, never deleted: it keeps its text and gets an end time
    and a successor, and still answers questions about the past.
    """

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUPERSEDED = "superseded"  # replaced by a newer fact (see superseded_by)
        RETRACTED = "retracted"  # withdrawn (merged into another, or removed by the user)

    class Kind(models.TextChoices):
        IDENTITY = "identity"
        LOCATION = "location"
        WORK = "work"
        RELATIONSHIP = "relationship"
        PREFERENCE = "preference"
        POSSESSION = "possession"
        HEALTH = "health"
        EVENT = "event"
        PLAN = "plan"
        OTHER = "other"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="facts"
    )
    text = models.TextField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.OTHER)
    subject = models.CharField(max_length=200, default="user")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    confidence = models.FloatField(default=0.8)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", on_delete=models.RESTRICT, null=True, blank=True, related_name="supersedes"
    )
    segment = models.ForeignKey(
        Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="facts"
    )
    source_messages: models.ManyToManyField[Message, FactSource] = models.ManyToManyField(
        Message, through="FactSource", blank=True, related_name="facts"
    )
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    embedding_model = models.CharField(max_length=200, blank=True)
    search_vector = models.GeneratedField(
        expression=SearchVector("text", config=SEARCH_CONFIG),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    updated_at = models.DateTimeField(default=timezone.now)
    # When the person last edited or retracted this fact themselves. Consolidation respects
    # it: a re-extraction of its messages does not overwrite or re-learn it, and a change
    # that would supersede it goes to the review inbox (`FactProposal`).
    user_edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-recorded_at"]
        constraints = [
            # Target of FactSource's composite foreign key (fact, owner).
            models.UniqueConstraint(fields=["id", "owner"], name="fact_identity"),
            models.CheckConstraint(
                condition=~Q(status="superseded")
                | Q(superseded_by__isnull=False, valid_to__isnull=False),
                name="fact_superseded_has_successor_and_end",
            ),
            models.CheckConstraint(
                condition=Q(status="active") | Q(retired_at__isnull=False),
                name="fact_retired_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="active") | Q(retired_at__isnull=True),
                name="fact_active_not_retired",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True)
                | Q(valid_from__isnull=True)
                | Q(valid_to__gte=F("valid_from")),
                name="fact_valid_time_order",
            ),
            models.CheckConstraint(
                condition=Q(confidence__gte=0) & Q(confidence__lte=1),
                name="fact_confidence_range",
            ),
            models.CheckConstraint(
                condition=~Q(superseded_by=F("id")), name="fact_not_its_own_successor"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "status"]),
            GinIndex(fields=["owner", "search_vector"], name="fact_owner_search"),
            cosine_hnsw("fact_embedding_hnsw", "embedding"),
        ]

    def __str__(self) -> str:
        return self.text


class FactSource(models.Model):
    """A message a fact was learned from. Both belong to the same owner (a composite foreign
    key on (fact, owner) and (message, owner) in the database makes sure of it)."""

    fact = models.ForeignKey(Fact, on_delete=models.CASCADE)
    message = models.ForeignKey(Message, on_delete=models.CASCADE)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fact", "message"], name="fact_source_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.fact_id} from {self.message_id}"


class MemoryChangeset(models.Model):
    """One consolidation run or user action: the unit of the "memory updated" notice and of undo."""

    class Source(models.TextChoices):
        CONSOLIDATION = "consolidation"
        SLEEP = "sleep"  # background upkeep (near-duplicate merges)
        USER = "user"  # the person's own edit
        REVIEW = "review"  # the person accepted a proposed change from the review inbox
        FORGET = "forget"  # the person had something forgotten
        IMPORT = "import"  # memory brought in from an export document
        UNDO = "undo"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_changesets"
    )
    source = models.CharField(max_length=16, choices=Source.choices)
    segment = models.ForeignKey(
        Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="changesets"
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    undone_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="undoes"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_source_display()} changes of {self.created_at:%Y-%m-%d %H:%M}"


class MemoryEvent(models.Model):
    """One change to one fact, with the fact's state before and after (the undo journal)."""

    class Action(models.TextChoices):
        ADD = "add"
        MERGE = "merge"  # a duplicate folded into this fact
        SUPERSEDE = "supersede"  # this fact was replaced by a newer one
        UPDATE = "update"
        RETRACT = "retract"
        RESTORE = "restore"  # an undo put this fact back

    changeset = models.ForeignKey(MemoryChangeset, on_delete=models.CASCADE, related_name="events")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_events"
    )
    fact = models.ForeignKey(
        Fact, on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    # Snapshots of the fact (memoryapp.services.memory.journal); None: it did not exist.
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["changeset", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {(self.after or self.before or {}).get('text', '')}"


class FactProposal(models.Model):
    """A change consolidation would have made but sent to the person for review instead: the
    model was unsure (confidence under MEMORY_REVIEW_CONFIDENCE) or it would supersede a fact
    the person edited. Accepting applies it as a changeset; a rejection is kept so the same
    change from the same messages is not proposed again."""

    class Action(models.TextChoices):
        ADD = "add"
        MERGE = "merge"
        SUPERSEDE = "supersede"

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    class Why(models.TextChoices):
        UNSURE = "unsure"  # the model's confidence was low
        USER_EDITED = "user_edited"  # it would change a fact the person edited

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fact_proposals"
    )
    segment = models.ForeignKey(
        Segment, on_delete=models.SET_NULL, null=True, blank=True, related_name="proposals"
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    why = models.CharField(max_length=16, choices=Why.choices)
    # The fact it would merge into or supersede.
    target = models.ForeignKey(
        Fact, on_delete=models.CASCADE, null=True, blank=True, related_name="proposals"
    )
    # The proposed fact, as extraction validated it.
    text = models.TextField()
    kind = models.CharField(max_length=16, choices=Fact.Kind.choices, default=Fact.Kind.OTHER)
    subject = models.CharField(max_length=200, default="user")
    confidence = models.FloatField(default=0.5)
    valid_from = models.DateTimeField(null=True, blank=True)
    said_at = models.DateTimeField()
    # A merge's rewording of the target fact, when the model gave one.
    merged_text = models.TextField(blank=True)
    source_message_ids = ArrayField(models.UUIDField(), default=list)
    embedding = VectorField(dimensions=EMBEDDING_DIM, null=True, blank=True)
    reason = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # The changeset that applied it, once accepted.
    changeset = models.ForeignKey(
        MemoryChangeset, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "status", "-created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(action="add") | Q(target__isnull=False),
                name="fact_proposal_change_has_target",
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="fact_proposal_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.text}"


class ImportJob(JobState):
    """A file the person uploaded to bring history in, read by a background job that reports
    its progress on the Memory page. Its digest makes an import of the same file idempotent."""

    class Format(models.TextChoices):
        MEMORYAPP = "memoryapp", "memoryapp export"
        CHATGPT = "chatgpt", "ChatGPT data export"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="import_jobs"
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    filename = models.CharField(max_length=255)
    # Where the upload waits for the worker (removed when the job ends).
    upload_path = models.CharField(max_length=500, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    # Progress in conversations.
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    # What the import brought in (conversations, messages, facts, skipped ...).
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return f"Import of {self.filename}"


class Profile(models.Model):
    """A short living summary of the user, rebuilt from active facts; always in the prompt."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memory_profile"
    )
    summary = models.TextField(blank=True)
    fact_count = models.PositiveIntegerField(default=0)
    source = models.CharField(max_length=16, blank=True)  # "llm" or "facts"
    stale = models.BooleanField(default=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Profile of {self.owner}"


class Citation(models.Model):
    """A memory unit an answer was given in its context, with its number; `cited` when the
    answer refers to it as [n]."""

    answer = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="citations")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="citations"
    )
    number = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=16)  # segment, fact or message
    segment = models.ForeignKey(Segment, on_delete=models.SET_NULL, null=True, blank=True)
    fact = models.ForeignKey(Fact, on_delete=models.SET_NULL, null=True, blank=True)
    message_ids = ArrayField(models.UUIDField(), default=list)
    rank = models.PositiveSmallIntegerField()
    score = models.FloatField()
    cited = models.BooleanField(default=False)

    class Meta:
        ordering = ["answer", "number"]
        constraints = [
            models.UniqueConstraint(fields=["answer", "number"], name="citation_number_unique")
        ]

    def __str__(self) -> str:
        return f"[{self.number}] of {self.answer_id}"
