"""Bringing history in: a memoryapp export document (restored whole, ids remapped, vectors
rebuilt), a ChatGPT data export (its conversations, then the normal memory pipeline), and the
background jobs that import a file uploaded on the Memory page.

Every check comes before anything is stored: a file over IMPORT_MAX_BYTES, one that is not
JSON (truncated), of the other format, or breaking the schema is refused with a
ValidationError that says why, and nothing changes.

Both imports are idempotent where it matters: a ChatGPT conversation already imported (its
id is the conversation's `external_id`) is skipped, and a document is only restored into an
account without history unless merging is asked for. A job whose worker died is claimed
again (`import_jobs_requeue`) and resumes without duplicating anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from memoryapp import jobs
from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.models import (
    Citation,
    Conversation,
    Fact,
    FactProposal,
    FactSource,
    ImportJob,
    JobStatus,
    MemberSettings,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Passage,
    Profile,
    Segment,
)
from memoryapp.models.conversation import KEPT
from memoryapp.services.imports import (
    Progress,
    conversations_ingest,
    conversations_store,
    memory_build,
)
from memoryapp.services.memory import export
from memoryapp.services.memory.chatgpt import chatgpt_read
from memoryapp.services.memory.claims import job_claim
from memoryapp.services.memory.export_schema import (
    Document,
    MessageRow,
    Row,
    Snapshot,
    memory_document_validate,
)
from memoryapp.services.memory.import_files import (
    NOTHING_DONE,
    file_read,
    file_size_check,
    import_too_large,
    json_parse,
)
from memoryapp.services.memory.locks import owner_lock
from memoryapp.services.memory.passages import passage_texts
from memoryapp.services.memory.privacy import memory_paused
from memoryapp.services.memory.profile import profile_mark_stale

logger = logging.getLogger(__name__)

# Messages embedded per batch while a document is restored (progress is reported after each).
EMBED_BATCH = 512
UPLOAD_CHUNK = 1024 * 1024
# A pending job older than this was lost on its way to the worker.
LOST_JOB_SECONDS = 60


@dataclass(frozen=True)
class ImportOutcome:
    """What an import brought in, and what it found there already."""

    conversations: int = 0
    messages: int = 0
    segments: int = 0
    facts: int = 0
    proposals: int = 0
    changesets: int = 0
    skipped: int = 0  # ChatGPT conversations imported before (same id), left as they are
    empty: int = 0  # ChatGPT conversations without a message to keep
    private: bool = False  # memory was paused: kept as chat history only

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- The memoryapp export document ------------------------------------------------------------


def memory_document_read(*, path: Path) -> Any:
    """The JSON of a memoryapp export file (not validated yet: `memory_document_validate`)."""
    file_size_check(path)
    if zipfile.is_zipfile(path):
        raise ValidationError(
            "This is a .zip, not a memoryapp export (a .json file): a ChatGPT export is "
            f"imported as “ChatGPT data export”. {NOTHING_DONE}"
        )
    return json_parse(file_read(path), "The file")


class _Ids:
    """New ids for old ones. The document's rows get new UUIDs in the order of their old ones,
    so every listing ordered by time, then id, keeps its order; any other id a reference
    holds (a message forgotten since) gets a new one too, the same wherever it appears."""

    def __init__(self, known: Iterable[UUID]) -> None:
        old = sorted(set(known))
        self._new = dict(zip(old, sorted(uuid.uuid4() for _ in old), strict=True))

    def __call__(self, old: UUID) -> UUID:
        return self._new.setdefault(old, uuid.uuid4())

    def maybe(self, old: UUID | None) -> UUID | None:
        return None if old is None else self(old)

    def text(self, old: Any) -> Any:
        """A UUID written as text, remapped; anything else as it is."""
        if not isinstance(old, str):
            return old
        try:
            return str(self(UUID(old)))
        except ValueError:
            return old


# The keys of a fact snapshot (journal.fact_snapshot) that hold ids.
SNAPSHOT_IDS = ("id", "segment", "superseded_by")


def _snapshot(snapshot: Snapshot, ids: _Ids) -> Snapshot:
    if snapshot is None:
        return None
    remapped = dict(snapshot)
    for key in SNAPSHOT_IDS:
        if key in remapped:
            remapped[key] = ids.text(remapped[key])
    if isinstance(remapped.get("sources"), list):
        remapped["sources"] = [ids.text(source) for source in remapped["sources"]]
    return remapped


def _account_has_history(owner: User) -> bool:
    return any(
        model.objects.filter(owner=owner).exists()
        for model in (Conversation, Fact, FactProposal, MemoryChangeset)
    )


def _account_check(owner: User, doc: Document, *, merge: bool) -> None:
    if not merge and _account_has_history(owner):
        raise ValidationError(
            "This account already has conversations or memories, and the export would be "
            "mixed with them: import it with merge (--merge, or “add to the memory I have”) "
            f"to add it anyway. {NOTHING_DONE}"
        )
    external = {c.external_id for c in doc.conversations if c.external_id}
    taken = Conversation.objects.filter(owner=owner, external_id__in=external)
    if taken.exists():
        raise ValidationError(
            f"{taken.count()} of the export's conversations were imported into this account "
            f"already (the same ChatGPT conversations). {NOTHING_DONE}"
        )


@dataclass
class _Restore:
    """The rows of a document for one owner, built before anything is written."""

    conversations: list[Conversation] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    sources: list[FactSource] = field(default_factory=list)
    changesets: list[MemoryChangeset] = field(default_factory=list)
    events: list[MemoryEvent] = field(default_factory=list)
    proposals: list[FactProposal] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    # The conversations to ingest and segments to consolidate once it is committed.
    to_ingest: list[UUID] = field(default_factory=list)
    to_consolidate: list[UUID] = field(default_factory=list)


def _message_status(message: MessageRow) -> tuple[str, str]:
    """An answer still being written when exported is no longer: stopped with what it had,
    or failed (the chat worker must not pick it up in the new account)."""
    if message.status not in (Message.Status.PENDING, Message.Status.STREAMING):
        return message.status, message.error
    if message.content:
        return Message.Status.STOPPED, message.error
    return Message.Status.FAILED, "This answer was still being written when it was exported."


# Fields of the export that hold ids of the document's rows (remapped on the way in).
REFERENCES = frozenset(
    {"id", "conversation_id", "reply_to_id", "segment_id", "fact_id", "superseded_by_id",
     "target_id", "changeset_id", "undone_by_id"}
)  # fmt: skip
ID_LISTS = frozenset({"message_ids", "source_message_ids"})


def _fields(row: Row, names: Iterable[str], ids: _Ids, **extra: Any) -> dict[str, Any]:
    """The model fields of `row` among `names` (export's field lists), references remapped."""
    fields: dict[str, Any] = {}
    for name in names:
        if name not in type(row).model_fields:
            continue
        value = getattr(row, name)
        if name in REFERENCES:
            value = ids.maybe(value)
        elif name in ID_LISTS:
            value = [ids(item) for item in value]
        fields[name] = value
    return fields | extra


def _rows_build(owner: User, doc: Document, ids: _Ids) -> _Restore:
    rows = _Restore()
    for conversation in doc.conversations:
        rows.conversations.append(
            Conversation(owner=owner, **_fields(conversation, export.CONVERSATION_FIELDS, ids))
        )
        waiting = False
        for message in conversation.messages:
            status, error = _message_status(message)
            restored = Message(
                owner=owner,
                **_fields(
                    message,
                    export.MESSAGE_FIELDS,
                    ids,
                    conversation_id=ids(conversation.id),
                    status=status,
                    error=error,
                ),
            )
            rows.messages.append(restored)
            waiting |= restored.segment_id is None and _for_memory(restored)
            rows.citations += [
                Citation(
                    owner=owner,
                    answer_id=restored.id,
                    **_fields(citation, export.CITATION_FIELDS, ids),
                )
                for citation in message.citations
            ]
        if waiting:
            rows.to_ingest.append(ids(conversation.id))
    for segment in doc.segments:
        # A consolidation under way when exported is pending here; one due for a retry is
        # due now. Either is queued once the import is committed.
        restored_segment = Segment(owner=owner, **_fields(segment, export.SEGMENT_FIELDS, ids))
        if segment.job_status == JobStatus.RUNNING:
            restored_segment.job_status = JobStatus.PENDING
        elif segment.job_status == JobStatus.RETRY:
            restored_segment.next_attempt_at = timezone.now()
        rows.segments.append(restored_segment)
        if restored_segment.status == Segment.Status.CLOSED and restored_segment.job_status in (
            JobStatus.PENDING,
            JobStatus.RETRY,
        ):
            rows.to_consolidate.append(restored_segment.id)
    for fact in doc.facts:
        rows.facts.append(Fact(owner=owner, **_fields(fact, export.FACT_FIELDS, ids)))
        rows.sources += [
            FactSource(fact_id=ids(fact.id), message_id=ids(m), owner=owner) for m in fact.sources
        ]
    events = [e for f in doc.facts for e in f.history]
    events += [e for c in doc.changesets for e in c.detached_events]
    # In the order of their old ids, so that their new ids (the database's) keep it.
    rows.events = [
        MemoryEvent(
            owner=owner,
            **_fields(
                event,
                (f for f in export.EVENT_FIELDS if f != "id"),
                ids,
                before=_snapshot(event.before, ids),
                after=_snapshot(event.after, ids),
            ),
        )
        for event in sorted(events, key=lambda e: e.id)
    ]
    rows.changesets = [
        MemoryChangeset(owner=owner, **_fields(changeset, export.CHANGESET_FIELDS, ids))
        for changeset in doc.changesets
    ]
    rows.proposals = [
        FactProposal(owner=owner, **_fields(proposal, export.PROPOSAL_FIELDS, ids))
        for proposal in doc.proposals
    ]
    return rows


def _for_memory(message: Message) -> bool:
    """`FOR_MEMORY` of a message not stored yet."""
    return message.status in KEPT and message.content != "" and not message.private


def _vectors_build(rows: _Restore, total: int, progress: Progress | None) -> None:
    """Embed what the pipeline had embedded, as it does, before anything is written: every
    message ingested into a segment, the passages of a person's among them, segments' keys and
    summaries, facts and proposals. A message not ingested yet is left to ingestion."""
    fingerprint = model_fingerprint()
    by_conversation: defaultdict[UUID, list[Message]] = defaultdict(list)
    for message in rows.messages:
        by_conversation[message.conversation_id].append(message)
    batch: list[Message] = []
    if progress is not None:
        progress(0, total)
    for done, conversation in enumerate(rows.conversations, start=1):
        batch += [m for m in by_conversation[conversation.id] if m.segment_id and m.is_remembered]
        if len(batch) >= EMBED_BATCH or done == len(rows.conversations):
            _messages_embed(batch, fingerprint, rows.passages)
            batch = []
            if progress is not None:
                progress(done, total)
    segments = [s for s in rows.segments if s.retrieval_key]
    vectors = embed_texts([text for s in segments for text in (s.retrieval_key, s.summary)])
    for index, segment in enumerate(segments):
        segment.key_embedding = vectors[2 * index].tolist()
        segment.summary_embedding = vectors[2 * index + 1].tolist()
        segment.embedding_model = fingerprint
    for fact, vector in zip(rows.facts, embed_texts([f.text for f in rows.facts]), strict=True):
        fact.embedding, fact.embedding_model = vector.tolist(), fingerprint
    proposal_vectors = embed_texts([p.text for p in rows.proposals])
    for proposal, vector in zip(rows.proposals, proposal_vectors, strict=True):
        proposal.embedding = vector.tolist()


def _messages_embed(messages: list[Message], fingerprint: str, passages: list[Passage]) -> None:
    """As `ingestion.messages_embed` and `passages.passages_make` do, on unsaved messages."""
    planned = [
        (message, position, text)
        for message in messages
        if message.is_memory
        for position, text in passage_texts(message.content)
    ]
    vectors = embed_texts([m.content for m in messages] + [text for _, _, text in planned])
    for message, vector in zip(messages, vectors[: len(messages)], strict=True):
        message.embedding = vector.tolist()
        message.embedding_model = message.passages_model = fingerprint
    passages += [
        Passage(
            message_id=message.id,
            owner_id=message.owner_id,
            position=position,
            text=text,
            embedding=vector.tolist(),
        )
        for (message, position, text), vector in zip(planned, vectors[len(messages) :], strict=True)
    ]


def memory_document_import(
    *, owner: User, document: Any, merge: bool = False, progress: Progress | None = None
) -> ImportOutcome:
    """Restore a memoryapp export into `owner`'s account: conversations, messages with their
    citations, segments, facts with their sources and journal, the review inbox, changesets,
    and (unless merging) the profile and settings, every id new and every reference remapped,
    vectors rebuilt. One transaction: all of it or, on any problem, nothing.

    Refuses (ValidationError) a document that is not a valid export (`memory_document_validate`)
    and, unless `merge`, an account that already has history. Merging keeps the account's own
    profile (marked for a rebuild) and settings. Reports progress in conversations as their
    messages are embedded. Consolidation of segments that were pending, and ingestion of
    messages that were waiting for it, are queued once it is committed.
    """
    doc = memory_document_validate(document)
    _account_check(owner, doc, merge=merge)
    ids = _Ids(
        [c.id for c in doc.conversations]
        + [m.id for c in doc.conversations for m in c.messages]
        + [s.id for s in doc.segments]
        + [f.id for f in doc.facts]
        + [p.id for p in doc.proposals]
        + [c.id for c in doc.changesets]
    )
    rows = _rows_build(owner, doc, ids)
    _vectors_build(rows, len(doc.conversations), progress)
    try:
        with owner_lock(owner.pk), transaction.atomic():
            _account_check(owner, doc, merge=merge)  # again, now that nothing else writes
            _rows_write(owner, doc, rows, merge=merge)
    except (IntegrityError, DataError) as exc:  # a constraint, or a number out of range
        raise ValidationError(
            f"The memoryapp export breaks a rule of the database: {str(exc).splitlines()[0]}. "
            f"{NOTHING_DONE}"
        ) from exc
    return ImportOutcome(
        conversations=len(rows.conversations),
        messages=len(rows.messages),
        segments=len(rows.segments),
        facts=len(rows.facts),
        proposals=len(rows.proposals),
        changesets=len(rows.changesets),
    )


def _rows_write(owner: User, doc: Document, rows: _Restore, *, merge: bool) -> None:
    # References between rows (answers and questions, successors, undos) are foreign keys
    # checked at commit, so every table is written at once, in bulk.
    Conversation.objects.bulk_create(rows.conversations, batch_size=1000)
    Segment.objects.bulk_create(rows.segments, batch_size=1000)
    Message.objects.bulk_create(rows.messages, batch_size=1000)
    Passage.objects.bulk_create(rows.passages, batch_size=1000)
    Fact.objects.bulk_create(rows.facts, batch_size=1000)
    FactSource.objects.bulk_create(rows.sources, batch_size=1000)
    MemoryChangeset.objects.bulk_create(rows.changesets, batch_size=1000)
    MemoryEvent.objects.bulk_create(rows.events, batch_size=1000)
    FactProposal.objects.bulk_create(rows.proposals, batch_size=1000)
    Citation.objects.bulk_create(rows.citations, batch_size=1000)
    if merge:
        if rows.facts:
            profile_mark_stale(owner=owner)
    else:
        _profile_and_settings_restore(owner, doc)
    # The deferred checks now, so a broken reference is this import's refusal.
    connection.check_constraints()
    for conversation_id in rows.to_ingest:
        transaction.on_commit(partial(jobs.ingestion_enqueue, conversation_id=conversation_id))
    for segment_id in rows.to_consolidate:
        transaction.on_commit(partial(jobs.consolidation_enqueue, segment_id=segment_id))


def _profile_and_settings_restore(owner: User, doc: Document) -> None:
    if doc.profile is not None:
        Profile.objects.update_or_create(owner=owner, defaults=doc.profile.model_dump())
    MemberSettings.objects.update_or_create(user=owner, defaults=doc.settings.model_dump())


# --- The ChatGPT data export ------------------------------------------------------------------


def chatgpt_import(
    *,
    owner: User,
    path: Path,
    progress: Progress | None = None,
    build_here: bool = False,
) -> ImportOutcome:
    """Import a ChatGPT data export (`chatgpt_read`) into `owner`'s account, then feed its
    conversations to the memory pipeline: ingestion here (progress is reported in
    conversations), consolidation queued for the memory worker, or, with `build_here`, run
    here too (`imports.memory_build`).

    Idempotent: a conversation imported before (its ChatGPT id is its `external_id`) is not
    stored again, and its ingestion, if an earlier run was interrupted, is finished. While the
    person's memory is paused, the conversations are stored as chat history only.
    """
    read = chatgpt_read(path=path, speaker=owner.get_username())
    paused = memory_paused(owner=owner)
    with transaction.atomic():
        # One import of a person at a time: the second sees what the first stored.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        external_ids = [c.external_id for c in read.conversations]
        existing = set(
            Conversation.objects.filter(owner=owner, external_id__in=external_ids).values_list(
                "external_id", flat=True
            )
        )
        new = [c for c in read.conversations if c.external_id not in existing]
        conversations_store(owner=owner, conversations=new, private=paused)
    imported = dict(
        Conversation.objects.filter(owner=owner, external_id__in=external_ids).values_list(
            "external_id", "pk"
        )
    )
    ordered = [imported[e] for e in external_ids if e in imported]
    if progress is not None:
        progress(0, len(ordered))
    if build_here:
        memory_build(owner=owner, conversation_ids=ordered, progress=progress)
    else:
        conversations_ingest(conversation_ids=ordered, progress=progress)
    return ImportOutcome(
        conversations=len(new),
        messages=sum(len(c.messages) for c in new),
        segments=Segment.objects.filter(owner=owner, conversation_id__in=ordered).count(),
        facts=Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE).count(),
        skipped=len(existing),
        empty=read.empty,
        private=paused,
    )


# --- Background jobs --------------------------------------------------------------------------


def import_job_create(
    *, owner: User, format: str, upload: UploadedFile, merge: bool = False
) -> tuple[ImportJob, bool]:
    """Keep the upload under IMPORT_DIR (readable by this user alone, named by the job) and
    queue its import on commit. Returns the job and True; or, for a file this person imported
    already or is importing (same SHA-256), that job and False, keeping nothing.

    Refuses (ValidationError) an unknown format, a file over IMPORT_MAX_BYTES, and a memoryapp
    export into an account with history unless `merge`.
    """
    if format not in ImportJob.Format.values:
        raise ValidationError(f"Unknown import format {format!r}. {NOTHING_DONE}")
    if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
        raise ValidationError(import_too_large(upload.size))
    if format == ImportJob.Format.MEMORYAPP and not merge and _account_has_history(owner):
        raise ValidationError(
            "Your account already has conversations or memories: tick “add to the memory I "
            f"have” to import the export into it. {NOTHING_DONE}"
        )
    job_id = uuid.uuid4()
    path, sha256, size = _upload_store(job_id, upload)
    try:
        with transaction.atomic():
            User.objects.select_for_update().filter(pk=owner.pk).first()
            same = (
                ImportJob.objects.filter(owner=owner, sha256=sha256)
                .exclude(job_status=JobStatus.FAILED)
                .first()
            )
            if same is not None:
                path.unlink(missing_ok=True)
                return same, False
            job = ImportJob.objects.create(
                id=job_id,
                owner=owner,
                format=format,
                filename=(upload.name or "upload")[:255],
                upload_path=str(path),
                size=size,
                sha256=sha256,
                result={"merge": merge},
            )
            transaction.on_commit(partial(_job_enqueue, job_id))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job, True


def _job_enqueue(job_id: UUID) -> None:
    """Queue the job; while the broker is down it stays pending, with its upload, and the
    upkeep queues it (`import_jobs_requeue`)."""
    try:
        jobs.import_enqueue(job_id=job_id)
    except jobs.BROKER_ERRORS as exc:
        logger.warning("import job %s was not queued (%s); the upkeep queues it", job_id, exc)


def _upload_store(job_id: UUID, upload: UploadedFile) -> tuple[Path, str, int]:
    """Write the upload under IMPORT_DIR as "<job id>", readable by this user alone, while
    hashing it. Returns its path, SHA-256 and size."""
    directory = Path(settings.IMPORT_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / str(job_id)
    digest = hashlib.sha256()
    size = 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            for chunk in upload.chunks(UPLOAD_CHUNK):
                size += len(chunk)
                if size > settings.IMPORT_MAX_BYTES:
                    raise ValidationError(import_too_large(size))
                digest.update(chunk)
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, digest.hexdigest(), size


class _ClaimLost(Exception):
    """Another run took the job over (this worker was taken for dead)."""


def _job_progress(job_id: UUID, claim: UUID) -> Progress:
    def report(done: int, total: int) -> None:
        updated = ImportJob.objects.filter(pk=job_id, claim=claim).update(
            done=done, total=total, in_flight_since=timezone.now()
        )
        if updated != 1:
            raise _ClaimLost

    return report


def import_uploads_discard(*, owner: User) -> None:
    """Delete the uploads the owner's unfinished import jobs wait with, once the transaction
    that deletes those jobs (the person's removal) commits."""
    paths = list(
        ImportJob.objects.filter(owner=owner)
        .exclude(upload_path="")
        .values_list("upload_path", flat=True)
    )

    def discard() -> None:
        for path in paths:
            _upload_delete(path)

    transaction.on_commit(discard)


def _upload_delete(path: str) -> None:
    """Remove an upload the job kept (never a file outside IMPORT_DIR)."""
    if not path:
        return
    upload = Path(path)
    if upload.resolve().parent == Path(settings.IMPORT_DIR).resolve():
        upload.unlink(missing_ok=True)


def import_job_run(*, job_id: UUID) -> ImportJob | None:
    """Claim the import job and run it, reporting progress into `total`/`done`. Done or
    failed, its upload is deleted; a refused file fails it with the reason, an unexpected
    error is retried later (MEMORY_JOB_ATTEMPTS in all). Returns the job, or None when it was
    not claimable (done, running elsewhere, not due) or was taken over meanwhile."""
    claim = uuid.uuid4()
    if not job_claim(ImportJob.objects.filter(pk=job_id), claim=claim, now=timezone.now()):
        logger.info("import job %s is not due", job_id)
        return None
    job = ImportJob.objects.select_related("owner").get(pk=job_id)
    try:
        outcome = _job_import(job, _job_progress(job.pk, claim))
    except _ClaimLost:
        logger.info("import job %s was taken over by another run", job_id)
        return None
    except ValidationError as exc:
        _job_end(job, claim, JobStatus.FAILED, error=" ".join(exc.messages))
    except Exception as exc:
        logger.exception("import job %s failed", job_id)
        if job.attempts < settings.MEMORY_JOB_ATTEMPTS:
            delay = settings.MEMORY_RETRY_BASE_SECONDS * 2 ** (job.attempts - 1)
            ImportJob.objects.filter(pk=job.pk, claim=claim).update(
                job_status=JobStatus.RETRY,
                claim=None,
                in_flight_since=None,
                last_error=f"Interrupted ({type(exc).__name__}); it will be tried again.",
                next_attempt_at=timezone.now() + timedelta(seconds=delay),
            )
        else:
            _job_end(job, claim, JobStatus.FAILED, error=_gave_up(job.attempts))
    else:
        _job_end(job, claim, JobStatus.DONE, result=outcome.as_dict())
    job.refresh_from_db()
    return job


def _gave_up(attempts: int) -> str:
    return (
        f"The import stopped on an unexpected error {attempts} times and was given up; what it "
        "had imported stays (importing the file again finishes it)."
    )


def _job_import(job: ImportJob, progress: Progress) -> ImportOutcome:
    path = Path(job.upload_path)
    if not path.is_file():
        raise ValidationError(f"The uploaded file is gone. {NOTHING_DONE}")
    if job.format == ImportJob.Format.CHATGPT:
        return chatgpt_import(owner=job.owner, path=path, progress=progress)
    document = memory_document_read(path=path)
    merge = bool(job.result.get("merge"))
    return memory_document_import(
        owner=job.owner, document=document, merge=merge, progress=progress
    )


def _job_end(
    job: ImportJob,
    claim: UUID,
    status: JobStatus,
    *,
    error: str = "",
    result: dict[str, Any] | None = None,
) -> None:
    fields: dict[str, Any] = {
        "job_status": status,
        "last_error": error,
        "finished_at": timezone.now(),
        "in_flight_since": None,
        "claim": None,
        "next_attempt_at": None,
    }
    if result is not None:
        fields["result"] = {**job.result, **result}
    if ImportJob.objects.filter(pk=job.pk, claim=claim).update(**fields) == 1:
        _upload_delete(job.upload_path)


def import_jobs_requeue() -> int:
    """Queue import jobs that are due: running without a sign of life for
    MEMORY_STALE_JOB_SECONDS (the worker died; given up after MEMORY_JOB_ATTEMPTS), pending
    for a minute (the job was lost), or due for a retry. Returns how many were queued."""
    now = timezone.now()
    stale = ImportJob.objects.filter(
        job_status=JobStatus.RUNNING,
        in_flight_since__lt=now - timedelta(seconds=settings.MEMORY_STALE_JOB_SECONDS),
    )
    revived: set[UUID] = set()
    for job in stale:
        still = ImportJob.objects.filter(pk=job.pk, claim=job.claim, job_status=JobStatus.RUNNING)
        if job.attempts >= settings.MEMORY_JOB_ATTEMPTS:
            if still.update(
                job_status=JobStatus.FAILED,
                last_error=_gave_up(job.attempts),
                finished_at=now,
                claim=None,
                in_flight_since=None,
            ):
                _upload_delete(job.upload_path)
        elif still.update(job_status=JobStatus.PENDING, claim=None, in_flight_since=None):
            revived.add(job.pk)
    due = ImportJob.objects.filter(
        Q(job_status=JobStatus.PENDING, created_at__lt=now - timedelta(seconds=LOST_JOB_SECONDS))
        | Q(job_status=JobStatus.RETRY, next_attempt_at__lte=now)
    ).values_list("pk", flat=True)
    queued = sorted(revived | set(due))
    for job_id in queued:
        jobs.import_enqueue(job_id=job_id)
    return len(queued)
