from __future__ import annotations

import uuid

from memoryapp.llm import Message as PromptMessage
from memoryapp.retrieval import AnswerContext, ContextUnit
from memoryapp.services.chat_prompt import (
    PER_MESSAGE_OVERHEAD_TOKENS,
    chat_prompt_build,
    pack_recent_turns,
)


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
        count_tokens=count_words,
    )

    assert prompt[0]["role"] == "system"
    assert "[1] Fact: Has a dog named Pixel" in prompt[0]["content"]
    assert "a nurse in Lisbon" in prompt[0]["content"]
    assert "Today is" in prompt[0]["content"]
