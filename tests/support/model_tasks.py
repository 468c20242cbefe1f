"""Tasks loaded by the model-switch test's worker (`--include tests.support.model_tasks`):
they report the model the worker's job sees, and generate with it."""

from __future__ import annotations

import os
from typing import Any

from celery import shared_task
from django.conf import settings

from memoryapp.llm import get_llm
from memoryapp.services.memory.model_access import memory_llm_enabled


def _seen() -> dict[str, Any]:
    llm = get_llm()
    return {
        "pid": os.getpid(),
        "status": llm.status(),
        "memory_llm": memory_llm_enabled(settings.MEMORY_LLM, llm),
    }


@shared_task(name="memory.test_model_seen")
def memory_model_seen() -> dict[str, Any]:
    return _seen()


@shared_task(name="chat.test_model_generate")
def chat_model_generate(prompt: str) -> dict[str, Any]:
    completion = get_llm().complete([{"role": "user", "content": prompt}], max_tokens=4)
    return {**_seen(), "completion_tokens": completion.completion_tokens}
