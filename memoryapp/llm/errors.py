"""Typed errors of the LLM adapter.

Every error says whether trying again may help (`retryable`), so a job can decide between a
bounded retry and parking the work with the error for a human to look at. Extra attributes
are keyword arguments with defaults so that the errors survive pickling (Celery results).
"""

from __future__ import annotations


class LLMError(Exception):
    """Base of every error the adapter raises."""

    retryable: bool = False


class LLMRetryableError(LLMError):
    """Trying again may help: a timeout, invalid output, a transient failure."""

    retryable = True


class LLMPermanentError(LLMError):
    """Trying again cannot help until someone changes the configuration or the input."""

    retryable = False


class LLMTimeout(LLMRetryableError):
    """The call hit its wall-clock limit; `partial_text` is what was produced before."""

    def __init__(self, message: str, *, seconds: float = 0.0, partial_text: str = "") -> None:
        super().__init__(message)
        self.seconds = seconds
        self.partial_text = partial_text


class LLMInvalidOutput(LLMRetryableError):
    """The model's output did not validate, after every attempt.

    `raw_output` is the last output and `error` the validation error, so a job can park both
    for inspection.
    """

    def __init__(
        self, message: str, *, raw_output: str = "", error: str = "", attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.raw_output = raw_output
        self.error = error
        self.attempts = attempts


class ModelDownloadError(LLMRetryableError):
    """Downloading the model from the hub failed for a reason that may pass (network)."""


class ModelNotFound(LLMPermanentError):
    """The configured model file does not exist (locally or on the hub)."""


class ModelLoadError(LLMPermanentError):
    """The model file exists but llama.cpp cannot load it."""


class SchemaError(LLMPermanentError):
    """A response schema cannot be turned into a JSON schema or a grammar."""


class PromptTooLong(LLMPermanentError):
    """The prompt plus the room asked for the answer does not fit the context window."""

    def __init__(self, message: str, *, prompt_tokens: int = 0, limit: int = 0) -> None:
        super().__init__(message)
        self.prompt_tokens = prompt_tokens
        self.limit = limit
