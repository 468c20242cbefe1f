"""Celery tasks: take ids, load rows, call one service. Named "<queue>.<job>" for routing."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task
from django.conf import settings

from memoryapp.services.answering import answer_generate, answers_requeue_stale

# An answer is bounded by the LLM time limit; the title suggestion adds a little.
ANSWER_SOFT_LIMIT = int(settings.LLM_TIMEOUT_SECONDS) + 60
ANSWER_HARD_LIMIT = ANSWER_SOFT_LIMIT + 30


@shared_task(
    name="chat.answer",
    acks_late=True,
    soft_time_limit=ANSWER_SOFT_LIMIT,
    time_limit=ANSWER_HARD_LIMIT,
)
def answer_message(answer_id: str) -> None:
    answer_generate(answer_id=UUID(answer_id))


@shared_task(name="chat.requeue_stale_answers")
def requeue_stale_answers() -> int:
    return answers_requeue_stale()
