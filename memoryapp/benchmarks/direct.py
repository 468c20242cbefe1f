"""The baseline: the model called in this process, with the prompt the chat worker builds."""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.conf import settings

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.timing import Timing
from memoryapp.llm import LLM, Message
from memoryapp.llm.prompting import prompt_room
from memoryapp.models import Message as ChatMessage
from memoryapp.retrieval import context_for_answer
from memoryapp.services.chat_prompt import chat_prompt_build


def worker_prompt(*, llm: LLM, answer: ChatMessage, max_tokens: int) -> list[Message]:
    """The messages the chat worker sent to the model for `answer` (built the same way, with
    `max_tokens` as its CHAT_ANSWER_MAX_TOKENS)."""
    return chat_prompt_build(
        context=context_for_answer(answer=answer),
        history_tokens=settings.CHAT_HISTORY_TOKENS,
        room=prompt_room(context_size=llm.load().context_size, answer_tokens=max_tokens),
        count_tokens=llm.count_tokens,
    ).messages


def direct_run(*, llm: LLM, messages: Sequence[Message], max_tokens: int) -> Timing:
    """Stream one reply at the worker's (default) temperature and time it.

    The end is when the stream is exhausted; tokens are counted like the worker counts
    them, by re-tokenising the whole reply.
    """
    started = time.perf_counter()
    first: float | None = None
    pieces: list[str] = []
    stream = llm.stream(messages, max_tokens=max_tokens)
    try:
        for piece in stream:
            if first is None:
                first = time.perf_counter()
            pieces.append(piece)
    finally:
        stream.close()
    ended = time.perf_counter()
    if first is None:
        raise BenchError("The model called directly produced no text.")
    tokens = llm.count_tokens("".join(pieces))
    return Timing(first_token=first - started, generation=ended - first, tokens=tokens)
