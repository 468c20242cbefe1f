"""Continuing an answer cut at the token cap: the prompt that asks the model for the rest, and
joining the rest to what was already written (pure helpers, used by the answer job)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from memoryapp.llm import Message as PromptMessage
from memoryapp.llm.prompting import render_prompt
from memoryapp.retrieval import AnswerContext
from memoryapp.services.chat_prompt import (
    PER_MESSAGE_OVERHEAD_TOKENS,
    ChatPrompt,
    chat_prompt_build,
    pack_recent_turns,
)

CONTINUE_PROMPT = "answer_continue.txt"
# The model is shown the end of its cut answer: at most this share of the recent-turns
# budget (the rest keeps the conversation before it) and of the answer's own token cap (a
# model that starts over, repeating what it was shown, still has room for new text).
PARTIAL_SHARE = 0.5
# A continuation that begins by repeating at least this many of the last words written (up
# to all of them: small models often start the whole answer over) is trimmed of them.
MIN_OVERLAP_WORDS = 4
_NO_SPACE_BEFORE = frozenset(".,;:!?)]}%…'\"\u2019\u201d")
_WORD = re.compile(r"\S+")


def continuation_prompt_build(
    *,
    context: AnswerContext,
    partial: str,
    history_tokens: int,
    answer_tokens: int,
    room: int,
    count_tokens: Callable[[str], int],
) -> ChatPrompt:
    """The answer's own prompt (same memory, same recent turns) followed by the cut answer
    (its end, when long) and the request to continue it; within the same token budgets
    (`chat_prompt_build`). `answer_tokens` is the cap on the continuation."""
    request: PromptMessage = {"role": "user", "content": render_prompt(CONTINUE_PROMPT, {})}
    [tail] = pack_recent_turns(
        [{"role": "assistant", "content": partial}],
        budget=int(min(history_tokens, answer_tokens) * PARTIAL_SHARE),
        count_tokens=count_tokens,
    )
    used = sum(count_tokens(m["content"]) + PER_MESSAGE_OVERHEAD_TOKENS for m in (tail, request))
    prompt = chat_prompt_build(
        context=context,
        history_tokens=max(history_tokens - used, 0),
        room=room,
        reserved=used,
        count_tokens=count_tokens,
    )
    return replace(prompt, messages=[*prompt.messages, tail, request])


def continuation_join(earlier: str, more: str) -> str:
    """`earlier` followed by the new part of the model's continuation `more`
    (`continuation_rest`).

    A space goes between them when neither side has one and the new part does not begin
    with closing punctuation: chat templates drop a reply's leading space, so a continuation
    that starts a new word arrives without it (one that finishes a word cut in half gets a
    space too; the text cannot tell the two apart).
    """
    more = continuation_rest(earlier, more, final=True)
    if not earlier or not more or earlier[-1].isspace() or more[0].isspace():
        return earlier + more
    if more[0] in _NO_SPACE_BEFORE:
        return earlier + more
    return f"{earlier} {more}"


def continuation_rest(earlier: str, more: str, *, final: bool) -> str:
    """What `more` adds to `earlier`: `more` without the words at its start that repeat the
    last words of `earlier`. While the model is still writing (not `final`), nothing as long
    as what it wrote so far may turn out to be such a repeat, so that only new text is shown.
    """
    end = _repeat_end(earlier.split(), list(_WORD.finditer(more)), final=final)
    return "" if end is None else more[end:]


def _repeat_end(earlier: list[str], spans: list[re.Match[str]], *, final: bool) -> int | None:
    """Where the repeat at the start of the continuation ends (0: no repeat), or None while
    it may still be one. The longest repeat wins: `earlier` is tried from its start."""
    words = [span.group() for span in spans]
    if not words:
        return 0 if final else None
    for start, word in enumerate(earlier):
        if word != words[0] and not (len(words) == 1 and not final and word.startswith(words[0])):
            continue
        suffix = earlier[start:]
        if len(words) >= len(suffix) >= MIN_OVERLAP_WORDS and words[: len(suffix)] == suffix:
            return spans[len(suffix) - 1].end()
        if not final and len(words) <= len(suffix) and _begins(suffix, words):
            return None
    return 0


def _begins(suffix: list[str], words: list[str]) -> bool:
    """`words` (whose last one may be half-written) begin `suffix`."""
    return words[:-1] == suffix[: len(words) - 1] and suffix[len(words) - 1].startswith(words[-1])
