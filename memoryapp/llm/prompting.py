"""Prompts are Django templates in `memoryapp/llm/prompts/`, rendered as plain text, and
fitted to the model's context window (`prompt_within`)."""

from __future__ import annotations

import functools
import logging
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.template import Context, Engine

from memoryapp.llm.adapter import LLM, TOKENS_PER_MESSAGE, TOKENS_PER_REPLY
from memoryapp.llm.errors import PromptTooLong
from memoryapp.text import head_within

logger = logging.getLogger(__name__)

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"
# Django prints this for a variable the context lacks; render_prompt turns it into an error
# instead of letting a prompt go out with a silent gap.
_MISSING = "\x00missing:%s\x00"


def render_prompt(name: str, context: dict[str, Any]) -> str:
    """Render `prompts/<name>` with autoescape off, stripped of surrounding whitespace.

    Raises `TemplateDoesNotExist` for an unknown name and `ValueError` when the template
    prints a variable that `context` does not have (`{% if %}` on one is fine).
    """
    text = _engine().get_template(name).render(Context(context, autoescape=False))
    if "\x00missing:" in text:
        missing = text.split("\x00missing:", 1)[1].split("\x00", 1)[0]
        raise ValueError(f"Prompt {name!r} needs {missing!r}, which the context lacks")
    return text.strip()


@functools.cache
def _engine() -> Engine:
    return Engine(
        dirs=[str(PROMPTS_DIR)],
        autoescape=False,
        string_if_invalid=_MISSING,
    )


# A part cut to fewer tokens than this says too little: parts are left out instead.
MIN_PART_TOKENS = 32
CUT_MARK = "…"
# The parts shown: (index among the parts given, text as shown, cut if it had to be).
Shown = Sequence[tuple[int, str]]


@dataclass(frozen=True)
class FittedPrompt:
    text: str
    shown: list[tuple[int, str]]

    @property
    def kept(self) -> list[int]:
        """The indexes of the parts shown, in order."""
        return [index for index, _ in self.shown]


def prompt_room(*, context_size: int, answer_tokens: int) -> int:
    """The tokens a prompt may have: the context window less the answer's cap."""
    return context_size - min(answer_tokens, context_size)


def one_message_room(*, context_size: int, max_tokens: int) -> int:
    """The tokens a prompt of one message may have so that the adapter leaves `max_tokens`
    for the reply (it counts the chat template's tokens as TOKENS_PER_MESSAGE and
    TOKENS_PER_REPLY)."""
    room = prompt_room(context_size=context_size, answer_tokens=max_tokens)
    return room - TOKENS_PER_MESSAGE - TOKENS_PER_REPLY


def prompt_within(
    llm: LLM,
    parts: Sequence[str],
    *,
    render: Callable[[Shown], str],
    max_tokens: int,
    droppable: Iterable[int] | None = None,
    limit: int | None = None,
) -> FittedPrompt:
    """`parts_within` for a one-message prompt to `llm` that leaves `max_tokens` for the
    reply, counted with the model's tokenizer."""
    room = one_message_room(context_size=llm.load().context_size, max_tokens=max_tokens)
    return parts_within(
        parts,
        render=render,
        room=room,
        count_tokens=llm.count_tokens,
        droppable=droppable,
        limit=limit,
    )


def parts_within(
    parts: Sequence[str],
    *,
    render: Callable[[Shown], str],
    room: int,
    count_tokens: Callable[[str], int],
    droppable: Iterable[int] | None = None,
    limit: int | None = None,
) -> FittedPrompt:
    """The prompt `render` makes of `parts` (the variable texts: turns, facts...) in at most
    `room` tokens by `count_tokens`.

    Parts that fit are shown whole; when they do not, the longest are cut to their start
    (between characters, marked CUT_MARK) to an equal share of the room; each is cut to
    `limit` tokens anyway. When the share would be under MIN_PART_TOKENS, parts are left
    out first, in the order of `droppable` (default: every part, from the first, the
    oldest); the others are only cut. `render` receives the parts shown, (index, text), in
    order. Raises `PromptTooLong` when even the prompt without its parts is over `room`.
    """
    whole = [count_tokens(part) for part in parts]
    costs = whole if limit is None else [min(cost, limit) for cost in whole]
    kept = list(range(len(parts)))
    to_drop = deque(range(len(parts)) if droppable is None else droppable)
    mark = count_tokens(CUT_MARK)
    # What joining the parts adds to their separate counts, learned from each try.
    slack = 0
    while True:
        budget = room - slack - count_tokens(render([(index, "") for index in kept]))
        share = _share([costs[index] for index in kept], budget)
        if share < MIN_PART_TOKENS and to_drop:
            kept.remove(to_drop.popleft())
            continue
        if budget < 0:
            raise PromptTooLong(
                f"The prompt needs more than the {room} tokens it has, without any of its parts.",
                limit=room,
            )
        most = share if limit is None else min(share, limit)
        shown = [
            (i, parts[i] if whole[i] <= most else _cut(parts[i], most, mark, count_tokens))
            for i in kept
        ]
        text = render(shown)
        total = count_tokens(text)
        if total <= room:
            _log_fit(parts, shown, total)
            return FittedPrompt(text, shown)
        slack += total - room


def _log_fit(parts: Sequence[str], shown: Shown, total: int) -> None:
    cut = sum(text != parts[index] for index, text in shown)
    if cut or len(shown) < len(parts):
        logger.info(
            "the prompt (%d tokens) shows %d of %d parts, %d of them cut",
            total, len(shown), len(parts), cut,
        )  # fmt: skip


def _share(costs: list[int], budget: int) -> int:
    """The most tokens each part may have so that all fit in `budget` (the longest cut to it,
    the others whole); `budget` itself when all fit whole."""
    if sum(costs) <= budget:
        return budget
    left = budget
    for seen, cost in enumerate(sorted(costs)):
        others = len(costs) - seen
        if cost * others > left:
            return left // others
        left -= cost
    return left  # not reached: the costs are over the budget


def _cut(text: str, most: int, mark: int, count_tokens: Callable[[str], int]) -> str:
    """The start of `text` and the cut mark, in at most `most` tokens."""
    if most <= mark:
        return ""
    return head_within(text, most - mark, count_tokens) + CUT_MARK
