"""A message sent while the broker (Redis) is down: stored, answered at once with the
exchange (not a 500), its answer pending, and queued by the sweep once Redis is back.

Celery's broker is a Redis of the test's own, really stopped and started again.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from memoryapp import jobs
from memoryapp.celery import app as celery_app
from memoryapp.devstack.services import EmbeddedRedis
from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation, ImportJob, JobStatus, Message
from memoryapp.services.answering import answer_generate, answers_requeue_stale
from memoryapp.services.memory.importing import import_jobs_requeue
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(own_redis: EmbeddedRedis, settings: Any) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own as Celery's broker, and a chat queue of its own on it."""
    settings.CHAT_QUEUE = f"test-outage-{uuid.uuid4().hex[:8]}"
    saved = celery_app.conf.broker_url
    _use_broker(own_redis.url())
    try:
        yield own_redis
    finally:
        _use_broker(saved)


def _use_broker(url: str) -> None:
    celery_app.conf["broker_url"] = url
    # Celery builds its connection pools from the broker's URL once, and has no public way
    # to forget them (its own after-fork handler does this).
    celery_app._pool = None  # type: ignore[attr-defined]
    celery_app.amqp._producer_pool = None  # type: ignore[attr-defined]


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


@pytest.fixture
def chat(alice: User) -> Conversation:
    return factories.conversation(alice)


def _jobs_for(server: EmbeddedRedis, queue: str) -> list[str]:
    """The answer ids of the jobs waiting in `queue`."""
    client = redis.Redis.from_url(server.url())
    return [json.loads(raw)["headers"]["argsrepr"] for raw in client.lrange(queue, 0, -1)]


def test_a_message_sent_while_the_broker_is_down_is_kept_and_queued_when_it_is_back(
    broker: EmbeddedRedis, alice: User, chat: Conversation, settings: Any
) -> None:
    client = Client()
    client.force_login(alice)
    broker.stop()

    response = client.post(
        f"/c/{chat.pk}/messages", {"content": "Are you there?"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    question, answer = Message.objects.filter(conversation=chat).order_by("sequence")
    assert question.content == "Are you there?"
    assert answer.status == Message.Status.PENDING
    assert f'id="msg-{answer.pk}"' in response.content.decode()

    broker.start()
    # Long enough ago for the sweep (no worker has claimed it since).
    Message.objects.filter(pk=answer.pk).update(
        in_flight_since=timezone.now() - timedelta(minutes=1)
    )
    assert answers_requeue_stale() == 1
    assert answers_requeue_stale() == 0

    assert _jobs_for(broker, settings.CHAT_QUEUE) == [repr((str(answer.pk),))]
    assert jobs.answers_queued([answer.pk]) == {answer.pk}


def test_an_answer_requeued_while_the_broker_is_down_stays_pending_for_the_next_sweep(
    broker: EmbeddedRedis, chat: Conversation, settings: Any
) -> None:
    question = factories.message(chat, "Still there?")
    answer = factories.message(
        chat,
        "",
        role=Message.Role.ASSISTANT,
        reply_to=question,
        status=Message.Status.STREAMING,
        attempts=1,
        in_flight_since=timezone.now() - timedelta(minutes=1),
    )
    broker.stop()

    assert answers_requeue_stale() == 1  # no exception: the answer is back to pending

    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING
    broker.start()
    Message.objects.filter(pk=answer.pk).update(
        in_flight_since=timezone.now() - timedelta(minutes=1)
    )
    assert answers_requeue_stale() == 1
    assert _jobs_for(broker, settings.CHAT_QUEUE) == [repr((str(answer.pk),))]


def test_stop_while_redis_is_down_gets_a_503_that_says_so_and_changes_nothing(
    broker: EmbeddedRedis, alice: User, chat: Conversation, settings: Any
) -> None:
    settings.REDIS_URL = broker.url()
    _, answer = factories.exchange(chat, "Tell me a story.", "", status=Message.Status.PENDING)
    client = Client()
    client.force_login(alice)
    broker.stop()

    response = client.post(f"/m/{answer.pk}/stop", headers={"HX-Request": "true"})

    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/plain")
    assert "unavailable" in response.content.decode()
    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING


def test_an_answer_is_written_and_saved_while_redis_is_down(
    broker: EmbeddedRedis, chat: Conversation, settings: Any
) -> None:
    # The stop flag and the chat-busy mark live in Redis; neither may fail the answer.
    settings.REDIS_URL = broker.url()
    _, answer = factories.exchange(chat, "Say hello.", "", status=Message.Status.PENDING)
    broker.stop()

    with use_backend(ScriptedBackend(["Hello there."])):
        answer_generate(answer_id=answer.pk)

    answer.refresh_from_db()
    assert (answer.status, answer.content, answer.error) == (
        Message.Status.DONE,
        "Hello there.",
        "",
    )


def test_an_import_uploaded_while_the_broker_is_down_is_kept_and_queued_when_it_is_back(
    broker: EmbeddedRedis, alice: User, settings: Any, tmp_path: Path
) -> None:
    settings.IMPORT_DIR = tmp_path / "imports"
    settings.MEMORY_QUEUE = f"test-outage-{uuid.uuid4().hex[:8]}"
    client = Client()
    client.force_login(alice)
    upload = io.BytesIO(b"[]")
    upload.name = "conversations.json"
    broker.stop()

    response = client.post(
        "/memory/import", {"format": "chatgpt", "file": upload}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert "Importing conversations.json" in response.content.decode()
    job = ImportJob.objects.get(owner=alice)
    assert job.job_status == JobStatus.PENDING
    assert Path(job.upload_path).read_bytes() == b"[]"  # kept for the job

    broker.start()
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    assert import_jobs_requeue() == 1
    assert _jobs_for(broker, settings.MEMORY_QUEUE) == [repr((str(job.pk),))]
