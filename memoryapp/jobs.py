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
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.conf import settings

from memoryapp.celery import app as celery_app

logger = logging.getLogger(__name__)

ANSWER = "chat.answer"
INGESTION = "memory.ingest_conversation"
CONSOLIDATION = "memory.consolidate_segment"
TITLE = "memory.suggest_title"


def answer_enqueue(*, answer_id: UUID) -> None:
    """Generate the pending answer `answer_id` (chat worker)."""
    _send(ANSWER, str(answer_id))


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
    celery_app.send_task(name, args=args, queue=queue)
    logger.debug("queued %s%r on %s", name, args, queue)
