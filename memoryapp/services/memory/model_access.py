"""The LLM as memory building uses it: only when enabled, after the chat worker, and metered."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import pydantic
from django.conf import settings

from memoryapp.llm import LLM, LLMError, get_llm
from memoryapp.llm import Message as PromptMessage
from memoryapp.llm.prompting import FittedPrompt, Shown, prompt_within
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
    """Whether memory's LLM stages run: MEMORY_LLM "on"/"off", or "auto" = not the demo
    model (its extractions are junk; deterministic memory is better than junk memory)."""
    if setting == "on":
        return True
    if setting == "off":
        return False
    try:
        return not llm.info.is_demo
    except LLMError:
        return False


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

    def fit(
        self,
        parts: Sequence[str],
        *,
        render: Callable[[Shown], str],
        max_tokens: int,
        droppable: Iterable[int] | None = None,
        limit: int | None = None,
    ) -> FittedPrompt:
        """The prompt `render` makes of `parts`, fitted to the model's context window with
        `max_tokens` left for the reply (`prompt_within`)."""
        if self.llm is None:
            raise RuntimeError("memory LLM stages are disabled")
        return prompt_within(
            self.llm, parts, render=render, max_tokens=max_tokens, droppable=droppable, limit=limit
        )

    def json(self, messages: Sequence[PromptMessage], schema: type[T], *, max_tokens: int) -> T:
        """`complete_json` after the chat worker is idle; raises the adapter's LLMErrors."""
        if self.llm is None:
            raise RuntimeError("memory LLM stages are disabled")
        chat_idle_wait()
        self.calls += 1
        try:
            return self.llm.complete_json(
                messages, schema, max_tokens=max_tokens, timeout=JSON_TIMEOUT_SECONDS
            )
        finally:
            usage = self.llm.last_usage
            if usage is not None:
                self.prompt_tokens += usage.prompt_tokens
                self.completion_tokens += usage.completion_tokens
