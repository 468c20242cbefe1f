"""The Celery application. Its configuration is the `CELERY_*` block of `settings.py`.

`chat` answers messages and must stay responsive; `memory` builds memory in the background.
Each queue gets its own worker process (`memoryapp/devstack/`, `docker/compose.yml`), so a
memory backlog never delays an answer.
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
