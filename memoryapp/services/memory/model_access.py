"""The LLM as memory building uses it: only when enabled, after the chat worker, and metered."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TypeVar

import pydantic
from django.conf import settings

from memoryapp.llm import LLM, LLMError, get_llm
from memoryapp.llm import Message as PromptMessage
from memoryapp.services.answer_control import chat_is_busy

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=pydantic.BaseModel)

JSON_TIMEOUT_SECONDS = 180.0
YIELD_POLL_SECONDS = 0.25


def chat_idle_wait() -> None:
    """Wait while the chat worker is answering, at most MEMORY_YIELD_MAX_SECONDS: memory's
    model calls come after the person's answers."""
    deadline = time.monotonic() + settings.MEMORY_YIELD_MAX_SECONDS
    while chat_is_busy() and time.monotonic() < deadline:
        time.sleep(YIELD_POLL_SECONDS)


def memory_llm_enabled(setting: str, llm: LLM) -> bool:
    """Whether memory's LLM stages run with `llm` (`llm_stages_on`); on "auto", not
    with a model that cannot be described."""
    try:
        is_demo = llm.info.is_demo
    except LLMError:
        return setting == "on"
    return llm_stages_on(setting, is_demo=is_demo)


def llm_stages_on(setting: str, *, is_demo: bool) -> bool:
    """Whether memory's LLM stages run: MEMORY_LLM "on"/"off", or "auto" = not the demo
    model (its extractions are junk; deterministic memory is better than junk memory)."""
    if setting in ("on", "off"):
        return setting == "on"
    return not is_demo


class MemoryModel:
    """Counts the calls and tokens one job spends, and waits for chat before each call."""

    def __init__(self, llm: LLM | None) -> None:
        self.llm = llm
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    @classmethod
    def for_memory(cls, *, setting: str | None = None) -> MemoryModel:
        llm = get_llm()
        enabled = memory_llm_enabled(setting or settings.MEMORY_LLM, llm)
        return cls(llm if enabled else None)

    @property
    def enabled(self) -> bool:
        return self.llm is not None

    @property
    def active(self) -> LLM:
        """The model, for a stage that runs only while memory's LLM stages are on (fit its
        prompts with `prompting.prompt_within(model.active, ...)`)."""
        if self.llm is None:
            raise RuntimeError("memory LLM stages are disabled")
        return self.llm

    def json(self, messages: Sequence[PromptMessage], schema: type[T], *, max_tokens: int) -> T:
        """`complete_json` after the chat worker is idle; raises the adapter's LLMErrors."""
        llm = self.active
        chat_idle_wait()
        self.calls += 1
        try:
            return llm.complete_json(
                messages, schema, max_tokens=max_tokens, timeout=JSON_TIMEOUT_SECONDS
            )
        finally:
            usage = llm.last_usage
            if usage is not None:
                self.prompt_tokens += usage.prompt_tokens
                self.completion_tokens += usage.completion_tokens
