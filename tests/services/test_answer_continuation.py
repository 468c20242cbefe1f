"""The continuation prompt and joining a continuation to the cut answer (pure helpers)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from memoryapp.llm.prompting import prompt_room
from memoryapp.models import Message
from memoryapp.retrieval import AnswerContext
from memoryapp.services.answer_continuation import (
    continuation_join,
    continuation_prompt_build,
    continuation_rest,
)
from memoryapp.services.chat_prompt import (
    PER_MESSAGE_OVERHEAD_TOKENS,
    REPLY_OVERHEAD_TOKENS,
)
from tests import factories
from tests.support.long_messages import LONG_MESSAGES, utf8_bytes

ROOM = prompt_room(context_size=4096, answer_tokens=512)


def _words(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


@pytest.mark.parametrize(
    ("earlier", "more", "joined"),
    [
        ("It rains in", "Lisbon today.", "It rains in Lisbon today."),
        ("It rains in ", "Lisbon today.", "It rains in Lisbon today."),
        ("It rains in", " Lisbon today.", "It rains in Lisbon today."),
        ("It rains in Lisbon", ", mostly in April.", "It rains in Lisbon, mostly in April."),
        ("First point.", "Second point.", "First point. Second point."),
        ("- one\n- two\n", "- three", "- one\n- two\n- three"),
        # A continuation that starts over repeats the last words: they are dropped.
        (
            "The trip starts in Porto and ends in",
            "Porto and ends in Lisbon after a week.",
            "The trip starts in Porto and ends in Lisbon after a week.",
        ),
        # Too short an overlap is text of its own.
        ("We went to the", "the beach.", "We went to the the beach."),
        # The demo model writes the whole answer again before going on.
        (
            "Once upon a time a whale sang to the",
            "Once upon a time a whale sang to the keeper every night.",
            "Once upon a time a whale sang to the keeper every night.",
        ),
        # ... or only the end of it that the prompt showed.
        (
            "Chapter one. Long ago. The keeper climbed the stairs and",
            "The keeper climbed the stairs and lit the lamp.",
            "Chapter one. Long ago. The keeper climbed the stairs and lit the lamp.",
        ),
        # A repeat and nothing else adds nothing.
        ("It rains a lot in Lisbon", "It rains a lot in Lisbon", "It rains a lot in Lisbon"),
    ],
)
def test_continuation_join(earlier: str, more: str, joined: str) -> None:
    assert continuation_join(earlier, more) == joined


@pytest.mark.parametrize(
    ("so_far", "shown"),
    [
        ("", ""),
        ("Once", ""),  # may be the start of a repeat
        ("Once upon a ti", ""),
        ("Once upon a time a whale sang to the", ""),
        ("Once upon a time a whale sang to the keeper", " keeper"),
        ("Once upon a time there", "Once upon a time there"),  # not a repeat after all
        ("Then the", "Then the"),
        ("sang to the", ""),  # held back until it shows it is no repeat
        ("to the keeper", "to the keeper"),  # two words repeated are words of its own
    ],
)
def test_while_streaming_only_new_text_is_shown(so_far: str, shown: str) -> None:
    earlier = "Once upon a time a whale sang to the"

    assert continuation_rest(earlier, so_far, final=False) == shown


def test_continuation_join_of_nothing_is_the_earlier_text() -> None:
    assert continuation_join("Cut here", "") == "Cut here"


@pytest.mark.django_db
def test_the_prompt_is_the_answers_own_plus_the_cut_answer_and_the_request() -> None:
    owner: User = factories.user()
    chat = factories.conversation(owner)
    question = factories.message(chat, "Tell me about Lisbon.")
    context = AnswerContext(turns=[question], profile="Lives in Porto.")

    prompt = continuation_prompt_build(
        context=context,
        partial="Lisbon is the capital",
        history_tokens=200,
        answer_tokens=512,
        room=ROOM,
        count_tokens=_words,
    ).messages

    assert prompt[0]["role"] == "system"
    assert "Lives in Porto." in prompt[0]["content"]
    assert prompt[1:3] == [
        {"role": "user", "content": "Tell me about Lisbon."},
        {"role": "assistant", "content": "Lisbon is the capital"},
    ]
    assert prompt[3]["role"] == "user"
    assert "Continue it exactly where it stopped" in prompt[3]["content"]


@pytest.mark.django_db
def test_a_long_cut_answer_leaves_room_for_the_question() -> None:
    owner: User = factories.user()
    chat = factories.conversation(owner)
    turns = [
        factories.message(chat, f"Earlier turn number {n} " + "word " * 20, role=role)
        for n, role in enumerate([Message.Role.USER, Message.Role.ASSISTANT] * 3)
    ]
    question = factories.message(chat, "And what about Porto?")
    partial = " ".join(f"w{n}" for n in range(500))

    prompt = continuation_prompt_build(
        context=AnswerContext(turns=[*turns, question]),
        partial=partial,
        history_tokens=200,
        answer_tokens=100,
        room=ROOM,
        count_tokens=_words,
    ).messages

    shown = prompt[-2]["content"]
    assert prompt[-2]["role"] == "assistant"
    # Its end, within half the answer's cap: repeating it leaves the model room for more.
    assert shown.endswith("w499") and _words(shown) + 5 <= 50
    assert prompt[-3] == {"role": "user", "content": "And what about Porto?"}
    history = sum(_words(m["content"]) + 5 for m in prompt[1:])
    assert history <= 200


@pytest.mark.django_db
@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_continuation_of_an_answer_to_text_without_spaces_fits_the_room(content: str) -> None:
    owner: User = factories.user()
    chat = factories.conversation(owner)
    earlier = factories.message(chat, content)
    said = factories.message(chat, "Noted.", role=Message.Role.ASSISTANT)
    question = factories.message(chat, content)

    prompt = continuation_prompt_build(
        context=AnswerContext(turns=[earlier, said, question], profile=content),
        partial=content,
        history_tokens=2048,
        answer_tokens=512,
        room=ROOM,
        count_tokens=utf8_bytes,
    ).messages

    used = sum(utf8_bytes(m["content"]) + PER_MESSAGE_OVERHEAD_TOKENS for m in prompt)
    assert used + REPLY_OVERHEAD_TOKENS <= ROOM
    assert [m["role"] for m in prompt] == ["system", "user", "assistant", "user"]
    assert content.endswith(prompt[1]["content"]) and content.endswith(prompt[2]["content"])
