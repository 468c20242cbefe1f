"""Celery tasks: take ids, load rows, call one service. Named "<queue>.<job>" for routing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from celery import shared_task
from django.conf import settings

from memoryapp.services.answering import answer_generate, answers_requeue_stale

# An answer is bounded by the LLM time limit; the title suggestion adds a little.
ANSWER_SOFT_LIMIT = int(settings.LLM_TIMEOUT_SECONDS) + 60
ANSWER_HARD_LIMIT = ANSWER_SOFT_LIMIT + 30
# Consolidation makes several model calls (digest, extraction, a decision per fact).
MEMORY_SOFT_LIMIT = 30 * 60
MEMORY_HARD_LIMIT = MEMORY_SOFT_LIMIT + 60


@shared_task(
    name="chat.answer",
    acks_late=True,
    soft_time_limit=ANSWER_SOFT_LIMIT,
    time_limit=ANSWER_HARD_LIMIT,
)
def answer_message(answer_id: str) -> None:
    answer = answer_generate(answer_id=UUID(answer_id))
    if answer is not None and answer.content:
        ingest_conversation.delay(str(answer.conversation_id))


@shared_task(name="chat.requeue_stale_answers")
def requeue_stale_answers() -> int:
    return answers_requeue_stale()


@shared_task(name="memory.ingest_conversation", acks_late=True, soft_time_limit=600, time_limit=660)
def ingest_conversation(conversation_id: str, final: bool = False) -> int:
    from memoryapp.services.memory.ingestion import conversation_ingest

    return len(conversation_ingest(conversation_id=UUID(conversation_id), final=final))


@shared_task(
    name="memory.consolidate_segment",
    acks_late=True,
    soft_time_limit=MEMORY_SOFT_LIMIT,
    time_limit=MEMORY_HARD_LIMIT,
)
def consolidate_segment(segment_id: str) -> str | None:
    from memoryapp.services.memory.consolidation import segment_consolidate

    segment = segment_consolidate(segment_id=UUID(segment_id))
    return None if segment is None else segment.job_status


@shared_task(name="memory.upkeep", soft_time_limit=600, time_limit=660)
def upkeep() -> dict[str, Any]:
    from memoryapp.services.memory.upkeep import memory_upkeep

    return memory_upkeep()


@shared_task(name="memory.sleep", soft_time_limit=1800, time_limit=1860)
def sleep() -> dict[str, Any]:
    from memoryapp.services.memory.upkeep import memory_sleep

    return memory_sleep()
