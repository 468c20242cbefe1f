"""Celery worker lifecycle: heartbeats for /healthz and loading the models at start.

Models load in the background as soon as a worker is ready, so the first answer does not pay
for it; a task that arrives earlier waits on the model's load lock.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from memoryapp.heartbeats import HeartbeatThread

logger = logging.getLogger(__name__)

_heartbeat: HeartbeatThread | None = None


def _load_models() -> None:
    from memoryapp.embeddings import warm_up
    from memoryapp.llm import LLMError, get_llm

    try:
        warm_up()
        llm = get_llm()
        llm.load()
        if llm.info.source != "scripted":
            # A real model's first generation is slow (buffers, caches): pay for it now.
            llm.complete([{"role": "user", "content": "Hi"}], max_tokens=1, timeout=60)
    except LLMError as exc:
        logger.error("the LLM could not be loaded: %s", exc)
    except Exception:
        logger.exception("loading the models failed")


@worker_ready.connect
def _on_worker_ready(sender: Any, **kwargs: Any) -> None:
    global _heartbeat
    queues = sorted(sender.app.amqp.queues.consume_from)
    _heartbeat = HeartbeatThread(hostname=sender.hostname, queues=queues)
    _heartbeat.start()
    threading.Thread(target=_load_models, name="memoryapp-model-load", daemon=True).start()
    logger.info("worker %s serving %s", sender.hostname, ", ".join(queues))


@worker_shutdown.connect
def _on_worker_shutdown(**kwargs: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
