"""The stop button: a flag in Redis that the generating worker checks between pieces.

Redis being down must not fail an answer: the worker's reads and writes of these flags are
skipped then (an answer not stopped, memory work not held back), and only the person's
own request to stop fails, with a 503 that says so (memoryapp.middleware).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import redis
from django.conf import settings
from django.utils import timezone

from memoryapp.models import Message
from memoryapp.redis_clients import redis_client
from memoryapp.services.answer_queue import answers_waiting_notify

logger = logging.getLogger(__name__)

STOP_FLAG_SECONDS = 600

P = ParamSpec("P")
R = TypeVar("R")


def _unless_redis_is_down(fallback: R) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Run the function, or return `fallback` (with a warning) while Redis is unreachable."""

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        @wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(*args, **kwargs)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                logger.warning("%s skipped, Redis is unreachable: %s", function.__name__, exc)
                return fallback

        return run

    return decorate


def _client() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


def _stop_key(answer_id: object) -> str:
    return f"memoryapp:stop:{answer_id}"


def answer_stop_request(*, answer: Message) -> None:
    """Ask the worker to stop; an answer not started yet is stopped right here."""
    _client().set(_stop_key(answer.pk), "1", ex=STOP_FLAG_SECONDS)
    stopped_waiting = Message.objects.filter(pk=answer.pk, status=Message.Status.PENDING).update(
        status=Message.Status.STOPPED, finished_at=timezone.now()
    )
    if stopped_waiting:
        answers_waiting_notify()  # the answers behind it move up


@_unless_redis_is_down(False)
def answer_stop_requested(*, answer_id: object) -> bool:
    return bool(_client().exists(_stop_key(answer_id)))


@_unless_redis_is_down(None)
def answer_stop_clear(*, answer_id: object) -> None:
    _client().delete(_stop_key(answer_id))


# While the chat worker generates, memory work waits before its next model call, so answers
# never queue behind memory building on a machine that has one model's worth of hardware.
CHAT_BUSY_KEY = "memoryapp:chat-busy"
CHAT_BUSY_SECONDS = 15  # refreshed while generating; expires if the chat worker dies


@_unless_redis_is_down(None)
def chat_busy_mark() -> None:
    _client().set(CHAT_BUSY_KEY, "1", ex=CHAT_BUSY_SECONDS)


@_unless_redis_is_down(None)
def chat_busy_clear() -> None:
    _client().delete(CHAT_BUSY_KEY)


@_unless_redis_is_down(False)
def chat_is_busy() -> bool:
    return bool(_client().exists(CHAT_BUSY_KEY))
