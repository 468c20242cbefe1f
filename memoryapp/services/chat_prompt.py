"""Assembling the chat prompt: system prompt, remembered context and recent turns, counted
with the model's tokenizer so that the whole prompt fits the context window."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from django.utils import timezone

from memoryapp.llm import Message as PromptMessage
from memoryapp.llm import PromptTooLong
from memoryapp.llm.adapter import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY
from memoryapp.llm.prompting import render_prompt
from memoryapp.models import Message
from memoryapp.retrieval import AnswerContext
from memoryapp.text import LONG_WORD_CHARS, tail_within

logger = logging.getLogger(__name__)

# Chat-template tokens around each message and before the reply: the adapter's estimates, so
# that a prompt built to fit passes the adapter's check.
PER_MESSAGE_OVERHEAD_TOKENS = TOKENS_PER_MESSAGE
REPLY_OVERHEAD_TOKENS = TOKENS_PER_REPLY
# A question over its room is shown cut, but not to fewer tokens than this: too little would
# be left to answer.
MIN_QUESTION_TOKENS = 64
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class QuestionCut:
    """A question too long for the prompt, shown by its end: its tokens shown and in all."""

    shown_tokens: int
    tokens: int


@dataclass(frozen=True)
class ChatPrompt:
    """The messages for the model, and the context they show: its memory units that fitted
    (renumbered) and its profile if it fitted; and, when its question had to be cut, how
    much of it is shown."""

    messages: list[PromptMessage]
    context: AnswerContext
    question_cut: QuestionCut | None = None


def pack_recent_turns(
    turns: Sequence[PromptMessage], *, budget: int, count_tokens: Callable[[str], int]
) -> list[PromptMessage]:
    """The newest turns whose tokens fit in `budget`, oldest first.

    The newest turn is always kept (cut from its start if alone it is over budget), so the
    question being answered is never dropped.
    """
    packed: list[PromptMessage] = []
    used = 0
    for turn in reversed(turns):
        cost = count_tokens(turn["content"]) + PER_MESSAGE_OVERHEAD_TOKENS
        if used + cost > budget:
            if not packed:
                packed.append(_tail_within(turn, budget, count_tokens))
            break
        packed.append(turn)
        used += cost
    return list(reversed(packed))


def _tail_within(
    turn: PromptMessage, budget: int, count_tokens: Callable[[str], int]
) -> PromptMessage:
    """The turn's longest end that fits `budget`, starting at a word unless the cut falls in
    a word too long to lose (a URL, text without spaces)."""
    text, room = turn["content"], budget - PER_MESSAGE_OVERHEAD_TOKENS
    tail = tail_within(text, room, count_tokens)
    cut = len(text) - len(tail)
    space = _SPACE.search(tail, 0, LONG_WORD_CHARS) if cut and not text[cut - 1].isspace() else None
    # A shorter text may yet count more tokens: it is measured again.
    if space is not None and count_tokens(tail[space.end() :]) <= room:
        tail = tail[space.end() :]
    return {"role": turn["role"], "content": tail}


def _as_prompt_turn(message: Message) -> PromptMessage:
    if message.role == Message.Role.ASSISTANT:
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}


def chat_prompt_build(
    *,
    context: AnswerContext,
    history_tokens: int,
    room: int,
    count_tokens: Callable[[str], int],
    reserved: int = 0,
) -> ChatPrompt:
    """The messages sent to the model for an answer: the system prompt (with what is
    remembered) followed by the recent turns that fit in `history_tokens`; in all at most
    `room` tokens (`prompting.prompt_room`) less `reserved` (messages the caller adds), counted by
    `count_tokens` the way the adapter counts a prompt.

    The recent turns are packed first (a long question is cut from its start); then the
    profile, if it fits, and the memory units that fit, best first. Raises `PromptTooLong`,
    with a message for the person, when the question does not fit whole and there is room
    for less than MIN_QUESTION_TOKENS of it.
    """
    today = timezone.localdate().strftime("%A %d %B %Y")
    free = room - reserved - REPLY_OVERHEAD_TOKENS
    bare = _system(today, AnswerContext(turns=[]))
    turns = [_as_prompt_turn(turn) for turn in context.turns]
    after_system = free - _cost(bare, count_tokens)
    if after_system < MIN_QUESTION_TOKENS + PER_MESSAGE_OVERHEAD_TOKENS:
        raise PromptTooLong(
            f"The model's context window leaves room for about {room} tokens of prompt, and "
            "its instructions alone take most of that: raise LLM_CONTEXT_SIZE or lower "
            "CHAT_ANSWER_MAX_TOKENS.",
            prompt_tokens=room - after_system,
            limit=room,
        )
    turns_room = min(history_tokens, after_system)
    if turns and turns_room < MIN_QUESTION_TOKENS + PER_MESSAGE_OVERHEAD_TOKENS:
        question = _cost(turns[-1], count_tokens)
        if question > turns_room:
            raise PromptTooLong(
                f"This message is too long for the model: it is about {question} tokens, and "
                f"there is room for {max(turns_room - PER_MESSAGE_OVERHEAD_TOKENS, 0)}. "
                "Please send a shorter message.",
                prompt_tokens=question,
                limit=turns_room,
            )
    packed = pack_recent_turns(turns, budget=turns_room, count_tokens=count_tokens)
    left = free - sum(_cost(turn, count_tokens) for turn in packed)
    system, shown = _system_within(context, today, left, count_tokens)
    return ChatPrompt([system, *packed], shown, _question_cut(turns, packed, count_tokens))


def _question_cut(
    turns: list[PromptMessage], packed: list[PromptMessage], count_tokens: Callable[[str], int]
) -> QuestionCut | None:
    """How much of the question (the newest turn) `packed` shows, when it is not all."""
    if not turns or packed[-1]["content"] == turns[-1]["content"]:
        return None
    return QuestionCut(count_tokens(packed[-1]["content"]), count_tokens(turns[-1]["content"]))


def _system(today: str, context: AnswerContext) -> PromptMessage:
    content = render_prompt(
        "system_chat.txt",
        {"today": today, "memories": context.memories, "profile": context.profile},
    )
    return {"role": "system", "content": content}


def _cost(message: PromptMessage, count_tokens: Callable[[str], int]) -> int:
    return count_tokens(message["content"]) + PER_MESSAGE_OVERHEAD_TOKENS


def _system_within(
    context: AnswerContext, today: str, room: int, count_tokens: Callable[[str], int]
) -> tuple[PromptMessage, AnswerContext]:
    """The system prompt with the context's profile and memory units, or, when that is over
    `room` tokens, with the profile if it fits and the units that fit (best first,
    renumbered), and the context it shows."""
    system = _system(today, context)
    if _cost(system, count_tokens) <= room:
        return system, context

    def fits(candidate: AnswerContext) -> bool:
        return _cost(_system(today, candidate), count_tokens) <= room

    # The bare system prompt always fits: `chat_prompt_build` refused the prompt otherwise.
    shown = replace(context, units=[])
    if not fits(shown):
        shown = replace(shown, profile="")
    for unit in context.units:
        number = len(shown.units) + 1
        candidate = replace(shown, units=[*shown.units, replace(unit, number=number)])
        if fits(candidate):
            shown = candidate
    logger.info(
        "the prompt shows %d of %d memory units%s",
        len(shown.units),
        len(context.units),
        "" if shown.profile == context.profile else " and no profile",
    )
    return _system(today, shown), shown
