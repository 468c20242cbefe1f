"""The LLM adapter: the only code in the project that talks to a language model.

    from memoryapp.llm import get_llm
    reply = get_llm().complete([{"role": "user", "content": "Hello"}], max_tokens=64)

Errors are `LLMError`s whose `retryable` says whether trying again may help.
"""

from __future__ import annotations

from memoryapp.llm.adapter import LLM
from memoryapp.llm.base import Backend, Completion, Message, ModelInfo, Usage
from memoryapp.llm.errors import (
    LLMError,
    LLMInvalidOutput,
    LLMPermanentError,
    LLMRetryableError,
    LLMTimeout,
    ModelDownloadError,
    ModelLoadError,
    ModelNotFound,
    PromptTooLong,
    SchemaError,
)
from memoryapp.llm.registry import get_llm, llm_status, set_backend_for_tests, use_backend

__all__ = [
    "LLM",
    "Backend",
    "Completion",
    "LLMError",
    "LLMInvalidOutput",
    "LLMPermanentError",
    "LLMRetryableError",
    "LLMTimeout",
    "Message",
    "ModelDownloadError",
    "ModelInfo",
    "ModelLoadError",
    "ModelNotFound",
    "PromptTooLong",
    "SchemaError",
    "Usage",
    "get_llm",
    "llm_status",
    "set_backend_for_tests",
    "use_backend",
]
