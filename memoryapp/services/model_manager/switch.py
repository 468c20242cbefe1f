"""Workers follow the active model between jobs, without a restart.

Before each job (Celery's `task_prerun`, wired in `memoryapp.workers`) a worker reads the
active choice, one indexed query, and when it changed closes its model and loads the new one
before the job runs. An idle worker does the same from a thread every heartbeat, but only
while no job runs: a job never sees its model change under it, and memory is never held by
two models at once. Only worker processes switch (`switching_enable`); elsewhere (the web,
tests running tasks in-process) these hooks do nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection

from memoryapp.llm import LLMError
from memoryapp.llm.registry import llm_follow
from memoryapp.services.model_manager.choice import active_choice

logger = logging.getLogger(__name__)

# Held by a running job (and by a switch): re-entrant, since a job may run others in-process.
_jobs = threading.RLock()
_depth = threading.local()
_enabled = False


def switching_enable() -> None:
    """This process is a worker: follow the active model from now on."""
    global _enabled
    _enabled = True


@contextmanager
def no_job_running() -> Iterator[None]:
    """Within the block no job runs in this process (a job waits for its end)."""
    with _jobs:
        yield


def job_starting() -> None:
    """Before a job: take the jobs' lock; the outermost job first loads the active model."""
    if not _enabled:
        return
    _jobs.acquire()
    depth = getattr(_depth, "value", 0)
    _depth.value = depth + 1
    if depth == 0:
        model_follow_choice()


def job_finished() -> None:
    if not _enabled or getattr(_depth, "value", 0) == 0:
        return
    _depth.value -= 1
    _jobs.release()


def model_follow_choice(*, warm_up: bool = True) -> bool:
    """Load the active model if the process's is another one (closing that first). True when
    it switched. A database that cannot be read keeps the current model (logged)."""
    try:
        choice = active_choice()
    except DatabaseError as exc:
        logger.warning("could not read the active model, keeping the current one: %s", exc)
        return False
    llm, previous = llm_follow(choice)
    if previous is None:
        return False
    logger.info(
        "switching the model from %s to %s",
        previous.status()["model"],
        llm.status()["model"],
    )
    previous.close()
    if warm_up:
        try:
            llm.load()
            # A real model's first generation is slow (buffers, caches): paid before the job.
            llm.complete([{"role": "user", "content": "Hi"}], max_tokens=1, timeout=60)
        except LLMError as exc:
            # The heartbeat reports the failed state and its error on /healthz.
            logger.error("the model %s could not be loaded: %s", llm.status()["model"], exc)
    return True


class ModelWatcher(threading.Thread):
    """Switches an idle worker to the active model, every WORKER_HEARTBEAT_SECONDS."""

    def __init__(self) -> None:
        super().__init__(name="memoryapp-model-watcher", daemon=True)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(settings.WORKER_HEARTBEAT_SECONDS):
            if not _jobs.acquire(blocking=False):
                continue  # a job runs; it checked before it started
            try:
                model_follow_choice()
            except Exception:
                logger.exception("following the active model failed")
            finally:
                _jobs.release()
                connection.close()  # this thread's own

    def stop(self) -> None:
        self._stopped.set()
