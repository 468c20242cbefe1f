"""Queueing background jobs: the one way services and views start a task.

Tasks are sent by name, so nothing here imports `memoryapp.tasks` (which imports the
services that call these functions). Each job goes to the queue its name's prefix routes to
(`CELERY_TASK_ROUTES`): `chat.*` to the chat worker, `memory.*` to the memory worker; the
queue is read from the settings at each call.

In Celery's eager mode (`task_always_eager`, switched on by `run_here`: imports build memory
in-process, some tests) the task runs here at once, as `delay()` would; `send_task` alone
would ignore that mode.

Callers inside a transaction wrap these calls in `transaction.on_commit`, so a worker never
looks for rows that are not committed yet.

An answer is the one job a person waits for, and its pending row is its own outbox: when the
broker cannot be reached, `answer_enqueue` says so instead of raising, the answer stays
pending, and the stale-answer sweep (`answers_requeue_stale`) queues it once the broker is
back. To tell such an answer from one waiting its turn, the broker's Redis keeps the ids of
the answers whose jobs it holds (`answers_queued`); it loses them with the jobs themselves
when it restarts without its data.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Collection, Iterator
from typing import Any
from uuid import UUID

import kombu.exceptions
import redis
from django.conf import settings

from memoryapp.celery import app as celery_app

logger = logging.getLogger(__name__)

ANSWER = "chat.answer"
INGESTION = "memory.ingest_conversation"
CONSOLIDATION = "memory.consolidate_segment"
TITLE = "memory.suggest_title"

# A sorted set in the broker's Redis: answer id -> when its job was queued.
QUEUED_ANSWERS_KEY = "memoryapp:answers:queued"
# What a publish raises when the broker is down (kombu wraps the Redis errors it retried).
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, OSError)


def answer_enqueue(*, answer_id: UUID) -> bool:
    """Generate the pending answer `answer_id` (chat worker).

    Returns False, without raising, when the broker could not be reached: the answer stays
    pending and the stale-answer sweep queues it once the broker is back.
    """
    noted = False
    try:
        if not celery_app.conf.task_always_eager:
            # Noted before the job exists, so that a worker taking it at once removes the
            # note. Not noted, not sent: the broker's Redis is down, and a send would only
            # wait longer.
            _queued_answers().zadd(QUEUED_ANSWERS_KEY, {str(answer_id): time.time()})
            noted = True
        _send(ANSWER, str(answer_id))
    except BROKER_ERRORS as exc:
        logger.warning(
            "answer %s was not queued, the broker is unreachable (%s); it stays pending and "
            "is queued when the broker is back",
            answer_id,
            exc,
        )
        if noted:
            with contextlib.suppress(*BROKER_ERRORS):
                _queued_answers().zrem(QUEUED_ANSWERS_KEY, str(answer_id))
        return False
    return True


def answer_job_done(*, answer_id: UUID | str) -> None:
    """The job of `answer_id` has left the broker (a worker ran it)."""
    if celery_app.conf.task_always_eager:
        return  # it never was in the broker
    try:
        _queued_answers().zrem(QUEUED_ANSWERS_KEY, str(answer_id))
    except BROKER_ERRORS as exc:
        logger.warning("could not note that answer %s left the queue: %s", answer_id, exc)


def answers_queued(answer_ids: Collection[UUID]) -> set[UUID]:
    """Those of `answer_ids` whose job the broker holds, waiting for a worker or taken by
    one. A job older than the broker's visibility timeout counts as lost (the broker would
    deliver it again by then)."""
    if not answer_ids:
        return set()
    ids = list(answer_ids)
    queued_at = _queued_answers().zmscore(QUEUED_ANSWERS_KEY, [str(i) for i in ids])
    oldest = time.time() - settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    return {i for i, at in zip(ids, queued_at, strict=True) if at is not None and at > oldest}


def _queued_answers() -> redis.Redis:
    # Short timeouts: a hung Redis holds a person's send for at most this long.
    return redis.Redis.from_url(
        celery_app.conf.broker_url, socket_timeout=2, socket_connect_timeout=2
    )


def ingestion_enqueue(*, conversation_id: UUID, final: bool = False) -> None:
    """Ingest the conversation's new messages into memory (memory worker)."""
    if final:
        _send(INGESTION, str(conversation_id), True)
    else:
        _send(INGESTION, str(conversation_id))


def consolidation_enqueue(*, segment_id: UUID) -> None:
    """Consolidate the closed segment `segment_id` (memory worker)."""
    _send(CONSOLIDATION, str(segment_id))


def title_enqueue(*, conversation_id: UUID) -> None:
    """Suggest a title for the conversation after its first answer (memory worker)."""
    _send(TITLE, str(conversation_id))


@contextlib.contextmanager
def run_here() -> Iterator[None]:
    """Within the block, a queued job runs in this process at once (Celery's eager mode) and
    raises its errors, instead of being sent to the broker."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_eager_propagates
    conf.task_always_eager, conf.task_eager_propagates = True, True
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_eager_propagates = saved


def queue_for(name: str) -> str:
    """The queue of the task called `name`: its prefix names it."""
    prefix = name.partition(".")[0]
    queues = {"chat": settings.CHAT_QUEUE, "memory": settings.MEMORY_QUEUE}
    if prefix not in queues:
        raise ValueError(f"task {name!r} is not named '<chat|memory>.<job>'")
    return queues[prefix]


def _send(name: str, *args: Any) -> None:
    queue = queue_for(name)
    if celery_app.conf.task_always_eager:
        # The task registry is filled by autodiscovery, which a web process never triggers.
        celery_app.loader.import_default_modules()
        celery_app.tasks[name].apply_async(args=args, queue=queue)
        return
    # Nothing reads a job's result: without this, every send would subscribe to it in Redis.
    celery_app.send_task(name, args=args, queue=queue, ignore_result=True)
    logger.debug("queued %s%r on %s", name, args, queue)
