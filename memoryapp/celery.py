"""The Celery application. Its configuration is the `CELERY_*` block of `settings.py`.

`chat` answers messages and must stay responsive; `memory` builds memory in the background
and suggests conversation titles. Each queue gets its own worker process
(`memoryapp/devstack/`, `docker/compose.yml`), so a memory backlog never delays an answer.
Tasks (`memoryapp/tasks.py`) are named "<queue>.<job>" and routed by that prefix; services
and views queue them through `memoryapp/jobs.py`.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "memoryapp.settings")

app = Celery("memoryapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["memoryapp"])

# Connects the worker lifecycle signals (heartbeats, model warm-up).
import memoryapp.workers  # noqa: E402, F401
