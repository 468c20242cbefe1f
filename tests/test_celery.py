"""Tasks travel through the real Redis to a real worker process, routed by queue."""

from __future__ import annotations

import os

from tests.support.tasks import chat_echo, memory_echo
from tests.support.workers import WorkerProcess


def test_task_round_trip_through_a_worker_process(worker: WorkerProcess) -> None:
    result = chat_echo.delay({"hello": "world"}).get(timeout=30)

    assert result["value"] == {"hello": "world"}
    assert result["pid"] != os.getpid()
    assert result["queue"] == "chat"


def test_tasks_are_routed_by_name_to_their_queue(worker: WorkerProcess) -> None:
    result = memory_echo.delay(7).get(timeout=30)

    assert result["value"] == 7
    assert result["queue"] == "memory"
