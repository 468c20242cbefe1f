"""The LLM adapter: the one way the project talks to a language model.

`LLM` wraps a `Backend` (llama.cpp, or a scripted one in tests) and adds what every caller
needs: the model loaded on first use, one call at a time on the model, wall-clock time
limits, token limits, prompt-size checks, validated JSON output and usage counts.

Each generation runs on a short-lived thread of its own that holds the model lock, while the
caller's thread relays its pieces. That is how a time limit holds even while llama.cpp is
busy in C code (loading, prompt processing): the caller gives up on time, and the thread
stops at its next token (so after the prompt is processed) and frees the model.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

import pydantic
from django.conf import settings

from memoryapp.llm.base import (
    Backend,
    Completion,
    FinishReason,
    Message,
    ModelInfo,
    StreamFinish,
    Usage,
)
from memoryapp.llm.errors import (
    LLMError,
    LLMInvalidOutput,
    LLMRetryableError,
    LLMTimeout,
    ModelLoadError,
    PromptTooLong,
    SchemaError,
)
from memoryapp.llm.models import ModelChoice, ModelLocation, describe_model, resolve_model

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=pydantic.BaseModel)
State = Literal["not_loaded", "loading", "loaded", "failed"]

# Chat templates wrap each message in a few special tokens (ChatML and Llama 3: about five)
# and open the reply with about three; the exact count depends on the template.
TOKENS_PER_MESSAGE = 5
TOKENS_PER_REPLY = 3
ROLES = frozenset({"system", "user", "assistant"})
# How often a waiting caller looks at its stop event and deadline.
_POLL_SECONDS = 0.05
_NO_USAGE = Usage(0, 0, 0.0)


@dataclass(frozen=True)
class _Request:
    messages: list[Message]
    max_tokens: int
    timeout: float
    temperature: float
    json_schema: dict[str, Any] | None = None
    seed: int | None = None


# What the generating thread hands to the caller's thread: text pieces (str), then one
# `_Started`, and last exactly one `_Ended` or `_Failed`.
@dataclass(frozen=True)
class _Started:
    prompt_tokens: int


@dataclass(frozen=True)
class _Ended:
    finish_reason: StreamFinish | None  # None: cancelled
    completion_tokens: int


@dataclass(frozen=True)
class _Failed:
    error: Exception


_Item = str | _Started | _Ended | _Failed


@dataclass
class _Outcome:
    """What one generation produced, as the caller saw it."""

    started: float = field(default_factory=time.monotonic)
    pieces: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int | None = None
    finish_reason: FinishReason = "stop"
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def usage(self) -> Usage:
        # Without the generating thread's count (it was still busy when the caller gave up),
        # one streamed piece is about one token.
        completion = len(self.pieces) if self.completion_tokens is None else self.completion_tokens
        return Usage(self.prompt_tokens, completion, self.seconds)

    def completion(self) -> Completion:
        usage = self.usage()
        return Completion(
            text=self.text,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            finish_reason=self.finish_reason,
            seconds=self.seconds,
        )


class LLM:
    """A language model behind a lock. Use `memoryapp.llm.get_llm()` for the process's one.

    Messages are lists of {"role": "system" | "user" | "assistant", "content": str}.
    `max_tokens` defaults to `LLM_MAX_TOKENS` and `timeout` (seconds of wall-clock time,
    including waiting for the model) to `LLM_TIMEOUT_SECONDS`.
    """

    def __init__(
        self, backend: Backend | None = None, *, choice: ModelChoice | None = None
    ) -> None:
        """Without a backend, the model manager's `choice` is used, else the configured model
        (`resolve_model`)."""
        self._backend = backend
        self.choice = choice
        # llama.cpp objects are not thread-safe: every use of the backend holds this lock.
        self._lock = threading.Lock()
        self._state: State = "not_loaded"
        self._error: str | None = None
        self._local = threading.local()

    # --- Model ------------------------------------------------------------------------------

    def load(self) -> ModelInfo:
        """Load the model now (warm-up) instead of on the first call."""
        with self._lock:
            return self._loaded_backend().info

    @property
    def info(self) -> ModelInfo:
        """The model; finds (and may download) the file, but does not load it."""
        backend = self._backend
        if backend is None:
            with self._lock:
                backend = self._configured_backend()
        return backend.info

    def status(self) -> dict[str, Any]:
        """JSON-serialisable state of the model; never loads or downloads anything."""
        backend = self._backend
        if backend is not None:
            info = backend.info
            location = ModelLocation(info.name, info.path, info.source)
            context_size, gpu_layers = info.context_size, info.gpu_layers
        elif self.choice is not None:
            choice = self.choice
            location = ModelLocation(choice.path.name, choice.path, choice.source)
            context_size, gpu_layers = choice.context_size, choice.gpu_layers
        else:
            location = describe_model()
            context_size, gpu_layers = settings.LLM_CONTEXT_SIZE, settings.LLM_GPU_LAYERS
        path = location.path
        return {
            "state": self._state,
            "model": location.name,
            "path": None if path is None else str(path),
            "source": location.source,
            "demo": location.source == "demo",
            "context_size": context_size,
            "gpu_layers": gpu_layers,
            "error": self._error,
        }

    def close(self) -> None:
        """Free the loaded model (waiting for a generation to end); it loads again on use."""
        with self._lock:
            close = getattr(self._backend, "close", None)
            if close is not None:
                close()
            if self._state == "loaded":
                self._state = "not_loaded"

    @property
    def last_usage(self) -> Usage | None:
        """Usage of the last call made by this thread (of a stream: once it has ended)."""
        usage: Usage | None = getattr(self._local, "usage", None)
        return usage

    @property
    def last_finish_reason(self) -> FinishReason | None:
        """Why the last generation of this thread ended, once it has: "length" at the token
        limit, "stop" when the model ended it, "stopped" when the caller did; None while a
        stream runs, and after one that raised (a time limit, a model error)."""
        reason: FinishReason | None = getattr(self._local, "finish_reason", None)
        return reason

    # --- Tokens -----------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` by the model's own tokenizer."""
        with self._locked():
            return self._loaded_backend().count_tokens(text)

    def count_message_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of `messages` as a prompt: exact content tokens plus an estimate of the chat
        template's tokens (`TOKENS_PER_MESSAGE` each, `TOKENS_PER_REPLY` once). Templates that
        add a default system prompt when there is none add more."""
        with self._locked():
            return _message_tokens(self._loaded_backend(), messages)

    # --- Generation -------------------------------------------------------------------------

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
        temperature: float = 0.7,
        stop_event: threading.Event | None = None,
    ) -> Generator[str, None, None]:
        """Yield the reply in pieces as the model produces them.

        Ends quietly when `stop_event` is set or the caller closes the generator (which
        waits for the model to be free again). On the time limit (counted from the first
        `next()`), raises `LLMTimeout` after yielding everything produced until then.
        Raises `PromptTooLong` before generating when the prompt leaves less than
        `max_tokens` (capped at the context size) of the context for the reply.
        """
        request = self._request(messages, max_tokens, timeout, temperature)
        return self._stream(request, stop_event, _Outcome())

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
        temperature: float = 0.7,
        stop_event: threading.Event | None = None,
    ) -> Completion:
        """The whole reply; same limits and errors as `stream`."""
        request = self._request(messages, max_tokens, timeout, temperature)
        return self._complete(request, stop_event)

    def complete_json(
        self,
        messages: Sequence[Message],
        schema: type[ModelT],
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
        temperature: float = 0.2,
        attempts: int | None = None,
    ) -> ModelT:
        """A `schema` instance from grammar-constrained output; never invalid data.

        Output that does not validate, or is cut off by `max_tokens`, is retried up to
        `attempts` times in all (default `LLM_JSON_ATTEMPTS`), each with another seed; then
        `LLMInvalidOutput` carries the last output. `timeout` covers all attempts. A schema
        that has no JSON schema or grammar raises `SchemaError`.
        """
        json_schema = _json_schema(schema)
        attempts = settings.LLM_JSON_ATTEMPTS if attempts is None else attempts
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        limit = self._timeout(timeout)
        deadline = time.monotonic() + limit
        failures: list[LLMInvalidOutput] = []
        total = _NO_USAGE
        try:
            for attempt in range(attempts):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LLMTimeout(f"No time left for JSON attempt {attempt + 1}", seconds=limit)
                request = replace(
                    self._request(messages, max_tokens, remaining, temperature),
                    json_schema=json_schema,
                    seed=_attempt_seed(attempt),
                )
                try:
                    completion = self._complete(request, None)
                finally:
                    total += self.last_usage or _NO_USAGE
                try:
                    return _parse(schema, completion)
                except LLMInvalidOutput as exc:
                    logger.info("Invalid JSON from the model (attempt %d): %s", attempt + 1, exc)
                    failures.append(exc)
        finally:
            self._local.usage = total
        last = failures[-1]
        raise LLMInvalidOutput(
            f"No valid {schema.__name__} after {attempts} attempts: {last}",
            raw_output=last.raw_output,
            error=last.error,
            attempts=attempts,
        )

    # --- Internals --------------------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[Message],
        max_tokens: int | None,
        timeout: float | None,
        temperature: float,
    ) -> _Request:
        _check_messages(messages)
        max_tokens = settings.LLM_MAX_TOKENS if max_tokens is None else max_tokens
        if max_tokens <= 0:
            raise ValueError(f"max_tokens must be positive, not {max_tokens}")
        return _Request(list(messages), max_tokens, self._timeout(timeout), temperature)

    @staticmethod
    def _timeout(timeout: float | None) -> float:
        timeout = settings.LLM_TIMEOUT_SECONDS if timeout is None else timeout
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        return float(timeout)

    def _complete(self, request: _Request, stop_event: threading.Event | None) -> Completion:
        outcome = _Outcome()
        for _piece in self._stream(request, stop_event, outcome):
            pass
        return outcome.completion()

    def _stream(
        self, request: _Request, stop_event: threading.Event | None, outcome: _Outcome
    ) -> Generator[str, None, None]:
        outcome.started = time.monotonic()
        deadline = outcome.started + request.timeout
        self._local.finish_reason = None
        generation = _Generation(self, request)
        generation.start()
        settle = False
        try:
            yield from _relay(generation, request, deadline, stop_event, outcome)
            settle = True
        except GeneratorExit:  # the caller stopped reading
            outcome.finish_reason = "stopped"
            settle = True
            raise
        finally:
            generation.cancel()
            if settle:
                _settle(generation, deadline, outcome)
            outcome.seconds = time.monotonic() - outcome.started
            self._local.usage = outcome.usage()
            # `settle` is False only when the stream raised: it did not end for a reason.
            self._local.finish_reason = outcome.finish_reason if settle else None

    def _prepare(self, request: _Request) -> tuple[Backend, int, int]:
        """With the lock held: the loaded backend, the prompt's tokens and the reply's limit."""
        backend = self._loaded_backend()
        context = backend.info.context_size
        max_tokens = min(request.max_tokens, context)
        prompt_tokens = _message_tokens(backend, request.messages)
        limit = context - max_tokens
        if prompt_tokens > limit:
            raise PromptTooLong(
                f"The prompt is about {prompt_tokens} tokens, but with max_tokens={max_tokens} "
                f"a context of {context} tokens leaves room for {limit}. Shorten the prompt, "
                "lower max_tokens or raise LLM_CONTEXT_SIZE.",
                prompt_tokens=prompt_tokens,
                limit=limit,
            )
        return backend, prompt_tokens, max_tokens

    def _loaded_backend(self) -> Backend:
        """With the lock held: the backend, loaded."""
        if self._state == "loaded" and self._backend is not None:
            return self._backend
        self._state = "loading"
        try:
            backend = self._configured_backend()
            backend.load()
        except LLMError as exc:
            self._state, self._error = "failed", str(exc)
            raise
        except Exception as exc:
            self._state, self._error = "failed", repr(exc)
            raise ModelLoadError(f"Loading the model failed: {exc!r}") from exc
        self._state, self._error = "loaded", None
        return backend

    def _configured_backend(self) -> Backend:
        """With the lock held: the backend, created from the settings on first use."""
        if self._backend is None:
            # Imported here so that processes that never generate never load llama.cpp.
            from memoryapp.llm.llamacpp import LlamaCppBackend

            if self.choice is not None:
                self._backend = LlamaCppBackend.from_choice(self.choice)
            else:
                path, source = resolve_model()
                self._backend = LlamaCppBackend.from_settings(path, source)
        return self._backend

    @contextmanager
    def _locked(self) -> Iterator[None]:
        timeout = settings.LLM_TIMEOUT_SECONDS
        if not self._lock.acquire(timeout=timeout):
            raise LLMTimeout(f"The model stayed busy for {timeout:g} s", seconds=timeout)
        try:
            yield
        finally:
            self._lock.release()


class _Generation:
    """One generation on a thread of its own, handing its pieces over through a queue."""

    def __init__(self, llm: LLM, request: _Request) -> None:
        self._llm = llm
        self._request = request
        self._items: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="llm-generation", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    def next_item(self, timeout: float) -> _Item | None:
        try:
            return self._items.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return None

    def _run(self) -> None:
        final: _Ended | _Failed
        try:
            final = self._run_locked()
        except Exception as exc:  # handed over and raised in the caller's thread
            final = _Failed(exc)
        # Put last, after the lock is released: a caller that saw it can use the model.
        self._items.put(final)

    def _run_locked(self) -> _Ended:
        lock = self._llm._lock
        # Polls so that the thread of a caller who gave up does not wait for the model.
        while not lock.acquire(timeout=_POLL_SECONDS):
            if self._cancelled.is_set():
                return _Ended(None, 0)
        try:
            if self._cancelled.is_set():
                return _Ended(None, 0)
            backend, prompt_tokens, max_tokens = self._llm._prepare(self._request)
            self._items.put(_Started(prompt_tokens))
            return self._generate(backend, max_tokens)
        finally:
            lock.release()

    def _generate(self, backend: Backend, max_tokens: int) -> _Ended:
        request = self._request
        pieces: list[str] = []
        finish: StreamFinish | None = None
        chunks = backend.stream_chat(
            request.messages,
            max_tokens=max_tokens,
            temperature=request.temperature,
            json_schema=request.json_schema,
            seed=request.seed,
        )
        try:
            for chunk in chunks:
                if self._cancelled.is_set():
                    break
                if chunk.text:
                    pieces.append(chunk.text)
                    self._items.put(chunk.text)
                finish = chunk.finish_reason or finish
        finally:
            if isinstance(chunks, Generator):
                chunks.close()
        if finish is None and not self._cancelled.is_set():
            finish = "stop"
        return _Ended(finish, _completion_tokens(backend, pieces, finish, max_tokens))


def _relay(
    generation: _Generation,
    request: _Request,
    deadline: float,
    stop_event: threading.Event | None,
    outcome: _Outcome,
) -> Iterator[str]:
    """Yield the generation's pieces until it ends, the caller stops or time runs out."""
    while True:
        if stop_event is not None and stop_event.is_set():
            outcome.finish_reason = "stopped"
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            # Stop the producer first so that what is left to yield is bounded.
            generation.cancel()
        item = generation.next_item(min(remaining, _POLL_SECONDS))
        if item is None:
            if remaining <= 0:
                raise LLMTimeout(
                    f"The model did not finish within {request.timeout:g} s",
                    seconds=request.timeout,
                    partial_text=outcome.text,
                )
            continue
        if isinstance(item, str):
            outcome.pieces.append(item)
            yield item
        elif _take(item, outcome):
            return


def _take(item: _Started | _Ended | _Failed, outcome: _Outcome) -> bool:
    """Record a control item; True when the generation is over."""
    if isinstance(item, _Started):
        outcome.prompt_tokens = item.prompt_tokens
        return False
    if isinstance(item, _Ended):
        outcome.completion_tokens = item.completion_tokens
        if item.finish_reason is not None:
            outcome.finish_reason = item.finish_reason
        return True
    if isinstance(item.error, LLMError):
        raise item.error
    raise LLMRetryableError(f"The model call failed: {item.error!r}") from item.error


def _settle(generation: _Generation, deadline: float, outcome: _Outcome) -> None:
    """Wait, until the deadline at most, for a cancelled generation to free the model, and
    take its token count."""
    if outcome.completion_tokens is not None:
        return
    while (item := generation.next_item(deadline - time.monotonic())) is not None:
        if isinstance(item, _Ended):
            outcome.completion_tokens = item.completion_tokens
            return
        if isinstance(item, _Failed):
            return
        if isinstance(item, _Started):
            outcome.prompt_tokens = item.prompt_tokens


def _completion_tokens(
    backend: Backend, pieces: list[str], finish: StreamFinish | None, max_tokens: int
) -> int:
    # Streams do not report token counts. A reply cut at the limit has exactly `max_tokens`;
    # otherwise re-tokenising the text is close (not exact: tokenisation is not unique).
    if finish == "length":
        return max_tokens
    return min(backend.count_tokens("".join(pieces)), max_tokens)


def _message_tokens(backend: Backend, messages: Sequence[Message]) -> int:
    content = sum(backend.count_tokens(message["content"]) for message in messages)
    return content + TOKENS_PER_MESSAGE * len(messages) + TOKENS_PER_REPLY


def _check_messages(messages: Sequence[Message]) -> None:
    if not messages:
        raise ValueError("messages must not be empty")
    for message in messages:
        if message.get("role") not in ROLES or not isinstance(message.get("content"), str):
            raise ValueError(f"not a chat message: {message!r}")


def _json_schema(schema: type[pydantic.BaseModel]) -> dict[str, Any]:
    try:
        return schema.model_json_schema()
    except pydantic.PydanticUserError as exc:
        raise SchemaError(f"{schema.__name__} has no JSON schema: {exc}") from exc


def _attempt_seed(attempt: int) -> int | None:
    # The backend's own seed makes equal prompts give equal output: a retry needs another.
    return None if attempt == 0 else settings.LLM_SEED + attempt


def _parse(schema: type[ModelT], completion: Completion) -> ModelT:
    """The validated instance, or `LLMInvalidOutput` (cut-off output counts as invalid)."""
    if completion.finish_reason != "stop":
        raise LLMInvalidOutput(
            f"The output was cut off ({completion.finish_reason}) after "
            f"{completion.completion_tokens} tokens",
            raw_output=completion.text,
            error=f"output cut off: finish_reason={completion.finish_reason}",
        )
    try:
        return schema.model_validate_json(completion.text)
    except pydantic.ValidationError as exc:
        raise LLMInvalidOutput(
            f"The output is not a valid {schema.__name__}",
            raw_output=completion.text,
            error=str(exc),
        ) from exc
