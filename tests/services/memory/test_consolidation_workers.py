"""Two memory workers on one queue (two processes, as on two machines) consolidate each
segment exactly once, however often its job is queued."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp import jobs
from memoryapp.models import Fact, FactSource, JobStatus, MemoryChangeset, MemoryEvent, Segment
from memoryapp.services.memory.upkeep import consolidations_requeue
from tests import factories
from tests.support.scripted_llm import scripted_worker_env
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.django_db(transaction=True)

OWNERS = ("alice", "bob", "carol")
SEGMENTS_PER_OWNER = 6
COPIES = 3  # queued per segment, back to back, so both workers take the same segment at once
FACT = "The person keeps a paper notebook."
# Every call of a consolidation gets this one reply: the digest, the extraction and a
# decision each read their own fields of it (pydantic ignores the others). The extracted
# fact is the same for every segment of an owner, so the owner's first segment adds it and
# each later one merges into it (same statement, no model call): two calls per segment.
REPLY = json.dumps(
    {
        "title": "Notebooks",
        "summary": "The person talked about keeping a paper notebook.",
        "key": "keeps a paper notebook",
        "facts": [
            {
                "text": FACT,
                "kind": "preference",
                "subject": "user",
                "time": None,
                "confidence": 1.0,
                "sources": [1],
            }
        ],
        "action": "add",
        "reason": "Nothing like it is known.",
    }
)
CALLS_PER_CONSOLIDATION = 2
# Celery's line for each job a worker ran, with what the task returned: the segment's
# job status when this run consolidated it, None when the segment was not (any more) due.
FINISHED = re.compile(r"Task memory\.consolidate_segment\[[^\]]+\] succeeded in [^:]+: (.*)$")


def _memory_worker(queue: str) -> WorkerProcess:
    env = {**scripted_worker_env([], default=REPLY), "MEMORY_LLM": "on", "MEMORY_QUEUE": queue}
    return WorkerProcess([queue], env=env, include=["tests.support.scripted_llm"])


def _segments(owner: User) -> list[Segment]:
    """SEGMENTS_PER_OWNER closed segments, pending consolidation, closed long enough ago that
    the upkeep takes their jobs for lost and queues them again."""
    chat = factories.conversation(owner)
    made = []
    for number in range(SEGMENTS_PER_OWNER):
        said = factories.message(chat, f"Note {number}: I write everything in a paper notebook.")
        answer = factories.message(chat, "Paper helps you remember.", role="assistant")
        made.append(factories.closed_segment(chat, [said, answer]))
    Segment.objects.filter(owner=owner).update(closed_at=timezone.now() - timedelta(minutes=2))
    return made


def _wait(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    seen: Callable[[], object] = lambda: None,
) -> None:
    """Wait for `condition`; on timeout, say what was awaited and what `seen()` shows."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} after {timeout}s; seen: {seen()}")
        time.sleep(0.2)


def _queue_drained(queue: str) -> bool:
    """No consolidation job waits in `queue` or is held unacknowledged by a worker."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    return broker.llen(queue) == 0 and broker.hlen("unacked") == 0


def _queue_delete(queue: str) -> None:
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    keys = list(broker.scan_iter(match=f"*{queue}*"))
    if keys:
        broker.delete(*keys)


def _finished(worker: WorkerProcess) -> list[str]:
    """What each consolidation job this worker ran returned, in order."""
    lines = worker.log_path.read_text().splitlines()
    return [match[1] for line in lines if (match := FINISHED.search(line))]


def test_two_memory_workers_consolidate_each_segment_exactly_once(settings: Any) -> None:
    # A queue of this test's own: jobs other tests left in the shared Redis's memory queue
    # would otherwise run here too and be counted with these.
    queue = settings.MEMORY_QUEUE = f"memory-{uuid.uuid4().hex[:8]}"
    owners = [factories.user(name) for name in OWNERS]
    segments = [segment for owner in owners for segment in _segments(owner)]
    workers = [_memory_worker(queue), _memory_worker(queue)]
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.wait_for(worker.models_loaded, 60, "models loaded")

        queued = 0
        for segment in segments:
            for _ in range(COPIES):
                jobs.consolidation_enqueue(segment_id=segment.pk)
                queued += 1
        # The beat's upkeep, twice while the workers are busy: every segment still pending
        # is queued once more.
        for _ in range(2):
            queued += consolidations_requeue()
            time.sleep(1.0)

        _wait(
            lambda: not Segment.objects.exclude(job_status=JobStatus.DONE).exists(),
            60,
            "every segment consolidated",
        )
        _wait(lambda: _queue_drained(queue), 30, "the queued duplicates run")
        # A job leaves the queue a moment before it is held as unacknowledged, and the last
        # job of each worker is acknowledged just before Celery logs its line.
        _wait(
            lambda: sum(len(_finished(w)) for w in workers) >= queued,
            30,
            f"{queued} jobs logged",
            lambda: [_finished(w) for w in workers],
        )
    finally:
        for worker in workers:
            worker.stop()
        _queue_delete(queue)

    for segment in Segment.objects.filter(pk__in=[s.pk for s in segments]):
        assert segment.job_status == JobStatus.DONE, segment.pk
        assert segment.attempts == 1, f"segment {segment.pk} was claimed {segment.attempts} times"
        assert segment.llm_calls == CALLS_PER_CONSOLIDATION, segment.pk
        assert segment.summary_source == "llm"
        learned = MemoryChangeset.objects.filter(
            segment=segment, source=MemoryChangeset.Source.CONSOLIDATION
        )
        assert learned.count() == 1, f"segment {segment.pk} was consolidated {learned.count()}x"

    # Each owner's first consolidated segment added the fact, every later one merged into it:
    # one fact per owner, citing that owner's segments, one event per consolidation.
    for owner in owners:
        facts = Fact.objects.filter(owner=owner)
        assert [fact.text for fact in facts] == [FACT]
        sources = FactSource.objects.filter(fact__in=facts)
        assert sources.count() == SEGMENTS_PER_OWNER
        assert set(sources.values_list("message__owner", flat=True)) == {owner.pk}
        events = MemoryEvent.objects.filter(owner=owner)
        assert events.filter(action=MemoryEvent.Action.ADD).count() == 1
        assert events.filter(action=MemoryEvent.Action.MERGE).count() == SEGMENTS_PER_OWNER - 1

    # Every queued job ran; a consolidation happened once per segment, the other runs found
    # their segment taken, and each worker consolidated some.
    results = [_finished(worker) for worker in workers]
    consolidated = [sum(result == "'done'" for result in ran) for ran in results]
    assert sum(len(ran) for ran in results) == queued
    assert sum(consolidated) == len(segments)
    assert all(result in ("'done'", "None") for ran in results for result in ran)
    assert all(count > 0 for count in consolidated), consolidated
