"""A worker whose LLM is the deterministic `ScriptedBackend` instead of llama.cpp.

Imported by a test worker (`celery worker --include tests.support.scripted_llm`, see
`scripted_worker_env`), it puts the scripted backend behind `get_llm()` before the worker
loads its models, so the heartbeat reports the model "scripted" as loaded.

Replies come from the environment: `MEMORYAPP_SCRIPTED_REPLIES`, a JSON list of strings used
in order (the answer, then the conversation title the worker asks for after a first answer,
and so on); `MEMORYAPP_SCRIPTED_DEFAULT` once they run out; `MEMORYAPP_SCRIPTED_DELAY`,
seconds before each streamed piece (a word with its spaces).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence

from memoryapp.llm import set_backend_for_tests
from memoryapp.llm.base import Message
from memoryapp.llm.scripted import ScriptedBackend

REPLIES_VARIABLE = "MEMORYAPP_SCRIPTED_REPLIES"
DEFAULT_VARIABLE = "MEMORYAPP_SCRIPTED_DEFAULT"
DELAY_VARIABLE = "MEMORYAPP_SCRIPTED_DELAY"
DEFAULT_REPLY = "A scripted reply."


class ScriptedBackendWithDefault(ScriptedBackend):
    """Replays its replies, then answers `default` forever instead of failing: a worker asks
    the model for more than the test scripted (conversation titles)."""

    def __init__(self, replies: Sequence[str], *, default: str, delay: float) -> None:
        super().__init__(replies, delay=delay)
        self.default = default

    def _next_reply(self, messages: Sequence[Message]) -> str:
        if not self._replies:
            return self.default
        return super()._next_reply(messages)


def scripted_worker_env(
    replies: Sequence[str], *, default: str = DEFAULT_REPLY, delay: float = 0.0
) -> dict[str, str]:
    """The environment variables that make a worker including this module use `replies`."""
    return {
        REPLIES_VARIABLE: json.dumps(list(replies)),
        DEFAULT_VARIABLE: default,
        DELAY_VARIABLE: str(delay),
    }


def backend_from_env(environ: Mapping[str, str]) -> ScriptedBackendWithDefault:
    replies = json.loads(environ.get(REPLIES_VARIABLE) or "[]")
    if not isinstance(replies, list) or not all(isinstance(reply, str) for reply in replies):
        raise ValueError(f"{REPLIES_VARIABLE} must be a JSON list of strings")
    return ScriptedBackendWithDefault(
        replies,
        default=environ.get(DEFAULT_VARIABLE, DEFAULT_REPLY),
        delay=float(environ.get(DELAY_VARIABLE) or 0),
    )


# Only in a process that asked for it: importing this module elsewhere (mypy, a test that
# builds the environment) must not replace that process's model.
if REPLIES_VARIABLE in os.environ:
    set_backend_for_tests(backend_from_env(os.environ))
