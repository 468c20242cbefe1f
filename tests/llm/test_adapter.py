"""The adapter's logic, on the deterministic scripted backend."""

from __future__ import annotations

import json
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from pydantic import BaseModel, ConfigDict
from pytest_django.fixtures import Settings

from memoryapp.llm import (
    LLM,
    LLMError,
    LLMInvalidOutput,
    LLMRetryableError,
    LLMTimeout,
    Message,
    ModelLoadError,
    ModelNotFound,
    PromptTooLong,
    SchemaError,
    get_llm,
    llm_status,
    registry,
    set_backend_for_tests,
    use_backend,
)
from memoryapp.llm.adapter import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY
from memoryapp.llm.scripted import ScriptedBackend

HELLO: list[Message] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Say hello."},
]


class Fact(BaseModel):
    subject: str
    likes: bool


@pytest.fixture(autouse=True)
def _restore_process_llm() -> Iterator[None]:
    previous = registry._llm
    yield
    registry._llm = previous


def scripted_llm(*replies: str | Callable[[Sequence[Message]], str] | Exception) -> LLM:
    return LLM(ScriptedBackend(replies))


# --- stream and complete ------------------------------------------------------------------


def test_stream_yields_several_pieces_that_join_to_the_reply() -> None:
    llm = scripted_llm("Hello there, how are you today?")

    pieces = list(llm.stream(HELLO))

    assert len(pieces) > 1
    assert "".join(pieces) == "Hello there, how are you today?"


def test_reply_can_be_computed_from_the_messages() -> None:
    llm = scripted_llm(lambda messages: messages[-1]["content"].upper())

    assert llm.complete(HELLO).text == "SAY HELLO."


def test_complete_reports_tokens_finish_reason_and_usage() -> None:
    backend = ScriptedBackend(["Hello there."])
    llm = LLM(backend)

    completion = llm.complete(HELLO, max_tokens=50)

    expected_prompt = 3 + 3 + 2 * TOKENS_PER_MESSAGE + TOKENS_PER_REPLY
    assert completion.text == "Hello there."
    assert completion.finish_reason == "stop"
    assert completion.completion_tokens == 3
    assert completion.prompt_tokens == expected_prompt
    assert completion.seconds >= 0
    assert llm.last_usage == completion.usage


def test_stream_records_usage_once_it_ends() -> None:
    llm = scripted_llm("One two three.")

    for _piece in llm.stream(HELLO):
        pass

    assert llm.last_usage is not None
    assert llm.last_usage.completion_tokens == 4


def test_max_tokens_cuts_the_reply_and_reports_length() -> None:
    llm = scripted_llm("one two three four five six")

    completion = llm.complete(HELLO, max_tokens=3)

    assert completion.text == "one two three"
    assert completion.completion_tokens == 3
    assert completion.finish_reason == "length"


def test_max_tokens_defaults_to_the_setting(settings: Settings) -> None:
    settings.LLM_MAX_TOKENS = 7
    backend = ScriptedBackend(["ok"])

    LLM(backend).complete(HELLO)

    assert backend.calls[0].max_tokens == 7


@pytest.mark.parametrize("max_tokens", [0, -5])
def test_max_tokens_must_be_positive(max_tokens: int) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        scripted_llm("x").stream(HELLO, max_tokens=max_tokens)


def test_max_tokens_is_capped_by_the_context_size() -> None:
    backend = ScriptedBackend(["ok"], context_size=100)

    with pytest.raises(PromptTooLong):
        LLM(backend).complete(HELLO, max_tokens=10_000)

    assert backend.calls == []


def test_prompt_too_long_is_permanent_and_raised_before_calling_the_model() -> None:
    backend = ScriptedBackend(["never"], context_size=40)
    long_prompt: list[Message] = [{"role": "user", "content": "word " * 30}]

    with pytest.raises(PromptTooLong) as raised:
        LLM(backend).complete(long_prompt, max_tokens=10)

    assert raised.value.retryable is False
    assert raised.value.limit == 30
    assert backend.calls == []


def test_messages_are_checked() -> None:
    llm = scripted_llm("x")
    with pytest.raises(ValueError, match="empty"):
        llm.complete([])
    with pytest.raises(ValueError, match="not a chat message"):
        llm.complete([{"role": "robot", "content": "hi"}])  # type: ignore[typeddict-item]


# --- time limits, stopping, the lock ------------------------------------------------------


def test_timeout_yields_what_was_produced_then_raises() -> None:
    backend = ScriptedBackend(["a b c d e f g h i j k l m n o p"], delay=0.05)
    received: list[str] = []
    started = time.monotonic()

    with pytest.raises(LLMTimeout) as raised:
        for piece in LLM(backend).stream(HELLO, timeout=0.3):
            received.append(piece)

    assert time.monotonic() - started < 1.0
    assert 1 <= len(received) < 16
    assert raised.value.partial_text == "".join(received)
    assert raised.value.retryable is True


def test_complete_raises_timeout_with_the_partial_text() -> None:
    backend = ScriptedBackend(["a b c d e f g h"], delay=0.05)

    with pytest.raises(LLMTimeout) as raised:
        LLM(backend).complete(HELLO, timeout=0.12)

    assert raised.value.partial_text.startswith("a ")


def test_timeout_defaults_to_the_setting(settings: Settings) -> None:
    settings.LLM_TIMEOUT_SECONDS = 0.1
    backend = ScriptedBackend(["a b c d e f g h"], delay=0.05)

    with pytest.raises(LLMTimeout):
        LLM(backend).complete(HELLO)


def test_stop_event_ends_the_stream_quietly() -> None:
    backend = ScriptedBackend(["a b c d e f g h i j"], delay=0.01)
    stop = threading.Event()
    received: list[str] = []

    for piece in LLM(backend).stream(HELLO, stop_event=stop):
        received.append(piece)
        if len(received) == 2:
            stop.set()

    assert received == ["a ", "b "]


def test_complete_reports_stopped_when_stopped() -> None:
    stop = threading.Event()
    stop.set()

    completion = scripted_llm("a b c").complete(HELLO, stop_event=stop)

    assert completion.finish_reason == "stopped"


def test_closing_a_stream_early_frees_the_model() -> None:
    backend = ScriptedBackend(["a b c d e f g h i j", "second"], delay=0.02)
    llm = LLM(backend)
    stream = llm.stream(HELLO)

    next(stream)
    stream.close()

    assert not llm._lock.locked()
    assert llm.complete(HELLO, timeout=1).text == "second"


def test_calls_wait_for_the_model_and_time_out_if_it_stays_busy() -> None:
    backend = ScriptedBackend(["a b c d e f g h i j", "never"], delay=0.05)
    llm = LLM(backend)
    stream = llm.stream(HELLO)
    next(stream)  # the first generation now holds the model

    with pytest.raises(LLMTimeout):
        llm.complete(HELLO, timeout=0.1)
    stream.close()


def test_concurrent_calls_use_the_model_one_at_a_time() -> None:
    active, most = 0, 0
    guard = threading.Lock()

    def reply(messages: Sequence[Message]) -> str:
        nonlocal active, most
        with guard:
            active += 1
            most = max(most, active)
        time.sleep(0.02)
        with guard:
            active -= 1
        return "done"

    llm = LLM(ScriptedBackend([reply] * 4))
    threads = [threading.Thread(target=llm.complete, args=(HELLO,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert most == 1
    assert not llm._lock.locked()


# --- errors from the backend --------------------------------------------------------------


def test_backend_errors_keep_their_type() -> None:
    llm = scripted_llm(ModelNotFound("gone"))

    with pytest.raises(ModelNotFound):
        llm.complete(HELLO)


def test_unexpected_backend_errors_become_retryable() -> None:
    llm = scripted_llm(RuntimeError("hiccup"))

    with pytest.raises(LLMRetryableError, match="hiccup") as raised:
        llm.complete(HELLO)

    assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_failed_load_is_reported_in_the_status_and_retried() -> None:
    backend = ScriptedBackend(["ok"], load_error=RuntimeError("bad file"))
    llm = LLM(backend)

    with pytest.raises(ModelLoadError, match="bad file"):
        llm.complete(HELLO)
    status = llm.status()
    backend.load_error = None

    assert status["state"] == "failed"
    assert "bad file" in status["error"]
    assert llm.complete(HELLO).text == "ok"
    assert llm.status()["state"] == "loaded"


@pytest.mark.parametrize(
    "error",
    [
        LLMTimeout("slow", seconds=2.0, partial_text="so far"),
        LLMInvalidOutput("bad", raw_output="{", error="EOF", attempts=3),
        PromptTooLong("long", prompt_tokens=5000, limit=4000),
    ],
)
def test_errors_survive_pickling(error: LLMError) -> None:
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 (our own bytes)

    assert type(copy) is type(error)
    assert vars(copy) == vars(error)
    assert str(copy) == str(error)


# --- complete_json ------------------------------------------------------------------------


def test_complete_json_returns_a_validated_instance_and_sends_the_schema() -> None:
    backend = ScriptedBackend(['{"subject": "Alice", "likes": true}'])

    fact = LLM(backend).complete_json(HELLO, Fact)

    assert fact == Fact(subject="Alice", likes=True)
    assert backend.calls[0].json_schema == Fact.model_json_schema()


def test_complete_json_retries_invalid_output_with_another_seed() -> None:
    backend = ScriptedBackend(['{"subject": "Alice"}', '{"subject": "Alice", "likes": false}'])
    llm = LLM(backend)

    fact = llm.complete_json(HELLO, Fact, attempts=3)

    assert fact.likes is False
    assert len(backend.calls) == 2
    assert backend.calls[0].seed != backend.calls[1].seed
    assert llm.last_usage is not None
    assert llm.last_usage.completion_tokens == 9 + 15


def test_complete_json_raises_invalid_output_with_the_last_raw_output() -> None:
    backend = ScriptedBackend(["not json", '{"subject": 3}'])

    with pytest.raises(LLMInvalidOutput) as raised:
        LLM(backend).complete_json(HELLO, Fact, attempts=2)

    assert raised.value.raw_output == '{"subject": 3}'
    assert "likes" in raised.value.error
    assert raised.value.attempts == 2
    assert raised.value.retryable is True


def test_attempts_default_to_the_setting(settings: Settings) -> None:
    settings.LLM_JSON_ATTEMPTS = 1
    backend = ScriptedBackend(["nope", '{"subject": "A", "likes": true}'])

    with pytest.raises(LLMInvalidOutput):
        LLM(backend).complete_json(HELLO, Fact)

    assert len(backend.calls) == 1


def test_truncated_json_counts_as_invalid() -> None:
    # Valid JSON, but cut off by max_tokens: it may be a prefix of something else.
    backend = ScriptedBackend(['{"subject": "A", "likes": true} trailing words'])

    with pytest.raises(LLMInvalidOutput, match="cut off") as raised:
        LLM(backend).complete_json(HELLO, Fact, max_tokens=15, attempts=1)

    assert raised.value.raw_output == '{"subject": "A", "likes": true}'


def test_complete_json_timeout_covers_all_attempts() -> None:
    backend = ScriptedBackend(["not json at all"] * 5, delay=0.02)

    with pytest.raises(LLMTimeout):
        LLM(backend).complete_json(HELLO, Fact, attempts=5, timeout=0.15)

    assert len(backend.calls) < 5


def test_a_schema_without_json_schema_is_a_permanent_schema_error() -> None:
    class Handler(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)
        callback: Callable[[], int]

    backend = ScriptedBackend(["{}"])

    with pytest.raises(SchemaError) as raised:
        LLM(backend).complete_json(HELLO, Handler)

    assert raised.value.retryable is False
    assert backend.calls == []


# --- tokens, info, the process's LLM ------------------------------------------------------


def test_count_tokens_uses_the_backend_tokenizer() -> None:
    llm = scripted_llm()

    assert llm.count_tokens("Hello, world!") == 4
    assert llm.count_message_tokens(HELLO) == 6 + 2 * TOKENS_PER_MESSAGE + TOKENS_PER_REPLY


def test_info_describes_the_backend_model() -> None:
    info = LLM(ScriptedBackend(context_size=512)).info

    assert (info.source, info.is_demo, info.context_size) == ("scripted", False, 512)


def test_get_llm_returns_one_llm_per_process() -> None:
    set_backend_for_tests(None)

    assert get_llm() is get_llm()


def test_use_backend_swaps_the_process_llm_and_restores_it() -> None:
    before = get_llm()

    with use_backend(ScriptedBackend(["scripted reply"])) as llm:
        assert get_llm() is llm
        assert get_llm().complete(HELLO).text == "scripted reply"

    assert get_llm() is before


def test_llm_status_loads_nothing_and_is_json(settings: Settings) -> None:
    settings.LLM_MODEL_PATH = "/nowhere/model.gguf"
    set_backend_for_tests(None)

    status = json.loads(json.dumps(llm_status()))

    assert status == {
        "state": "not_loaded",
        "model": "model.gguf",
        "path": "/nowhere/model.gguf",
        "source": "path",
        "demo": False,
        "context_size": settings.LLM_CONTEXT_SIZE,
        "gpu_layers": settings.LLM_GPU_LAYERS,
        "error": None,
    }


def test_llm_status_follows_the_model_state() -> None:
    backend = ScriptedBackend(["ok"])
    set_backend_for_tests(backend)

    assert llm_status()["state"] == "not_loaded"
    get_llm().complete(HELLO)

    assert llm_status()["state"] == "loaded"
    assert llm_status()["source"] == "scripted"
