"""A stream tells its caller why it ended (`LLM.last_finish_reason`): the answer job marks an
answer cut at the token cap from it."""

from __future__ import annotations

import pytest

from memoryapp.llm import LLM, LLMTimeout, Message
from memoryapp.llm.scripted import ScriptedBackend

HELLO: list[Message] = [{"role": "user", "content": "Say hello."}]


def test_a_stream_cut_at_max_tokens_ended_for_length() -> None:
    llm = LLM(ScriptedBackend(["one two three four five"]))

    pieces = list(llm.stream(HELLO, max_tokens=3))

    assert "".join(pieces) == "one two three"
    assert llm.last_finish_reason == "length"
    assert llm.last_usage is not None
    assert llm.last_usage.completion_tokens == 3


def test_a_stream_the_model_ended_ended_for_stop() -> None:
    llm = LLM(ScriptedBackend(["one two"]))

    assert "".join(llm.stream(HELLO, max_tokens=3)) == "one two"
    assert llm.last_finish_reason == "stop"


def test_a_stream_the_caller_closed_was_stopped() -> None:
    llm = LLM(ScriptedBackend(["a b c d e f g h"], delay=0.01))
    stream = llm.stream(HELLO)

    next(stream)
    stream.close()

    assert llm.last_finish_reason == "stopped"


def test_a_stream_that_timed_out_has_no_finish_reason() -> None:
    llm = LLM(ScriptedBackend(["x", "a b c d e f g h i j"], delay=0.1))
    assert llm.complete(HELLO).finish_reason == "stop"
    assert llm.last_finish_reason == "stop"

    with pytest.raises(LLMTimeout):
        for _piece in llm.stream(HELLO, timeout=0.25):
            pass

    assert llm.last_finish_reason is None
