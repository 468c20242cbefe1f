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


Title = Annotated[str, Field(min_length=2), AfterValidator(_clip(80))]
Sentence = Annotated[str, Field(min_length=3), AfterValidator(_clip(300))]
Paragraph = Annotated[str, Field(min_length=10), AfterValidator(_clip(1200))]
Passage = Annotated[str, Field(min_length=10), AfterValidator(_clip(4000))]
