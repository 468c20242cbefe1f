"""Celery tasks: take ids, load rows, call one service. Named "<queue>.<job>" for routing.

Services never import this module: they queue tasks by name through `memoryapp.jobs`.

A person may delete a conversation while one of its jobs runs. The job then finds its rows
gone (a missing row, a foreign key to nothing, an update that matched no row); that is not
a failure, so it ends with an INFO line instead of a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import DatabaseError

from memoryapp import jobs
from memoryapp.heartbeats import answer_heartbeat
from memoryapp.models import Conversation, ImportJob, Message, Segment
from memoryapp.services.answering import answer_generate, answers_requeue_stale
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.importing import import_job_run
from memoryapp.services.memory.ingestion import conversation_ingest
from memoryapp.services.memory.upkeep import memory_sleep, memory_upkeep
from memoryapp.services.model_manager.hub import model_download_run
from memoryapp.services.titles import conversation_title_due, conversation_title_suggest

logger = logging.getLogger(__name__)

T = TypeVar("T")

# An answer is bounded by the LLM time limit, plus retrieval before it and saving after.
ANSWER_SOFT_LIMIT = int(settings.LLM_TIMEOUT_SECONDS) + 60
ANSWER_HARD_LIMIT = ANSWER_SOFT_LIMIT + 30
# Consolidation makes several model calls (digest, extraction, a decision per fact).
MEMORY_SOFT_LIMIT = 30 * 60
MEMORY_HARD_LIMIT = MEMORY_SOFT_LIMIT + 60
# An import stores the file's conversations and ingests them (consolidation is queued as
# jobs of its own); it reports progress, and a run cut short is resumed by the next one.
IMPORT_SOFT_LIMIT = 2 * 60 * 60
IMPORT_HARD_LIMIT = IMPORT_SOFT_LIMIT + 60
# A model file is gigabytes: hours on a slow line (an interrupted one goes on from its bytes).
MODEL_DOWNLOAD_SOFT_LIMIT = 12 * 60 * 60
MODEL_DOWNLOAD_HARD_LIMIT = MODEL_DOWNLOAD_SOFT_LIMIT + 60
# A title waits for the chat worker to be idle, then makes one short model call.
TITLE_SOFT_LIMIT = int(settings.MEMORY_YIELD_MAX_SECONDS) + 120
TITLE_HARD_LIMIT = TITLE_SOFT_LIMIT + 30


def _unless_gone(job: Callable[[], T], *, what: str, exists: Callable[[], bool]) -> T | None:
    """`job()`, or None when it failed because `what` was deleted meanwhile."""
    try:
        return job()
    except (ObjectDoesNotExist, DatabaseError):
        if exists():
            raise
    logger.info("%s was deleted while its job ran; nothing more to do", what)
    return None


@shared_task(
    name="chat.answer",
    acks_late=True,
    soft_time_limit=ANSWER_SOFT_LIMIT,
    time_limit=ANSWER_HARD_LIMIT,
)
def answer_message(answer_id: str) -> None:
    try:
        with answer_heartbeat(answer_id=UUID(answer_id)) as lease:
            answer = _unless_gone(
                lambda: answer_generate(answer_id=UUID(answer_id), lease=lease),
                what=f"answer {answer_id}",
                exists=Message.objects.filter(pk=answer_id).exists,
            )
    finally:
        jobs.answer_job_done(answer_id=answer_id)
    if answer is None:
        return
    # The title is the memory worker's job: the next answer never waits for it.
    if answer.status == Message.Status.DONE and conversation_title_due(
        conversation_id=answer.conversation_id
    ):
        jobs.title_enqueue(conversation_id=answer.conversation_id)
    if answer.content:
        jobs.ingestion_enqueue(conversation_id=answer.conversation_id)


@shared_task(name="chat.requeue_stale_answers")
def requeue_stale_answers() -> int:
    return answers_requeue_stale()


@shared_task(
    name="memory.suggest_title",
    acks_late=True,
    soft_time_limit=TITLE_SOFT_LIMIT,
    time_limit=TITLE_HARD_LIMIT,
)
def suggest_title(conversation_id: str) -> str | None:
    titled = _unless_gone(
        lambda: conversation_title_suggest(
            conversation=Conversation.objects.get(pk=conversation_id)
        ),
        what=f"conversation {conversation_id}",
        exists=Conversation.objects.filter(pk=conversation_id).exists,
    )
    return None if titled is None else titled.title


@shared_task(name="memory.ingest_conversation", acks_late=True, soft_time_limit=600, time_limit=660)
def ingest_conversation(conversation_id: str, final: bool = False) -> int:
    closed = _unless_gone(
        lambda: conversation_ingest(conversation_id=UUID(conversation_id), final=final),
        what=f"conversation {conversation_id}",
        exists=Conversation.objects.filter(pk=conversation_id).exists,
    )
    return 0 if closed is None else len(closed)


@shared_task(
    name="memory.consolidate_segment",
    acks_late=True,
    soft_time_limit=MEMORY_SOFT_LIMIT,
    time_limit=MEMORY_HARD_LIMIT,
)
def consolidate_segment(segment_id: str) -> str | None:
    segment = _unless_gone(
        lambda: segment_consolidate(segment_id=UUID(segment_id)),
        what=f"segment {segment_id}",
        exists=Segment.objects.filter(pk=segment_id).exists,
    )
    return None if segment is None else segment.job_status


@shared_task(
    name="memory.import",
    acks_late=True,
    soft_time_limit=IMPORT_SOFT_LIMIT,
    time_limit=IMPORT_HARD_LIMIT,
)
def import_history(job_id: str) -> str | None:
    job = _unless_gone(
        lambda: import_job_run(job_id=UUID(job_id)),
        what=f"import job {job_id}",
        exists=ImportJob.objects.filter(pk=job_id).exists,
    )
    return None if job is None else job.job_status


@shared_task(name="memory.upkeep", soft_time_limit=600, time_limit=660)
def upkeep() -> dict[str, Any]:
    return memory_upkeep()


@shared_task(name="memory.sleep", soft_time_limit=1800, time_limit=1860)
def sleep() -> dict[str, Any]:
    return memory_sleep()


@shared_task(
    name="memory.model_download",
    acks_late=True,
    soft_time_limit=MODEL_DOWNLOAD_SOFT_LIMIT,
    time_limit=MODEL_DOWNLOAD_HARD_LIMIT,
)
def model_download(download_id: str) -> str:
    return model_download_run(download_id=UUID(download_id)).status
