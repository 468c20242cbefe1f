"""Celery worker lifecycle: heartbeats for /healthz, loading the models at start, and
following the model manager's active model between jobs.

Models load in the background as soon as a worker is ready, so the first answer does not pay
for it; a task that arrives earlier waits on the model's load lock. Before each job, and
every heartbeat while idle, the worker loads the active model if it changed
(`memoryapp.services.model_manager.switch`).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from celery.signals import task_postrun, task_prerun, worker_init, worker_ready, worker_shutdown

from memoryapp.heartbeats import HeartbeatThread

if TYPE_CHECKING:
    from memoryapp.llm import LLM
    from memoryapp.services.model_manager.switch import ModelWatcher

logger = logging.getLogger(__name__)

_heartbeat: HeartbeatThread | None = None
_model_watcher: ModelWatcher | None = None


def _load_models() -> None:
    from memoryapp.embeddings import warm_up
    from memoryapp.llm import get_llm
    from memoryapp.services.model_manager import switch

    try:
        warm_up()
        with switch.no_job_running():
            # The active model, not the settings' one, when the owner chose one.
            switch.model_follow_choice(warm_up=False)
            _warm_up_llm(get_llm())
    except Exception:
        logger.exception("loading the models failed")
    finally:
        from django.db import connection

        connection.close()  # this thread's own


def _warm_up_llm(llm: LLM) -> None:
    from memoryapp.llm import LLMError

    try:
        llm.load()
        if llm.info.source != "scripted":
            # A real model's first generation is slow (buffers, caches): pay for it now.
            llm.complete([{"role": "user", "content": "Hi"}], max_tokens=1, timeout=60)
    except LLMError as exc:
        logger.error("the LLM could not be loaded: %s", exc)


@worker_init.connect
def _on_worker_init(**kwargs: Any) -> None:
    from memoryapp.services.model_manager import switch

    switch.switching_enable()


@task_prerun.connect
def _on_task_prerun(**kwargs: Any) -> None:
    from memoryapp.services.model_manager import switch

    switch.job_starting()


@task_postrun.connect
def _on_task_postrun(**kwargs: Any) -> None:
    from memoryapp.services.model_manager import switch

    switch.job_finished()


@worker_ready.connect
def _on_worker_ready(sender: Any, **kwargs: Any) -> None:
    global _heartbeat
    queues = sorted(sender.app.amqp.queues.consume_from)
    _heartbeat = HeartbeatThread(hostname=sender.hostname, queues=queues)
    _heartbeat.start()
    threading.Thread(target=_load_models, name="memoryapp-model-load", daemon=True).start()
    from memoryapp.services.model_manager.switch import ModelWatcher

    global _model_watcher
    _model_watcher = ModelWatcher()
    _model_watcher.start()
    logger.info("worker %s serving %s", sender.hostname, ", ".join(queues))


@worker_shutdown.connect
def _on_worker_shutdown(**kwargs: Any) -> None:
    if _model_watcher is not None:
        _model_watcher.stop()
    if _heartbeat is not None:
        _heartbeat.stop()
