"""Continuing an answer cut at the token cap: the prompt that asks the model for the rest, and
joining the rest to what was already written (pure helpers, used by the answer job)."""

from __future__ import annotations

import re
from collections.abc import Callable

from memoryapp.llm import Message as PromptMessage
from memoryapp.llm.prompting import render_prompt
from memoryapp.retrieval import AnswerContext
from memoryapp.services.chat_prompt import (
    PER_MESSAGE_OVERHEAD_TOKENS,
    chat_prompt_build,
    pack_recent_turns,
)

CONTINUE_PROMPT = "answer_continue.txt"
# At most this share of the recent-turns budget shows the model the end of its cut answer
# (enough to pick up the thread); the rest of the budget keeps the conversation before it.
PARTIAL_SHARE = 0.5
# A continuation that begins by repeating at least this many of the last words written is
# trimmed of them (small models often restart the sentence they were cut in).
MIN_OVERLAP_WORDS = 4
MAX_OVERLAP_WORDS = 40
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%…'\"\u2019\u201d")
_WORD = re.compile(r"\S+")


def continuation_prompt_build(
    *,
    context: AnswerContext,
    partial: str,
    history_tokens: int,
    count_tokens: Callable[[str], int],
) -> list[PromptMessage]:
    """The answer's own prompt (same memory, same recent turns) followed by the cut answer
    (its end, when long) and the request to continue it; within the same token budget."""
    instruction = render_prompt(CONTINUE_PROMPT, {})
    [tail] = pack_recent_turns(
        [{"role": "assistant", "content": partial}],
        budget=int(history_tokens * PARTIAL_SHARE),
        count_tokens=count_tokens,
    )
    used = (
        count_tokens(tail["content"]) + count_tokens(instruction) + 2 * PER_MESSAGE_OVERHEAD_TOKENS
    )
    prompt = chat_prompt_build(
        context=context, history_tokens=max(history_tokens - used, 0), count_tokens=count_tokens
    )
    return [*prompt, tail, {"role": "user", "content": instruction}]


def continuation_join(earlier: str, more: str) -> str:
    """`earlier` followed by the model's continuation `more`.

    Words at the start of `more` that repeat the last words of `earlier` are dropped. A
    space goes between them when neither side has one and `more` does not begin with closing
    punctuation: chat templates drop a reply's leading space, so a continuation that starts
    a new word arrives without it (one that finishes a word cut in half gets a space too;
    the text cannot tell the two apart).
    """
    more = _without_overlap(earlier, more)
    if not earlier or not more or earlier[-1].isspace() or more[0].isspace():
        return earlier + more
    if more[0] in _NO_SPACE_BEFORE:
        return earlier + more
    return f"{earlier} {more}"


def _without_overlap(earlier: str, more: str) -> str:
    """`more` without the words at its start that repeat the last words of `earlier`."""
    tail = earlier.split()[-MAX_OVERLAP_WORDS:]
    head = list(_WORD.finditer(more))[:MAX_OVERLAP_WORDS]
    words = [match.group() for match in head]
    for size in range(min(len(tail), len(words)), MIN_OVERLAP_WORDS - 1, -1):
        if tail[-size:] == words[:size]:
            return more[head[size - 1].end() :]
    return more
