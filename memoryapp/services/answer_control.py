"""The stop button: a flag in Redis that the generating worker checks between pieces."""

from __future__ import annotations

import redis
from django.conf import settings
from django.utils import timezone

from memoryapp.models import Message

STOP_FLAG_SECONDS = 600


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def _stop_key(answer_id: object) -> str:
    return f"memoryapp:stop:{answer_id}"


def answer_stop_request(*, answer: Message) -> None:
    """Ask the worker to stop; an answer not started yet is stopped right here."""
    _client().set(_stop_key(answer.pk), "1", ex=STOP_FLAG_SECONDS)
    Message.objects.filter(pk=answer.pk, status=Message.Status.PENDING).update(
        status=Message.Status.STOPPED, finished_at=timezone.now()
    )


def answer_stop_requested(*, answer_id: object) -> bool:
    return bool(_client().exists(_stop_key(answer_id)))


def answer_stop_clear(*, answer_id: object) -> None:
    _client().delete(_stop_key(answer_id))


# While the chat worker generates, memory work waits before its next model call, so answers
# never queue behind memory building on a machine that has one model's worth of hardware.
CHAT_BUSY_KEY = "memoryapp:chat-busy"
CHAT_BUSY_SECONDS = 15  # refreshed while generating; expires if the chat worker dies


def chat_busy_mark() -> None:
    _client().set(CHAT_BUSY_KEY, "1", ex=CHAT_BUSY_SECONDS)


def chat_busy_clear() -> None:
    _client().delete(CHAT_BUSY_KEY)


def chat_is_busy() -> bool:
    return bool(_client().exists(CHAT_BUSY_KEY))
