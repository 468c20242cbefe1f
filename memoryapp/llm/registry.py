"""The process's one `LLM`, and the switch tests use to put a scripted backend behind it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from memoryapp.llm.adapter import LLM
from memoryapp.llm.base import Backend
from memoryapp.llm.models import ModelChoice

_llm: LLM | None = None
_llm_lock = threading.Lock()
# True while a test's backend is in place: the model manager's choice does not replace it.
_pinned = False


def get_llm() -> LLM:
    """The process's `LLM`, created on first use; its model loads on the first real call."""
    global _llm
    with _llm_lock:
        if _llm is None:
            _llm = LLM()
        return _llm


def llm_status() -> dict[str, Any]:
    """The model's state as JSON-serialisable data, without loading anything:
    {"state": "not_loaded" | "loading" | "loaded" | "failed", "model", "path", "source",
    "demo", "context_size", "gpu_layers", "error"}."""
    llm = _llm
    return (llm or LLM()).status()


def llm_follow(choice: ModelChoice | None) -> tuple[LLM, LLM | None]:
    """Make `get_llm()` the model of `choice` (None: the settings' model) unless it is that
    already. Returns the process's `LLM` and the one it replaced, if any, for the caller to
    close once nothing uses it (`memoryapp.llm.switch`). A test's backend stays."""
    global _llm
    with _llm_lock:
        if _llm is not None and (_pinned or _llm.choice == choice):
            return _llm, None
        previous, _llm = _llm, LLM(choice=choice)
        return _llm, previous


def set_backend_for_tests(backend: Backend | None) -> LLM | None:
    """Make `get_llm()` use `backend`; None goes back to the configured model (reloaded
    lazily). Returns the new `LLM`, if any."""
    global _llm, _pinned
    with _llm_lock:
        _llm = None if backend is None else LLM(backend)
        _pinned = backend is not None
        return _llm


@contextmanager
def use_backend(backend: Backend) -> Iterator[LLM]:
    """Within the block, `get_llm()` is an `LLM` on `backend`; the previous one after it."""
    global _llm, _pinned
    with _llm_lock:
        previous, _llm = _llm, LLM(backend)
        previous_pinned, _pinned = _pinned, True
        llm = _llm
    try:
        yield llm
    finally:
        with _llm_lock:
            _llm, _pinned = previous, previous_pinned
