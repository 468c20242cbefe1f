"""Data types of the LLM adapter and the small interface a model backend implements."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol, TypedDict

Role = Literal["system", "user", "assistant"]
# "scripted" is the deterministic test backend; the others say where the model file came from
# ("chosen": the model manager's active model, see `memoryapp.llm.switch`).
Source = Literal["path", "hub", "demo", "chosen", "scripted"]
StreamFinish = Literal["stop", "length"]
# "stopped": the caller ended the stream (stop button, closed generator).
FinishReason = Literal["stop", "length", "stopped"]


class Message(TypedDict):
    role: Role
    content: str


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: Path
    source: Source
    is_demo: bool
    context_size: int
    gpu_layers: int


@dataclass(frozen=True)
class Usage:
    """Token counts and wall-clock time of one adapter call, for cost accounting."""

    prompt_tokens: int
    completion_tokens: int
    seconds: float

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            seconds=self.seconds + other.seconds,
        )


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    seconds: float

    @property
    def usage(self) -> Usage:
        return Usage(self.prompt_tokens, self.completion_tokens, self.seconds)


@dataclass(frozen=True)
class Chunk:
    """A piece of generated text; the last chunk of a stream carries its finish reason."""

    text: str = ""
    finish_reason: StreamFinish | None = None


class Backend(Protocol):
    """What the adapter needs from a model. Implementations need not be thread-safe: the
    adapter calls them under its lock, one call at a time."""

    @property
    def info(self) -> ModelInfo: ...

    def load(self) -> None:
        """Load the model; idempotent."""

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` without any special tokens."""
        ...

    def stream_chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int,
        temperature: float,
        json_schema: Mapping[str, Any] | None,
        seed: int | None,
    ) -> Iterator[Chunk]:
        """Generate at most `max_tokens` tokens; with `json_schema`, output constrained to it."""
        ...
