"""The memory an answer used, as shown under it: labels, links, marks, owner scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from django.contrib.auth.models import User

from memoryapp.models import Conversation, Fact, Message
from memoryapp.selectors.citations import answer_memory, first_words
from tests import factories

pytestmark = pytest.mark.django_db

SAID = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


def _answer(owner: User) -> Message:
    return factories.exchange(factories.conversation(owner), "Where is the wedding?", "In Porto.")[
        1
    ]


def test_a_unit_is_labelled_by_the_first_words_of_its_earliest_user_turn(alice: User) -> None:
    earlier = factories.conversation(alice, title="Family")
    reply = factories.message(
        earlier, "Tell me more!", role=Message.Role.ASSISTANT, created_at=SAID
    )
    said = factories.message(
        earlier,
        "My sister Mia is getting married in Porto next September, finally.",
        created_at=SAID.replace(minute=31),
    )
    later = factories.message(earlier, "We fly on Friday.", created_at=SAID.replace(hour=10))
    answer = _answer(alice)
    factories.citation(answer, 1, [later.pk, reply.pk, said.pk], cited=True)

    [unit] = answer_memory(owner_id=alice.pk, answers=[answer])[answer.pk].units

    assert unit.label == "My sister Mia is getting married in Porto…"
    assert unit.said_at == said.created_at
    assert unit.cited
    assert unit.href == (
        f"/c/{earlier.pk}/?highlight={said.pk},{reply.pk},{later.pk}#msg-{said.pk}"
    )
    assert unit.title == "My sister Mia is getting married in Porto next September, finally."


def test_a_unit_without_user_turns_is_labelled_by_its_first_message(alice: User) -> None:
    chat = factories.conversation(alice)
    first = factories.message(
        chat, "Porto is lovely in September.", role=Message.Role.ASSISTANT, created_at=SAID
    )
    answer = _answer(alice)
    factories.citation(answer, 1, [first.pk], kind="message")

    [unit] = answer_memory(owner_id=alice.pk, answers=[answer])[answer.pk].units

    assert unit.label == "Porto is lovely in September."
    assert not unit.cited


def test_a_fact_is_labelled_by_its_text_and_dated_by_its_source(alice: User) -> None:
    chat = factories.conversation(alice)
    said = factories.message(chat, "By the way, I'm allergic to peanuts.", created_at=SAID)
    fact = Fact.objects.create(owner=alice, text="The user is allergic to peanuts.")
    answer = _answer(alice)
    factories.citation(answer, 1, [said.pk], kind="fact", fact=fact)

    [unit] = answer_memory(owner_id=alice.pk, answers=[answer])[answer.pk].units

    assert unit.label == "The user is allergic to peanuts."
    assert unit.said_at == said.created_at
    assert unit.href.endswith(f"#msg-{said.pk}")


def test_a_unit_whose_messages_are_gone_is_listed_without_a_link(alice: User) -> None:
    answer = _answer(alice)
    factories.citation(answer, 1, [uuid4()], cited=True)

    memory = answer_memory(owner_id=alice.pk, answers=[answer])[answer.pk]

    [unit] = memory.units
    assert unit.label == "No longer in memory"
    assert unit.href == ""
    assert memory.cited == []  # a chip needs somewhere to go


def test_units_come_in_number_order_and_chips_are_the_cited_ones(alice: User) -> None:
    chat = factories.conversation(alice)
    messages = [factories.message(chat, f"Turn {n}") for n in range(3)]
    answer = _answer(alice)
    for number in (3, 1, 2):
        factories.citation(answer, number, [messages[number - 1].pk], cited=number != 2)

    memory = answer_memory(owner_id=alice.pk, answers=[answer])[answer.pk]

    assert [unit.number for unit in memory.units] == [1, 2, 3]
    assert [unit.number for unit in memory.cited] == [1, 3]
    assert [unit.label for unit in memory.units] == ["Turn 0", "Turn 1", "Turn 2"]


def test_another_users_citations_messages_and_facts_never_appear(alice: User, bob: User) -> None:
    bobs_chat = factories.conversation(bob)
    bobs_secret = factories.message(bobs_chat, "My bank PIN is 4321.", created_at=SAID)
    bobs_fact = Fact.objects.create(owner=bob, text="Bob's PIN is 4321.")
    alices_chat = factories.conversation(alice)
    alices_turn = factories.message(alices_chat, "I love hiking in the Alps.", created_at=SAID)
    answer = _answer(alice)
    # Alice's answer pointing at Bob's message and fact (it never should), and a citation
    # row of Bob's on Alice's answer.
    factories.citation(answer, 1, [bobs_secret.pk, alices_turn.pk], cited=True)
    factories.citation(answer, 2, [bobs_secret.pk], kind="fact", fact=bobs_fact)
    factories.citation(answer, 3, [bobs_secret.pk], owner_id=bob.pk)
    bobs_answer = _answer(bob)
    factories.citation(bobs_answer, 1, [bobs_secret.pk], cited=True)

    memory = answer_memory(owner_id=alice.pk, answers=[answer, bobs_answer])

    assert list(memory) == [answer.pk]
    units = memory[answer.pk].units
    assert [unit.number for unit in units] == [1, 2]
    shown = " ".join(f"{unit.label} {unit.title} {unit.href}" for unit in units)
    assert "4321" not in shown
    assert str(bobs_secret.pk) not in shown
    assert units[0].label == "I love hiking in the Alps."
    assert units[1].label == "No longer in memory"
    assert answer_memory(owner_id=bob.pk, answers=[answer]) == {}


def test_unfinished_answers_and_user_messages_have_no_memory(alice: User) -> None:
    chat: Conversation = factories.conversation(alice)
    question = factories.message(chat, "Hello?")
    pending = factories.message(
        chat, "", role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, reply_to=question
    )
    factories.citation(pending, 1, [question.pk])

    assert answer_memory(owner_id=alice.pk, answers=[question, pending]) == {}


def test_the_memory_of_many_answers_takes_two_queries(
    alice: User, django_assert_num_queries: Any
) -> None:
    chat = factories.conversation(alice)
    said = [factories.message(chat, f"Something I said, number {n}.") for n in range(5)]
    answers = [_answer(alice) for _ in range(6)]
    for answer in answers:
        for number, message in enumerate(said, start=1):
            factories.citation(answer, number, [message.pk], cited=number == 1)

    with django_assert_num_queries(2):
        memory = answer_memory(owner_id=alice.pk, answers=answers)

    assert all(len(memory[a.pk].units) == 5 for a in answers)


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [
        ("one two three", 8, "one two three"),
        ("  one\n two   three ", 8, "one two three"),
        ("one two, three four", 2, "one two…"),
        ("", 8, ""),
    ],
)
def test_first_words(text: str, count: int, expected: str) -> None:
    assert first_words(text, count) == expected
