from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from memoryapp.llm import Message as PromptMessage
from memoryapp.llm import PromptTooLong
from memoryapp.llm.prompting import prompt_room
from memoryapp.models import Message
from memoryapp.retrieval import AnswerContext, ContextUnit
from memoryapp.services.chat_prompt import (
    PER_MESSAGE_OVERHEAD_TOKENS,
    REPLY_OVERHEAD_TOKENS,
    QuestionCut,
    chat_prompt_build,
    pack_recent_turns,
)
from tests.support.long_messages import LONG_MESSAGES, RUN_OF_ONE_LETTER, utf8_bytes

# The demo model's context window less the answer's default cap.
ROOM = prompt_room(context_size=4096, answer_tokens=512)


def count_words(text: str) -> int:
    return len(text.split())


def turn(role: str, words: int, tag: str) -> PromptMessage:
    return {"role": "user" if role == "user" else "assistant", "content": f"{tag} " * words}


def test_packing_keeps_the_newest_turns_that_fit_oldest_first() -> None:
    turns = [turn("user", 10, f"t{i}") for i in range(6)]
    per_turn = 10 + PER_MESSAGE_OVERHEAD_TOKENS

    packed = pack_recent_turns(turns, budget=3 * per_turn + 1, count_tokens=count_words)

    assert [t["content"].split()[0] for t in packed] == ["t3", "t4", "t5"]


def test_packing_never_exceeds_the_budget() -> None:
    turns = [turn("user", n, f"t{n}") for n in (3, 50, 7, 20, 1)]
    for budget in range(10, 120, 7):
        packed = pack_recent_turns(turns, budget=budget, count_tokens=count_words)
        used = sum(count_words(t["content"]) + PER_MESSAGE_OVERHEAD_TOKENS for t in packed)
        assert used <= budget


def test_an_oversized_newest_turn_is_cut_not_dropped() -> None:
    long_question: PromptMessage = {
        "role": "user",
        "content": " ".join(f"w{i}" for i in range(400)),
    }

    packed = pack_recent_turns([long_question], budget=50, count_tokens=count_words)

    assert len(packed) == 1
    assert count_words(packed[0]["content"]) + PER_MESSAGE_OVERHEAD_TOKENS <= 50
    assert packed[0]["content"].endswith("w399")  # the end of the question is kept


def unit(number: int, text: str) -> ContextUnit:
    return ContextUnit(
        number=number,
        kind="fact",
        text=text,
        message_ids=(),
        score=1.0,
        tokens=len(text.split()),
        ref_id=uuid.uuid4(),
    )


def said(content: str, role: str = Message.Role.USER) -> Message:
    return Message(role=role, content=content)


def prompt_tokens(messages: list[PromptMessage], count_tokens: Callable[[str], int]) -> int:
    """What the adapter counts before it refuses a prompt."""
    content = sum(count_tokens(m["content"]) + PER_MESSAGE_OVERHEAD_TOKENS for m in messages)
    return content + REPLY_OVERHEAD_TOKENS


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_newest_turn_without_spaces_is_cut_to_its_end_within_the_budget(content: str) -> None:
    (question,) = pack_recent_turns(
        [{"role": "user", "content": content}], budget=2048, count_tokens=utf8_bytes
    )

    shown = question["content"]
    assert utf8_bytes(shown) + PER_MESSAGE_OVERHEAD_TOKENS <= 2048
    assert utf8_bytes(shown) > 2048 - PER_MESSAGE_OVERHEAD_TOKENS - 3  # not cut to less
    assert content.endswith(shown)


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_no_prompt_exceeds_the_room_whatever_its_memory_turns_and_question(content: str) -> None:
    context = AnswerContext(
        turns=[said(content), said("Nice.", Message.Role.ASSISTANT), said(content)],
        units=[unit(1, "Fact: Has a dog named Pixel"), unit(2, content), unit(3, content)],
        profile=content,
    )

    prompt = chat_prompt_build(
        context=context, history_tokens=2048, room=ROOM, count_tokens=utf8_bytes
    )

    assert prompt_tokens(prompt.messages, utf8_bytes) <= ROOM
    assert prompt.messages[-1]["role"] == "user"
    assert content.endswith(prompt.messages[-1]["content"])


def test_memory_that_does_not_fit_is_left_out_and_the_rest_renumbered() -> None:
    context = AnswerContext(
        turns=[said("What is my dog called?")],
        units=[
            unit(1, "Fact: Has a dog named Pixel"),
            unit(2, RUN_OF_ONE_LETTER),
            unit(3, "Fact: Lives in Porto"),
        ],
        profile="Alice, a nurse.",
    )

    prompt = chat_prompt_build(
        context=context, history_tokens=2048, room=ROOM, count_tokens=utf8_bytes
    )

    assert [(u.number, u.text) for u in prompt.context.units] == [
        (1, "Fact: Has a dog named Pixel"),
        (2, "Fact: Lives in Porto"),
    ]
    system = prompt.messages[0]["content"]
    assert "[2] Fact: Lives in Porto" in system and "ccc" not in system
    assert "Alice, a nurse." in system
    assert prompt_tokens(prompt.messages, utf8_bytes) <= ROOM


def test_a_prompt_that_fits_keeps_all_its_memory() -> None:
    context = AnswerContext(
        turns=[said("Where do I live?")],
        units=[unit(1, "Fact: Has a dog named Pixel"), unit(2, "Fact: Lives in Porto")],
        profile="Alice, a nurse.",
    )

    prompt = chat_prompt_build(
        context=context, history_tokens=2048, room=ROOM, count_tokens=utf8_bytes
    )

    assert prompt.context == context


def test_a_question_that_cannot_fit_is_refused_with_a_clear_error() -> None:
    context = AnswerContext(turns=[said("Where do I live? " * 200)])

    with pytest.raises(PromptTooLong, match="too long"):
        chat_prompt_build(context=context, history_tokens=20, room=ROOM, count_tokens=utf8_bytes)
    # A question that fits whole is answered, however little room is left.
    short = AnswerContext(turns=[said("Where do I live?")])
    prompt = chat_prompt_build(context=short, history_tokens=25, room=ROOM, count_tokens=utf8_bytes)
    assert prompt.messages[-1]["content"] == "Where do I live?"


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_question_cut_to_fit_says_how_much_of_it_is_shown(content: str) -> None:
    context = AnswerContext(
        turns=[said("Hello."), said("Hi!", Message.Role.ASSISTANT), said(content)]
    )

    prompt = chat_prompt_build(
        context=context, history_tokens=2048, room=ROOM, count_tokens=utf8_bytes
    )

    shown = prompt.messages[-1]["content"]
    assert prompt.question_cut == QuestionCut(utf8_bytes(shown), utf8_bytes(content))
    assert prompt.question_cut.shown_tokens < prompt.question_cut.tokens


def test_a_question_shown_whole_is_not_cut_whatever_else_is_left_out() -> None:
    context = AnswerContext(
        turns=[said(RUN_OF_ONE_LETTER), said("Nice.", Message.Role.ASSISTANT), said("Hi?")]
    )

    prompt = chat_prompt_build(
        context=context, history_tokens=2048, room=ROOM, count_tokens=utf8_bytes
    )

    assert prompt.messages[-1]["content"] == "Hi?" and prompt.question_cut is None


def test_prompt_starts_with_the_system_prompt_and_carries_memories() -> None:
    prompt = chat_prompt_build(
        context=AnswerContext(
            turns=[],
            units=[
                ContextUnit(
                    number=1,
                    kind="fact",
                    text="Fact: Has a dog named Pixel",
                    message_ids=(),
                    score=1.0,
                    tokens=6,
                    ref_id=uuid.uuid4(),
                )
            ],
            profile="Alice, a nurse in Lisbon.",
        ),
        history_tokens=100,
        room=ROOM,
        count_tokens=count_words,
    ).messages

    assert prompt[0]["role"] == "system"
    assert "[1] Fact: Has a dog named Pixel" in prompt[0]["content"]
    assert "a nurse in Lisbon" in prompt[0]["content"]
    assert "Today is" in prompt[0]["content"]


def test_a_context_window_too_small_for_the_system_prompt_is_said_to_be_the_setting() -> None:
    # Not the person's message: any message would fail; the error names what to change.
    context = AnswerContext(turns=[said("Hi")])

    with pytest.raises(PromptTooLong, match="LLM_CONTEXT_SIZE") as refused:
        chat_prompt_build(context=context, history_tokens=2048, room=300, count_tokens=utf8_bytes)

    assert "message is too long" not in str(refused.value)
