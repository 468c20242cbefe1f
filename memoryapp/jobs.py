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

The record lives beside the jobs and follows them: written only after the send succeeded
(so no record without a job, whatever fails), removed when a worker has run the job. A record
therefore means the broker holds the job, however long it waits its turn (a job waits in its
list without a time limit; one a worker took and never finished is redelivered by the broker
after the visibility timeout), so it is trusted without an age limit: an answer waiting an
hour is not taken for lost and sent to the back. A record can outlive its job only when a
worker ran it and could not remove it (Redis unreachable just then, or the worker was
quicker than the record); its answer was claimed by then, and an answer queued again gets a
new record.
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
from memoryapp.redis_clients import redis_client

logger = logging.getLogger(__name__)

ANSWER = "chat.answer"
INGESTION = "memory.ingest_conversation"
CONSOLIDATION = "memory.consolidate_segment"
TITLE = "memory.suggest_title"
IMPORT = "memory.import"
MODEL_DOWNLOAD = "memory.model_download"

# A sorted set in the broker's Redis: answer id -> when its job was queued.
QUEUED_ANSWERS_KEY = "memoryapp:answers:queued"
# What a publish raises when the broker is down (kombu wraps the Redis errors it retried).
BROKER_ERRORS = (kombu.exceptions.OperationalError, redis.RedisError, OSError)


def answer_enqueue(*, answer_id: UUID) -> bool:
    """Generate the pending answer `answer_id` (chat worker).

    Returns False, without raising, when the broker could not be reached: the answer stays
    pending and the stale-answer sweep queues it once the broker is back.
    """
    try:
        _send(ANSWER, str(answer_id))
    except BROKER_ERRORS as exc:
        logger.warning(
            "answer %s was not queued, the broker is unreachable (%s); it stays pending and "
            "is queued when the broker is back",
            answer_id,
            exc,
        )
        return False
    if not celery_app.conf.task_always_eager:
        try:
            _queued_answers().zadd(QUEUED_ANSWERS_KEY, {str(answer_id): time.time()})
        except BROKER_ERRORS as exc:
            # The job is queued; the sweep, not seeing the record, queues it once more, and
            # the second job finds the answer taken.
            logger.warning("could not note that answer %s is queued: %s", answer_id, exc)
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
    one (see the module's docstring)."""
    if not answer_ids:
        return set()
    ids = list(answer_ids)
    queued_at = _queued_answers().zmscore(QUEUED_ANSWERS_KEY, [str(i) for i in ids])
    return {i for i, at in zip(ids, queued_at, strict=True) if at is not None}


def _queued_answers() -> redis.Redis:
    return redis_client(celery_app.conf.broker_url)


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


def import_enqueue(*, job_id: UUID) -> None:
    """Run the import job `job_id` (memory worker)."""
    _send(IMPORT, str(job_id))


def model_download_enqueue(*, download_id: UUID) -> None:
    """Download a model file from the hub into the models directory (memory worker)."""
    _send(MODEL_DOWNLOAD, str(download_id))


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
        # The task registry is filled by autodiscovery, which a web process never triggers;
        # once is enough (each time runs Django's system checks: a tenth of an import's time).
        if name not in celery_app.tasks:
            celery_app.loader.import_default_modules()
        celery_app.tasks[name].apply_async(args=args, queue=queue)
        return
    # Nothing reads a job's result: without this, every send would subscribe to it in Redis.
    celery_app.send_task(name, args=args, queue=queue, ignore_result=True)
    logger.debug("queued %s%r on %s", name, args, queue)
