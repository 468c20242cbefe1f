"""Assembling the chat prompt: system prompt, remembered context, recent turns by token count."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils import timezone

from memoryapp.llm import Message as PromptMessage
from memoryapp.llm.prompting import render_prompt
from memoryapp.models import Message
from memoryapp.retrieval import AnswerContext

# Chat-template tokens around each message (role markers, separators); an estimate.
PER_MESSAGE_OVERHEAD_TOKENS = 5


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
    words = turn["content"].split(" ")
    while len(words) > 1 and count_tokens(" ".join(words)) + PER_MESSAGE_OVERHEAD_TOKENS > budget:
        words = words[len(words) // 4 or 1 :]
    return {"role": turn["role"], "content": " ".join(words)}


def _as_prompt_turn(message: Message) -> PromptMessage:
    if message.role == Message.Role.ASSISTANT:
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}


def chat_prompt_build(
    *, context: AnswerContext, history_tokens: int, count_tokens: Callable[[str], int]
) -> list[PromptMessage]:
    """The messages sent to the model for an answer: system prompt (with what is remembered)
    followed by the recent turns that fit in `history_tokens`."""
    system = render_prompt(
        "system_chat.txt",
        {
            "today": timezone.localdate().strftime("%A %d %B %Y"),
            "memories": context.memories,
            "profile": context.profile,
        },
    )
    turns = pack_recent_turns(
        [_as_prompt_turn(turn) for turn in context.turns],
        budget=history_tokens,
        count_tokens=count_tokens,
    )
    return [{"role": "system", "content": system}, *turns]
