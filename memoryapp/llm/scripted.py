"""A deterministic backend that replays canned replies, for tests and scripted benchmarks.

    backend = ScriptedBackend(["Hello there.", lambda messages: messages[-1]["content"]])
    with use_backend(backend) as llm:
        ...

A reply is a string, a callable that receives the messages and returns a string, or an
exception instance, which is raised when its turn comes. Tokens are counted by a regex (a
word or a punctuation mark is one token). `delay` makes every streamed piece slow.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memoryapp.llm.base import Chunk, Message, ModelInfo, StreamFinish

Reply = str | Callable[[Sequence[Message]], str] | Exception

_TOKEN = re.compile(r"\w+|[^\w\s]")
# Each piece is a run of non-space characters with the spaces after it; the pieces join
# back to the exact text.
_PIECE = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class ScriptedCall:
    messages: list[Message]
    max_tokens: int
    temperature: float
    json_schema: Mapping[str, Any] | None
    seed: int | None


class ScriptedBackend:
    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        delay: float = 0.0,
        context_size: int = 4096,
        load_error: Exception | None = None,
    ) -> None:
        self._replies: deque[Reply] = deque(replies)
        self.delay = delay
        self.load_error = load_error
        self.calls: list[ScriptedCall] = []
        self.loaded = False
        self._info = ModelInfo(
            name="scripted",
            path=Path("scripted"),
            source="scripted",
            is_demo=False,
            context_size=context_size,
            gpu_layers=0,
        )

    @property
    def info(self) -> ModelInfo:
        return self._info

    def add_replies(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    def load(self) -> None:
        if self.load_error is not None:
            raise self.load_error
        self.loaded = True

    def count_tokens(self, text: str) -> int:
        return len(_TOKEN.findall(text))

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: Mapping[str, Any] | None,
        seed: int | None,
    ) -> Iterator[Chunk]:
        self.calls.append(ScriptedCall(list(messages), max_tokens, temperature, json_schema, seed))
        text, finish = _truncate(self._next_reply(messages), max_tokens)
        for piece in _PIECE.findall(text):
            if self.delay:
                time.sleep(self.delay)
            yield Chunk(piece)
        yield Chunk(finish_reason=finish)

    def _next_reply(self, messages: Sequence[Message]) -> str:
        if not self._replies:
            raise LookupError(f"ScriptedBackend has no reply left for call {len(self.calls)}")
        reply = self._replies.popleft()
        if isinstance(reply, Exception):
            raise reply
        return reply if isinstance(reply, str) else reply(messages)


def _truncate(text: str, max_tokens: int) -> tuple[str, StreamFinish]:
    """The text cut after `max_tokens` tokens, and the finish reason that implies."""
    tokens = list(_TOKEN.finditer(text))
    if len(tokens) <= max_tokens:
        return text, "stop"
    return text[: tokens[max_tokens - 1].end()], "length"
