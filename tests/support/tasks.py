"""Tasks loaded only by the test workers (`celery worker --include tests.support.tasks`)."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import Task, shared_task

from memoryapp.services.notifications import user_notify


def _where(task: Task[Any, Any]) -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "queue": (task.request.delivery_info or {}).get("routing_key"),
    }


@shared_task(bind=True, name="chat.test_echo")
def chat_echo(self: Task[Any, Any], value: Any) -> dict[str, Any]:
    return {"value": value, **_where(self)}


@shared_task(bind=True, name="memory.test_echo")
def memory_echo(self: Task[Any, Any], value: Any) -> dict[str, Any]:
    return {"value": value, **_where(self)}


@shared_task(name="chat.test_notify")
def notify(user_id: int, html: str) -> None:
    user_notify(user_id=user_id, html=html)
