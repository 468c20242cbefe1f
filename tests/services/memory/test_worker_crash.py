"""A worker killed in the middle of a consolidation loses nothing; the job completes once."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest
from django.conf import settings

from memoryapp.models import Fact, JobStatus, MemoryEvent, Segment
from memoryapp.services.memory.upkeep import consolidations_requeue
from memoryapp.tasks import consolidate_segment
from tests import factories
from tests.support.scripted_llm import scripted_worker_env
from tests.support.workers import WorkerProcess

REPLIES = [
    json.dumps({"title": "Pets", "summary": "Alice talked about her dog.", "key": "Alice: dog"}),
    json.dumps(
        {
            "facts": [
                {
                    "text": "Alice has a dog named Pixel.",
                    "kind": "possession",
                    "subject": "Alice",
                    "time": None,
                    "confidence": 1.0,
                    "sources": [1],
                }
            ]
        }
    ),
]


def _memory_worker(delay: float) -> WorkerProcess:
    env = {
        **scripted_worker_env(REPLIES, delay=delay),
        "MEMORY_LLM": "on",
        "CELERY_VISIBILITY_TIMEOUT": "2",
    }
    return WorkerProcess(
        [settings.MEMORY_QUEUE], env=env, include=["tests.support.scripted_llm"]
    ).start()


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_killed_worker_job_completes_exactly_once_after_restart(settings: Any) -> None:
    alice = factories.user("alice")
    chat = factories.conversation(alice)
    segment = factories.closed_segment(chat, [factories.message(chat, "My dog is Pixel.")])
    slow = _memory_worker(delay=0.5)  # each streamed word takes half a second
    try:
        consolidate_segment.delay(str(segment.pk))
        _wait(
            lambda: Segment.objects.get(pk=segment.pk).job_status == JobStatus.RUNNING,
            30,
            "the worker claiming the job",
        )
        time.sleep(1.0)  # well inside the model's reply
        slow.stop(signal.SIGKILL)
    finally:
        slow.stop()
    assert Segment.objects.get(pk=segment.pk).job_status == JobStatus.RUNNING
    assert not Fact.objects.exists()

    fresh = _memory_worker(delay=0.0)
    try:
        settings.MEMORY_STALE_JOB_SECONDS = 0  # the beat sweep, run now instead of in 15 min
        assert consolidations_requeue() == 1
        _wait(
            lambda: Segment.objects.get(pk=segment.pk).job_status == JobStatus.DONE,
            60,
            "the job completing after the restart",
        )
        time.sleep(3)  # let the redelivered original message arrive too
    finally:
        fresh.stop()

    assert Fact.objects.filter(owner=alice).count() == 1
    assert MemoryEvent.objects.filter(owner=alice, action="add").count() == 1
    assert Segment.objects.get(pk=segment.pk).attempts == 2
