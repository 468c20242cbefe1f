"""The stale-answer sweep: an answer whose worker died is retried within seconds, one waiting
its turn in the queue is left alone, one the broker never got is queued.

The jobs go to a queue of each test's own in the test run's Redis, which no worker serves.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from memoryapp import jobs
from memoryapp.llm import use_backend
from memoryapp.llm.base import Message as PromptMessage
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation, Message
from memoryapp.services.answering import answers_requeue_stale
from memoryapp.services.conversations import message_send
from memoryapp.tasks import answer_message
from tests import factories


@pytest.fixture
def queue(settings: Any) -> Iterator[str]:
    """The chat queue of this test (and a memory queue, for titles), deleted afterwards."""
    suffix = uuid.uuid4().hex[:8]
    settings.CHAT_QUEUE, settings.MEMORY_QUEUE = f"test-chat-{suffix}", f"test-memory-{suffix}"
    yield settings.CHAT_QUEUE
    _broker().delete(settings.CHAT_QUEUE, settings.MEMORY_QUEUE)


def _broker() -> redis.Redis:
    return redis.Redis.from_url(django_settings.CELERY_BROKER_URL)


def _jobs_in(queue: str) -> int:
    return int(_broker().llen(queue))


@pytest.fixture
def chat() -> Conversation:
    return factories.conversation(factories.user("alice"))


def _answer(chat: Conversation, **fields: Any) -> Message:
    """An answer left as `fields` say (its job not queued: the test's transaction)."""
    _, answer = message_send(conversation=chat, content="Where did I park?")
    Message.objects.filter(pk=answer.pk).update(**fields)
    answer.refresh_from_db()
    return answer


def _ago(seconds: float) -> Any:
    return timezone.now() - timedelta(seconds=seconds)


@pytest.mark.django_db
def test_an_answer_streaming_without_progress_for_20_seconds_is_requeued(
    chat: Conversation, queue: str
) -> None:
    answer = _answer(chat, status=Message.Status.STREAMING, attempts=1, in_flight_since=_ago(20))

    assert answers_requeue_stale() == 1

    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING
    assert jobs.answers_queued([answer.pk]) == {answer.pk}
    assert _jobs_in(queue) == 1


@pytest.mark.django_db
def test_an_answer_streaming_with_recent_progress_is_left_alone(
    chat: Conversation, queue: str
) -> None:
    answer = _answer(chat, status=Message.Status.STREAMING, attempts=1, in_flight_since=_ago(3))

    assert answers_requeue_stale() == 0

    answer.refresh_from_db()
    assert answer.status == Message.Status.STREAMING
    assert _jobs_in(queue) == 0


@pytest.mark.django_db
def test_a_pending_answer_waiting_behind_others_is_not_queued_again(
    chat: Conversation, queue: str
) -> None:
    answer = _answer(chat)
    assert jobs.answer_enqueue(answer_id=answer.pk)
    # Ten minutes in the queue behind other people's answers (one chat worker).
    Message.objects.filter(pk=answer.pk).update(in_flight_since=_ago(600))

    assert answers_requeue_stale() == 0
    assert answers_requeue_stale() == 0

    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING
    assert _jobs_in(queue) == 1


@pytest.mark.django_db
def test_a_pending_answer_the_broker_never_got_is_queued_by_the_sweep(
    chat: Conversation, queue: str
) -> None:
    # Sent while the broker was down, 8 seconds ago: committed, never published.
    answer = _answer(chat, in_flight_since=_ago(8))

    assert answers_requeue_stale() == 1
    assert answers_requeue_stale() == 0  # queued now: the next sweep leaves it

    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING
    assert answer.attempts == 0
    assert _jobs_in(queue) == 1


@pytest.mark.django_db
def test_a_worker_that_ran_the_job_no_longer_counts_it_as_queued(
    chat: Conversation, queue: str
) -> None:
    answer = _answer(chat)
    jobs.answer_enqueue(answer_id=answer.pk)

    jobs.answer_job_done(answer_id=answer.pk)

    assert jobs.answers_queued([answer.pk]) == set()


def test_an_interrupted_answer_is_retried_within_30_seconds_by_the_settings() -> None:
    sweep = django_settings.CELERY_BEAT_SCHEDULE["requeue-stale-answers"]
    interval = float(str(sweep["schedule"]))

    assert django_settings.CHAT_STALE_ANSWER_SECONDS + interval <= 30


def _run_answer_job(answer_id: uuid.UUID) -> None:
    try:
        answer_message.apply(args=(str(answer_id),))
    finally:
        connection.close()  # this thread's


class _SlowPrompt:
    """A model that reads its prompt until the test lets it go (a long prompt on a CPU)."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.go = threading.Event()

    def __call__(self, messages: Sequence[PromptMessage]) -> str:
        self.reading.set()
        assert self.go.wait(30), "the test never let the model go"
        return "Level 2, row C."


@pytest.mark.django_db(transaction=True)
def test_an_answer_whose_model_reads_a_long_prompt_is_not_taken_for_dead(
    settings: Any, queue: str
) -> None:
    settings.CHAT_STALE_ANSWER_SECONDS = 1
    chat = factories.conversation(User.objects.create_user("bob"))
    _, answer = message_send(conversation=chat, content="Where did I park?")
    model = _SlowPrompt()
    with use_backend(ScriptedBackend([model])):
        job = threading.Thread(target=_run_answer_job, args=(answer.pk,))
        job.start()
        try:
            assert model.reading.wait(30)
            time.sleep(2)  # twice the stale period, without a single token

            requeued = answers_requeue_stale()
            answer.refresh_from_db()
        finally:
            model.go.set()
            job.join(30)

    assert requeued == 0
    assert answer.status == Message.Status.STREAMING
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE
    assert answer.attempts == 1
