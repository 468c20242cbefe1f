"""memoryapp: a private assistant with long-term memory, on a local LLM."""

from __future__ import annotations

from memoryapp.celery import app as celery_app

__all__ = ["celery_app"]
