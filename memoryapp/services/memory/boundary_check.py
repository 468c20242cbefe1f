"""The optional LLM check of topic boundaries: "does this turn continue the topic?".

Boundaries come from embeddings and time gaps, which work with any model; a capable model
may veto a proposed boundary. Time-gap boundaries (a new day) are never vetoed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pydantic
from django.conf import settings

from memoryapp import segmentation
from memoryapp.llm import LLMError
from memoryapp.llm.prompting import Shown, prompt_within, render_prompt
from memoryapp.services.memory.model_access import MemoryModel

logger = logging.getLogger(__name__)

CONTEXT_TURNS = 4
# The start of a turn tells its topic: no more of each is shown.
TURN_MAX_TOKENS = 160
ANSWER_MAX_TOKENS = 12


class Continuation(pydantic.BaseModel):
    continues: bool


def _continues(
    before: Sequence[segmentation.Turn], turn: segmentation.Turn, model: MemoryModel
) -> bool:
    def render(shown: Shown) -> str:
        *earlier, (_, last) = shown
        return render_prompt(
            "boundary_check.txt", {"before": [text for _, text in earlier], "turn": last}
        )

    prompt = prompt_within(
        model.active,
        [*(t.text for t in before), turn.text],
        render=render,
        max_tokens=ANSWER_MAX_TOKENS,
        droppable=range(len(before)),  # the oldest first, never the turn itself
        limit=TURN_MAX_TOKENS,
    )
    answer = model.json(
        [{"role": "user", "content": prompt.text}], Continuation, max_tokens=ANSWER_MAX_TOKENS
    )
    return answer.continues


def confirm_boundaries(
    turns: Sequence[segmentation.Turn], decided: list[bool], *, offset: int
) -> list[bool]:
    """`decided` with boundaries after position `offset` that a capable model says do not
    start a new topic removed; unchanged when the check is off or the model is not capable."""
    if not settings.MEMORY_LLM_BOUNDARY_CHECK or not any(decided[offset:]):
        return decided
    model = MemoryModel.for_memory()
    if not model.enabled:
        return decided
    confirmed = list(decided)
    for i in range(offset, len(decided) - 1):
        if not decided[i] or segmentation.is_time_gap(turns[i], turns[i + 1]):
            continue
        try:
            if _continues(turns[max(0, i - CONTEXT_TURNS + 1) : i + 1], turns[i + 1], model):
                confirmed[i] = False
        except LLMError as exc:
            logger.info("boundary check skipped: %s", exc)
    return confirmed
