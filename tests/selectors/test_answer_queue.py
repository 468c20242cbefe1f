"""How many answers wait ahead of a pending one: those being written now and the pending ones
queued before it, of every user (a count only)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp.models import Message
from memoryapp.selectors.answers import Waiting, answer_waiting_ahead, answers_waiting
from tests import factories

pytestmark = pytest.mark.django_db

QUEUED = timezone.now() - timedelta(minutes=5)


def _answer(owner: User, status: str, queued_minutes: float | None) -> Message:
    """An answer of `owner` in a conversation of its own, queued `queued_minutes` after
    QUEUED (None: not in flight)."""
    chat = factories.conversation(owner)
    _, answer = factories.exchange(
        chat,
        "A question?",
        "",
        status=status,
        in_flight_since=None
        if queued_minutes is None
        else QUEUED + timedelta(minutes=queued_minutes),
    )
    return answer


def test_an_answer_waits_behind_those_being_written_and_those_queued_before_it(
    alice: User, bob: User
) -> None:
    streaming = _answer(bob, Message.Status.STREAMING, 0)
    first = _answer(alice, Message.Status.PENDING, 1)
    second = _answer(bob, Message.Status.PENDING, 2)
    third = _answer(alice, Message.Status.PENDING, 3)
    _answer(bob, Message.Status.DONE, None)
    _answer(alice, Message.Status.FAILED, None)

    assert [answer_waiting_ahead(answer=a) for a in (first, second, third)] == [1, 2, 3]
    assert answer_waiting_ahead(answer=streaming) == 0
    assert answers_waiting() == [
        Waiting(answer_id=first.pk, conversation_id=first.conversation_id, ahead=1),
        Waiting(answer_id=second.pk, conversation_id=second.conversation_id, ahead=2),
        Waiting(answer_id=third.pk, conversation_id=third.conversation_id, ahead=3),
    ]


def test_the_order_is_when_an_answer_was_queued_not_when_it_was_written(alice: User) -> None:
    retried = _answer(alice, Message.Status.PENDING, 10)  # an old answer, retried just now
    newer = _answer(alice, Message.Status.PENDING, 1)
    Message.objects.filter(pk=newer.pk).update(created_at=timezone.now())

    assert answer_waiting_ahead(answer=newer) == 0
    assert answer_waiting_ahead(answer=retried) == 1
    assert [w.answer_id for w in answers_waiting()] == [newer.pk, retried.pk]


def test_answers_queued_at_the_same_moment_each_have_their_own_place(alice: User) -> None:
    answers = [_answer(alice, Message.Status.PENDING, 1) for _ in range(3)]

    assert sorted(answer_waiting_ahead(answer=a) for a in answers) == [0, 1, 2]
    assert {w.answer_id: w.ahead for w in answers_waiting()} == {
        a.pk: answer_waiting_ahead(answer=a) for a in answers
    }


def test_nothing_waits_ahead_of_a_question_or_a_finished_answer(alice: User) -> None:
    _answer(alice, Message.Status.STREAMING, 0)
    done = _answer(alice, Message.Status.DONE, None)

    assert done.reply_to is not None
    assert answer_waiting_ahead(answer=done) == 0
    assert answer_waiting_ahead(answer=done.reply_to) == 0
    assert answers_waiting() == []
