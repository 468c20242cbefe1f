"""Switching the active model in a running worker, without restarting it: the demo model,
then a copy of it with other metadata, then the demo again; the real llama.cpp loads each."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memoryapp.celery import app as celery_app
from memoryapp.llm.models import DEMO_FILE
from memoryapp.services.model_manager.choice import model_activate
from tests.support.gguf_files import demo_copy
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.integration

COPY = "smollm2-copy.gguf"


@pytest.fixture
def worker(transactional_db: None, tmp_path: Path, settings: Any) -> Iterator[WorkerProcess]:
    """One worker serving a chat and a memory queue of its own, on the real small model; the
    models directory is the test's (and this process's, which chooses the model)."""
    settings.LLM_MODEL_DIR = tmp_path
    demo_copy(tmp_path / COPY, context_length=4096)
    suffix = tmp_path.name[-12:]
    process = WorkerProcess(
        [f"switch-chat-{suffix}", f"switch-memory-{suffix}"],
        env={
            "CHAT_QUEUE": f"switch-chat-{suffix}",
            "MEMORY_QUEUE": f"switch-memory-{suffix}",
            "LLM_MODEL_DIR": str(tmp_path),
            "LLM_CONTEXT_SIZE": "2048",
            "MEMORY_LLM": "auto",
        },
        include=["tests.support.model_tasks"],
    ).start()
    try:
        process.wait_for(process.models_loaded, 120, "models loaded")
        yield process
    finally:
        process.stop()


def _run(worker: WorkerProcess, name: str, *args: Any) -> dict[str, Any]:
    queue = worker.queues[0] if name.startswith("chat.") else worker.queues[1]
    result: dict[str, Any] = celery_app.send_task(name, args=args, queue=queue).get(timeout=120)
    return result


def _beat_llm(worker: WorkerProcess) -> dict[str, Any]:
    beat = worker.heartbeat()
    return {} if beat is None else beat.llm


def test_the_worker_follows_the_active_model_without_a_restart(worker: WorkerProcess) -> None:
    assert worker.process is not None
    pid = worker.process.pid
    before = _run(worker, "memory.test_model_seen")
    assert before["pid"] == pid
    assert (before["status"]["model"], before["status"]["source"]) == (DEMO_FILE, "demo")
    assert before["memory_llm"] is False  # auto: off with the demo model

    # An idle worker switches on its own within a heartbeat or two.
    model_activate(name=COPY, gpu_layers=0, context_size=1024)
    started = time.monotonic()
    worker.wait_for(
        lambda: _beat_llm(worker).get("model") == COPY and _beat_llm(worker)["state"] == "loaded",
        60,
        "the copy loaded",
    )
    switched_in = time.monotonic() - started
    beat = worker.heartbeat()
    assert beat is not None and beat.pid == pid
    assert beat.llm["source"] == "chosen" and beat.llm["demo"] is False
    assert beat.llm["context_size"] == 1024 and beat.llm["gpu_layers"] == 0

    after = _run(worker, "chat.test_model_generate", "Say hello.")
    assert after["pid"] == pid
    assert after["status"]["model"] == COPY and after["status"]["state"] == "loaded"
    assert after["completion_tokens"] >= 1  # the new model answers
    seen = _run(worker, "memory.test_model_seen")
    assert seen["memory_llm"] is True  # auto: on with a model that is not the demo's

    # A job sent right after a switch already runs on the new model.
    model_activate(name=DEMO_FILE, context_size=2048)
    back = _run(worker, "memory.test_model_seen")
    assert (back["status"]["model"], back["status"]["demo"], back["memory_llm"]) == (
        DEMO_FILE,
        True,
        False,
    )
    assert back["pid"] == pid
    log = worker.log_path.read_text()
    assert f"switching the model from {DEMO_FILE} to {COPY}" in log
    assert f"switching the model from {COPY} to {DEMO_FILE}" in log
    print(f"idle switch to the copy seen in the heartbeat after {switched_in:.1f} s")
