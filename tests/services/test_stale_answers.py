"""The stale-answer sweep: an answer whose worker died is retried within seconds, one waiting
its turn in the queue is left alone, one the broker never got is queued.

The jobs go to a queue of each test's own in the test run's Redis, which no worker serves.
"""

from __future__ import annotations

import json
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
from memoryapp.heartbeats import AnswerLease, answer_heartbeat
from memoryapp.llm import use_backend
from memoryapp.llm.base import Message as PromptMessage
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation, Message
from memoryapp.services import answering
from memoryapp.services.answering import answer_claim, answer_generate, answers_requeue_stale
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


@pytest.mark.django_db
def test_an_unmarked_answer_is_requeued_once_the_configured_stale_period_has_passed(
    chat: Conversation, queue: str, settings: Any
) -> None:
    settings.CHAT_STALE_ANSWER_SECONDS = 40
    answer = _answer(chat, status=Message.Status.STREAMING, attempts=1, in_flight_since=_ago(39))

    assert answers_requeue_stale() == 0

    Message.objects.filter(pk=answer.pk).update(in_flight_since=_ago(41))
    assert answers_requeue_stale() == 1
    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING


@pytest.mark.django_db
def test_an_answer_whose_enqueue_died_during_the_send_is_not_counted_as_queued(
    chat: Conversation, queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = _answer(chat)

    def process_dies(*args: Any) -> None:
        raise SystemExit("killed during the send")

    monkeypatch.setattr(jobs, "_send", process_dies)
    with pytest.raises(SystemExit):
        jobs.answer_enqueue(answer_id=answer.pk)

    assert jobs.answers_queued([answer.pk]) == set()


@pytest.mark.django_db
def test_an_answer_waiting_longer_than_the_visibility_timeout_is_not_queued_again(
    chat: Conversation, queue: str, settings: Any
) -> None:
    # Jobs wait in the broker's list for as long as it takes: the visibility timeout bounds
    # only a job a worker took and did not finish.
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {**options, "visibility_timeout": 0}
    answer = _answer(chat)
    assert jobs.answer_enqueue(answer_id=answer.pk)
    Message.objects.filter(pk=answer.pk).update(in_flight_since=_ago(600))

    assert answers_requeue_stale() == 0

    assert _jobs_in(queue) == 1


def _queued_order(queue: str) -> list[str]:
    """The answer ids of the jobs in `queue`, the first a worker takes first."""
    raw = _broker().lrange(queue, 0, -1)
    return [json.loads(job)["headers"]["argsrepr"] for job in reversed(raw)]


@pytest.mark.django_db
def test_answers_the_broker_lost_are_queued_again_first_come_first_served(queue: str) -> None:
    alice = factories.user("alice")
    answers = [_answer(factories.conversation(alice)) for _ in range(6)]
    # First come: sent 30, 20 then 10 seconds ago, two answers at each moment (then the
    # lower id first). The rows are updated in the reverse order.
    sent = _ago(30), _ago(20), _ago(10)
    first_come = sorted(answers, key=lambda a: (answers.index(a) // 2, a.pk))
    for position, answer in reversed(list(enumerate(first_come))):
        Message.objects.filter(pk=answer.pk).update(in_flight_since=sent[position // 2])

    assert answers_requeue_stale() == 6

    assert _queued_order(queue) == [repr((str(a.pk),)) for a in first_come]


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


def _take_back(answer_id: uuid.UUID, *, text: str) -> None:
    """What happens while a worker lost touch with the database: the sweep re-queues its
    answer, a second worker claims it and writes `text` so far."""
    Message.objects.filter(pk=answer_id).update(in_flight_since=_ago(60))
    assert answers_requeue_stale() == 1
    assert answer_claim(answer_id=answer_id) is not None
    Message.objects.filter(pk=answer_id).update(content=text)


@pytest.fixture
def pieces_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pieces of the model's answer the worker read (it stops reading when it stops)."""
    read: list[str] = []
    add = answering._Relay.add

    def reading(relay: Any, piece: str) -> None:
        read.append(piece)
        add(relay, piece)

    monkeypatch.setattr(answering._Relay, "add", reading)
    return read


LONG_ANSWER = " ".join(f"word{i}" for i in range(200))


@pytest.mark.django_db(transaction=True)  # the model runs on a thread of its own
def test_a_worker_that_lost_its_answer_does_not_overwrite_the_next_workers(
    chat: Conversation, queue: str
) -> None:
    answer = _answer(chat)

    def taken_back_meanwhile(messages: Sequence[PromptMessage]) -> str:
        _take_back(answer.pk, text="The second worker's answer")
        return "The first worker's answer."

    with use_backend(ScriptedBackend([taken_back_meanwhile])):
        finished = answer_generate(answer_id=answer.pk)

    assert finished is None
    answer.refresh_from_db()
    assert (answer.status, answer.attempts, answer.content) == (
        Message.Status.STREAMING,
        2,
        "The second worker's answer",
    )


@pytest.mark.django_db(transaction=True)  # the model runs on a thread of its own
def test_a_generation_whose_answer_was_taken_back_stops_at_its_next_save(
    chat: Conversation, queue: str, monkeypatch: pytest.MonkeyPatch, pieces_read: list[str]
) -> None:
    monkeypatch.setattr(answering, "SAVE_SECONDS", 0)  # progress saved with every piece
    answer = _answer(chat)

    def taken_back_meanwhile(messages: Sequence[PromptMessage]) -> str:
        _take_back(answer.pk, text="The second worker's answer")
        return LONG_ANSWER

    with use_backend(ScriptedBackend([taken_back_meanwhile])):
        assert answer_generate(answer_id=answer.pk) is None

    assert pieces_read == ["word0 "]
    answer.refresh_from_db()
    assert answer.content == "The second worker's answer"


@pytest.mark.django_db(transaction=True)  # the model runs on a thread of its own
def test_a_generation_stops_when_its_heartbeat_finds_the_answer_taken_back(
    chat: Conversation, queue: str, pieces_read: list[str]
) -> None:
    answer = _answer(chat)
    lease = AnswerLease(answer_id=answer.pk)

    def taken_back_meanwhile(messages: Sequence[PromptMessage]) -> str:
        _take_back(answer.pk, text="The second worker's answer")
        lease.lost.set()  # what the heartbeat thread does when its mark changes no row
        return LONG_ANSWER

    with use_backend(ScriptedBackend([taken_back_meanwhile])):
        assert answer_generate(answer_id=answer.pk, lease=lease) is None

    assert pieces_read == ["word0 "]
    answer.refresh_from_db()
    assert answer.content == "The second worker's answer"


@pytest.mark.django_db(transaction=True)  # the heartbeat marks the answer from a thread
def test_the_heartbeat_of_a_worker_that_lost_its_answer_says_so_and_marks_it_no_more(
    settings: Any, queue: str
) -> None:
    settings.CHAT_STALE_ANSWER_SECONDS = 1  # a mark every 0.2 s
    chat = factories.conversation(User.objects.create_user("bob"))
    _, answer = message_send(conversation=chat, content="Where did I park?")
    claimed = answer_claim(answer_id=answer.pk)
    assert claimed is not None

    with answer_heartbeat(answer_id=answer.pk) as lease:
        lease.attempts = claimed.attempts
        _take_back(answer.pk, text="The second worker's answer")
        second_mark = Message.objects.get(pk=answer.pk).in_flight_since

        assert lease.lost.wait(30)

    answer.refresh_from_db()
    assert answer.in_flight_since == second_mark
