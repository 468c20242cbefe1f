"""Consolidating a closed segment: title, summary, denoised retrieval key, keywords,
embeddings, then the facts it taught, all committed at once by the worker holding the claim.

The job is idempotent: it runs only on a claimed segment (pending or due for retry), and its
result is written in one transaction that first checks the claim is still this worker's, so
a job redelivered after a worker died, or re-queued by the sweeper, is applied exactly once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

import pydantic
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.llm import LLMError, LLMInvalidOutput
from memoryapp.llm.prompting import Shown, prompt_within, render_prompt
from memoryapp.llm.schemas import Paragraph, Passage, Title
from memoryapp.models import JobStatus, MemoryChangeset, Message, Segment
from memoryapp.models.conversation import FOR_MEMORY
from memoryapp.services.memory import denoise
from memoryapp.services.memory.claims import job_claim, jobs_claim
from memoryapp.services.memory.facts import Step, facts_apply, facts_extract, facts_plan
from memoryapp.services.memory.locks import owner_lock
from memoryapp.services.memory.model_access import MemoryModel
from memoryapp.services.memory.notices import changeset_notify
from memoryapp.services.memory.profile import profile_mark_stale
from memoryapp.services.memory.transcript import (
    TranscriptPart,
    context_first,
    memory_turns,
    memory_utterances,
    speaker_of,
    transcript_parts,
)

logger = logging.getLogger(__name__)

DIGEST_MAX_TOKENS = 600
# How a segment's title, summary, key and keywords are built; a segment with an older
# `text_version` is rebuilt by the upkeep. 1: from every turn, the assistant's included.
# 2: from people's turns, the assistant's only as their context (`transcript`).
SEGMENT_TEXT_VERSION = 2


class SegmentDigest(pydantic.BaseModel):
    title: Title
    summary: Paragraph
    key: Passage


@dataclass
class SegmentText:
    title: str
    summary: str
    retrieval_key: str
    keywords: list[str]
    source: str
    key_embedding: list[float] | None = field(repr=False)
    summary_embedding: list[float] | None = field(repr=False)


def segment_messages(segment: Segment) -> list[Message]:
    return list(
        Message.objects.filter(segment=segment, owner_id=segment.owner_id).order_by("sequence")
    )


def segment_text_deterministic(messages: list[Message], *, embed: bool = True) -> SegmentText:
    """Title, extractive summary, filtered key and keywords, without any LLM, from what
    people said (`transcript.memory_turns`); empty, without vectors, when they said nothing.
    With `embed` false the vectors are left for `segment_texts_embed`."""
    utterances = memory_utterances(messages)
    if not utterances:
        return SegmentText("", "", "", [], "extractive", None, None)
    key = denoise.retrieval_key(utterances)
    candidates = denoise.summary_candidates(utterances) or [key]
    summary = denoise.extractive_summary(candidates)
    keywords = denoise.keywords([u.text for u in utterances])
    text = SegmentText(
        title=denoise.title_from(keywords, utterances),
        summary=summary,
        retrieval_key=key,
        keywords=keywords,
        source="extractive",
        key_embedding=None,
        summary_embedding=None,
    )
    if embed:
        segment_texts_embed([text])
    return text


def segment_texts_embed(texts: Sequence[SegmentText]) -> None:
    """Give each text with content (a key) the vectors of its key and summary, in one model
    call for all of them: a segment's two texts alone pad little and run short batches."""
    todo = [text for text in texts if text.retrieval_key]
    vectors = embed_texts([t for text in todo for t in (text.retrieval_key, text.summary)])
    for index, text in enumerate(todo):
        text.key_embedding = vectors[2 * index].tolist()
        text.summary_embedding = vectors[2 * index + 1].tolist()


def memory_transcript(parts: list[TranscriptPart], shown: Shown) -> str:
    """People's turns as "speaker: text" lines, each after the assistant's words it responds
    to: what a model is given to write a segment's digest from."""
    return "\n".join(f"{speaker_of(parts[index].message)}: {text}" for index, text in shown)


def _segment_text_llm(
    messages: list[Message], fallback: SegmentText, model: MemoryModel
) -> SegmentText:
    parts = transcript_parts(memory_turns(messages))
    if not parts:
        return fallback
    try:
        prompt = prompt_within(
            model.active,
            [part.text for part in parts],
            render=lambda shown: render_prompt(
                "segment_digest.txt", {"transcript": memory_transcript(parts, shown)}
            ),
            max_tokens=DIGEST_MAX_TOKENS,
            droppable=context_first(parts),
        )
        digest = model.json(
            [{"role": "user", "content": prompt.text}], SegmentDigest, max_tokens=DIGEST_MAX_TOKENS
        )
    except LLMError as exc:
        logger.info("segment digest falls back to the extractive one: %s", exc)
        return fallback
    # The model's compression is added to the filtered key, not swapped in: a compressed
    # key that lost a name or a number must not make the segment unfindable.
    key = f"{digest.key.strip()}\n{fallback.retrieval_key}"[:6000]
    return SegmentText(
        title=digest.title.strip(),
        summary=digest.summary.strip(),
        retrieval_key=key,
        keywords=fallback.keywords,
        source="llm",
        key_embedding=None,
        summary_embedding=None,
    )


def _segment_text(messages: list[Message], model: MemoryModel, *, llm: bool = True) -> SegmentText:
    """The segment's text as consolidation writes it, embedded: the model's digest when its
    stages are on (and `llm`), else (or when it fails) the deterministic one; only the text
    kept is embedded."""
    text = segment_text_deterministic(messages, embed=False)
    if model.enabled and llm:
        text = _segment_text_llm(messages, text, model)
    segment_texts_embed([text])
    return text


def segment_claim(*, segment_id: UUID) -> Segment | None:
    """Take a closed segment whose consolidation is due; None if it is not (any more)."""
    closed = Segment.objects.filter(pk=segment_id, status=Segment.Status.CLOSED)
    if not job_claim(closed, claim=uuid.uuid4(), now=timezone.now()):
        return None
    return Segment.objects.select_related("owner").get(pk=segment_id)


def segment_consolidate(*, segment_id: UUID) -> Segment | None:
    """Consolidate one closed segment. Returns it, or None when it was not claimable."""
    segment = segment_claim(segment_id=segment_id)
    if segment is None:
        logger.info("segment %s is not due for consolidation", segment_id)
        return None
    model = MemoryModel.for_memory()
    with owner_lock(segment.owner_id):
        messages = segment_messages(segment)
        text = _segment_text(messages, model)
        steps: list[Step] = []
        error: LLMError | None = None
        if model.enabled:
            try:
                new_facts = facts_extract(segment=segment, messages=messages, model=model)
                steps = facts_plan(owner=segment.owner, facts=new_facts, model=model)
            except LLMError as exc:
                logger.warning("facts of segment %s failed: %s", segment.pk, exc)
                error = exc
        changeset = _commit(segment, text, steps, error, model)
    if changeset is not None:
        changeset_notify(changeset=changeset)
    segment.refresh_from_db()
    return segment


def segments_consolidate(*, segment_ids: Sequence[UUID]) -> list[Segment]:
    """Consolidate closed segments in this process (an import's build); returns those that
    were claimable, consolidated or failed as `segment_consolidate` leaves them.

    With memory's model on, one after the other (its calls are the cost). With it off, a
    segment's consolidation is its deterministic text and two vectors: the segments are
    claimed together, their texts embedded in one model call, and committed together, each
    as `segment_consolidate` would (the claim checked, nothing learned)."""
    model = MemoryModel.for_memory()
    if model.enabled:
        done = [segment_consolidate(segment_id=segment_id) for segment_id in segment_ids]
        return [segment for segment in done if segment is not None]
    claim = uuid.uuid4()
    closed = Segment.objects.filter(pk__in=list(segment_ids), status=Segment.Status.CLOSED)
    jobs_claim(closed, claim=claim, now=timezone.now())
    claimed = list(Segment.objects.filter(pk__in=list(segment_ids), claim=claim).order_by("pk"))
    for owner_id in sorted({segment.owner_id for segment in claimed}):
        mine = [segment for segment in claimed if segment.owner_id == owner_id]
        with owner_lock(owner_id):
            turns: dict[UUID | None, list[Message]] = {segment.pk: [] for segment in mine}
            held = Message.objects.filter(segment__in=[s.pk for s in mine], owner_id=owner_id)
            for message in held.order_by("segment_id", "sequence"):
                turns[message.segment_id].append(message)
            texts = [segment_text_deterministic(turns[s.pk], embed=False) for s in mine]
            segment_texts_embed(texts)
            with transaction.atomic():
                for segment, text in zip(mine, texts, strict=True):
                    _commit(segment, text, [], None, model)
    return list(Segment.objects.filter(pk__in=[segment.pk for segment in claimed]))


def segment_text_rebuild(*, segment_id: UUID) -> bool:
    """Rebuild a consolidated segment's text as `SEGMENT_TEXT_VERSION` builds it, after
    taking out the turns that are not remembered (failed or stopped-empty answers that
    older versions let in). Its facts are kept. False when it was not due (any more)."""
    segment = Segment.objects.filter(pk=segment_id, job_status=JobStatus.DONE).first()
    if segment is None or segment.text_version >= SEGMENT_TEXT_VERSION:
        return False
    model = MemoryModel.for_memory()
    with owner_lock(segment.owner_id):
        Message.objects.filter(segment=segment).exclude(FOR_MEMORY).update(segment=None)
        messages = segment_messages(segment)
        text = _segment_text(messages, model, llm=segment.summary_source == "llm")
        with transaction.atomic():
            current = Segment.objects.select_for_update().get(pk=segment_id)
            if current.job_status != JobStatus.DONE:
                return False  # consolidated again meanwhile
            current.message_count = len(messages)
            _text_write(current, text, model)
            current.save()
    return True


def _text_write(segment: Segment, text: SegmentText, model: MemoryModel) -> None:
    segment.title = text.title
    segment.summary = text.summary
    segment.retrieval_key = text.retrieval_key
    segment.keywords = text.keywords
    segment.summary_source = text.source
    segment.key_embedding = text.key_embedding
    segment.summary_embedding = text.summary_embedding
    segment.embedding_model = model_fingerprint()
    segment.text_version = SEGMENT_TEXT_VERSION
    segment.llm_calls += model.calls
    segment.prompt_tokens += model.prompt_tokens
    segment.completion_tokens += model.completion_tokens


@transaction.atomic
def _commit(
    segment: Segment,
    text: SegmentText,
    steps: list[Step],
    error: LLMError | None,
    model: MemoryModel,
) -> MemoryChangeset | None:
    current = Segment.objects.select_for_update().get(pk=segment.pk)
    if current.claim != segment.claim or current.job_status != JobStatus.RUNNING:
        logger.info("segment %s was taken over by another run; discarding this one", segment.pk)
        return None
    _text_write(current, text, model)
    current.in_flight_since = None
    current.claim = None
    changeset = None
    if error is None:
        changeset = facts_apply(owner=current.owner, segment=current, steps=steps)
        current.job_status = JobStatus.DONE
        current.consolidated_at = timezone.now()
        current.last_error = ""
        current.raw_output = ""
        current.next_attempt_at = None
        if changeset is not None:
            profile_mark_stale(owner=current.owner)
    else:
        _record_failure(current, error)
    current.save()
    return changeset


def _record_failure(segment: Segment, error: LLMError) -> None:
    """Retry later with exponential backoff, or park the job once its attempts are used up."""
    segment.last_error = str(error)
    segment.raw_output = error.raw_output if isinstance(error, LLMInvalidOutput) else ""
    if error.retryable and segment.attempts < settings.MEMORY_JOB_ATTEMPTS:
        delay = settings.MEMORY_RETRY_BASE_SECONDS * 2 ** (segment.attempts - 1)
        segment.job_status = JobStatus.RETRY
        segment.next_attempt_at = timezone.now() + timedelta(seconds=delay)
    else:
        segment.job_status = JobStatus.FAILED
        segment.next_attempt_at = None
