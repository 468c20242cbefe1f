"""Heartbeats: of workers in Redis, and of the answer a worker is generating in its row.

A worker writes its record every `WORKER_HEARTBEAT_SECONDS` with a time-to-live of three
beats, and deletes it on a clean shutdown; a worker that died simply stops appearing.
`/healthz` reads these records instead of broadcasting to workers, so it answers at once.

While a worker generates an answer, `answer_heartbeat` refreshes the answer's
`in_flight_since` every few seconds, from a thread of its own: also while the model reads a
long prompt and writes nothing. An answer left `streaming` without a beat for
`CHAT_STALE_ANSWER_SECONDS` is one whose worker died (`answers_requeue_stale`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

import redis
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from memoryapp.redis_clients import redis_client

logger = logging.getLogger(__name__)

KEY_PREFIX = "memoryapp:worker:"


def _client() -> redis.Redis:
    return redis_client(settings.REDIS_URL)


@dataclass
class WorkerHeartbeat:
    hostname: str
    pid: int
    queues: list[str]
    llm: dict[str, Any] = field(default_factory=dict)
    embeddings: dict[str, Any] = field(default_factory=dict)
    at: str = ""


def heartbeat_publish(beat: WorkerHeartbeat) -> None:
    beat.at = timezone.now().isoformat()
    ttl = 3 * settings.WORKER_HEARTBEAT_SECONDS
    _client().set(KEY_PREFIX + beat.hostname, json.dumps(asdict(beat)), ex=ttl)


def heartbeat_remove(hostname: str) -> None:
    _client().delete(KEY_PREFIX + hostname)


def heartbeats_read() -> list[WorkerHeartbeat]:
    """Every live worker's latest record, sorted by hostname."""
    client = _client()
    keys = sorted(client.scan_iter(match=KEY_PREFIX + "*", count=100))
    values = client.mget(keys) if keys else []
    beats = [WorkerHeartbeat(**json.loads(value)) for value in values if value is not None]
    return sorted(beats, key=lambda beat: beat.hostname)


class HeartbeatThread(threading.Thread):
    """Publishes a worker's heartbeat until stopped; a failed beat is logged, not fatal."""

    def __init__(self, *, hostname: str, queues: list[str]) -> None:
        super().__init__(name="memoryapp-heartbeat", daemon=True)
        self.hostname = hostname
        self.queues = queues
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                heartbeat_publish(self.current())
            except redis.RedisError as exc:
                logger.warning("heartbeat of %s failed: %s", self.hostname, exc)
            except Exception:
                # A heartbeat that dies silently would report a live worker as gone.
                logger.exception("heartbeat of %s failed", self.hostname)
            self._stopped.wait(settings.WORKER_HEARTBEAT_SECONDS)

    def current(self) -> WorkerHeartbeat:
        from memoryapp.embeddings import embeddings_status
        from memoryapp.llm import llm_status

        return WorkerHeartbeat(
            hostname=self.hostname,
            pid=os.getpid(),
            queues=self.queues,
            llm=llm_status(),
            embeddings=embeddings_status(),
        )

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)
        try:
            heartbeat_remove(self.hostname)
        except redis.RedisError as exc:
            logger.warning("could not remove heartbeat of %s: %s", self.hostname, exc)


def answer_heartbeat_seconds() -> float:
    """How often a generating worker marks its answer: several beats per stale period."""
    return min(2.0, settings.CHAT_STALE_ANSWER_SECONDS / 5)


@dataclass
class AnswerLease:
    """A worker's hold on the answer it generates: the attempt it claimed (None until it has
    claimed it), and `lost`, set when the answer was taken back (re-queued by the sweep while
    the worker could not mark it, and maybe claimed by another worker)."""

    answer_id: UUID
    attempts: int | None = None
    lost: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def answer_heartbeat(*, answer_id: UUID) -> Iterator[AnswerLease]:
    """Within the block, the answer is marked alive while this worker's attempt holds it;
    the lease says when it no longer does."""
    lease = AnswerLease(answer_id=answer_id)
    stopped = threading.Event()
    beat = threading.Thread(
        target=_mark_answer_alive,
        args=(lease, answer_heartbeat_seconds(), stopped),
        name=f"memoryapp-answer-heartbeat-{answer_id}",
        daemon=True,
    )
    beat.start()
    try:
        yield lease
    finally:
        stopped.set()
        beat.join(timeout=10)


def _mark_answer_alive(lease: AnswerLease, every: float, stopped: threading.Event) -> None:
    try:
        while not stopped.wait(every):
            attempts = lease.attempts
            if attempts is None:
                continue  # not claimed (yet)
            try:
                marked = _answer_mark(lease.answer_id, attempts)
            except DatabaseError as exc:
                logger.warning("could not mark answer %s alive: %s", lease.answer_id, exc)
                connection.close()  # broken: the next beat connects again
                continue
            if not marked:
                # Finished meanwhile, or taken back: the generation tells which.
                logger.info("answer %s is no longer this worker's to mark", lease.answer_id)
                lease.lost.set()
                return
    finally:
        connection.close()  # this thread's own


def _answer_mark(answer_id: UUID, attempts: int) -> bool:
    """Mark the answer alive; False when it is no longer the attempt this worker claimed."""
    from memoryapp.models import Message

    return bool(
        Message.objects.filter(
            pk=answer_id, status=Message.Status.STREAMING, attempts=attempts
        ).update(in_flight_since=timezone.now())
    )
