"""`chat_bench --memory-messages`: the history it builds into memory (real embeddings, on the
test database) and the questions it asks about it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from memoryapp.benchmarks.memory_history import (
    memory_history,
    memory_import,
    memory_questions,
    turn_in_context,
)
from memoryapp.models import Message, Passage, Segment
from memoryapp.services.conversations import message_send
from memoryapp.services.imports import ImportedConversation, ImportedMessage
from tests import factories
from tests.evaluation.samples import LOCOMO_SAMPLE, LONGMEMEVAL, write_json

AT = datetime(2024, 1, 1, tzinfo=UTC)


def _turn(speaker: str, content: str, number: int, *, by_person: bool = True) -> ImportedMessage:
    return ImportedMessage(
        role="user" if by_person else "assistant",
        speaker=speaker,
        content=content,
        created_at=AT,
        external_id=f"t{number}",
        by_person=by_person,
    )


HISTORY = [
    ImportedConversation(
        title="talk",
        messages=(
            _turn("Greta", "Greta adopted a greyhound named Biscuit in Valencia.", 1),
            _turn("user", "I repaired the old derailleur before the marathon.", 2),
            _turn("assistant", "Wonderful marathon preparations.", 3, by_person=False),
            _turn("Greta", "Thanks!", 4),
        ),
    )
]  # fmt: skip


def test_questions_ask_about_people_s_turns_by_who_said_them_and_three_long_words() -> None:
    questions = memory_questions(HISTORY, count=5, seed=0)

    assert sorted((q.external_id, q.text) for q in questions) == [
        ("t1", "What did Greta say about adopted, greyhound and Valencia?"),
        ("t2", "What did I say about repaired, derailleur and marathon?"),
    ]  # not the assistant's turn, nor a turn of too few words
    assert memory_questions(HISTORY, count=5, seed=0) == questions  # the seed decides
    assert len(memory_questions(HISTORY, count=1, seed=0)) == 1


@pytest.mark.django_db
def test_the_history_is_imported_with_its_memory_and_questions_find_its_turns(
    tmp_path: Path,
) -> None:
    alice, bob = factories.user("alice"), factories.user("bob")
    history = memory_history(
        locomo=write_json(tmp_path / "locomo.json", [LOCOMO_SAMPLE]),
        longmemeval=write_json(tmp_path / "lme.json", LONGMEMEVAL),
        messages=20,
        seed=0,
    )

    built = memory_import(owner=alice, conversations=history)

    assert built.messages == 20 == Message.objects.filter(owner=alice).count()
    assert built.conversations == len(history)
    assert built.passages == Passage.objects.filter(owner=alice).count()
    assert built.segments == Segment.objects.filter(owner=alice).count() > 0
    assert not Message.objects.filter(owner=alice, embedding=None).exists()
    assert built.seconds > 0
    assert "memory: 20 messages in " in built.describe()
    assert not Message.objects.filter(owner=bob).exists()
    # An answer given the asked-about turn in its context, and one that was not.
    question = memory_questions(history, count=1, seed=0)[0]
    turn = Message.objects.get(owner=alice, external_id=question.external_id)
    given = _answer(alice)
    factories.citation(given, 1, [turn.pk])
    assert turn_in_context(answer=given, external_id=question.external_id)
    assert not turn_in_context(answer=_answer(alice), external_id=question.external_id)
    # Another owner's answer never finds alice's turn, even when citing its id.
    bobs = _answer(bob)
    factories.citation(bobs, 1, [turn.pk])
    assert not turn_in_context(answer=bobs, external_id=question.external_id)


def _answer(owner: User) -> Message:
    _, answer = message_send(conversation=factories.conversation(owner), content="Hello?")
    return answer
