"""String types for response schemas whose length is enforced after parsing, not in the grammar.

llama.cpp expands a JSON-schema `maxLength` into that many repetitions of a grammar rule and
refuses (or, in some versions, crashes on) long ones, so long texts are clipped by pydantic
instead; the call's `max_tokens` bounds what the model can write anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, Field


def _clip(max_chars: int) -> Callable[[str], str]:
    def clip(text: str) -> str:
        return " ".join(text.split())[:max_chars] if "\n" not in text else text.strip()[:max_chars]

    return clip


# A sentence's bounds, also those of a fact the person writes themselves.
SENTENCE_MIN_CHARS = 3
SENTENCE_MAX_CHARS = 300

Title = Annotated[str, Field(min_length=2), AfterValidator(_clip(80))]
Sentence = Annotated[
    str, Field(min_length=SENTENCE_MIN_CHARS), AfterValidator(_clip(SENTENCE_MAX_CHARS))
]
Paragraph = Annotated[str, Field(min_length=10), AfterValidator(_clip(1200))]
Passage = Annotated[str, Field(min_length=10), AfterValidator(_clip(4000))]
