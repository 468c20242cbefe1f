"""A waiting answer's bubble says how many answers are ahead of it, and nothing of whose."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from memoryapp.models import Conversation, Message
from tests import factories

pytestmark = pytest.mark.django_db

EARLIER = timezone.now() - timedelta(minutes=1)
BOBS_QUESTION = "bobmark: what should I cook tonight?"


def _bobs_answers(bob: User, *statuses: str) -> None:
    """Answers of bob, queued a minute ago, with these statuses."""
    for status in statuses:
        factories.exchange(
            factories.conversation(bob, title="bobmark"),
            BOBS_QUESTION,
            "bobmark answer so far",
            status=status,
            in_flight_since=EARLIER,
        )


def _pending(chat: Conversation) -> Message:
    _, answer = factories.exchange(
        chat, "And for me?", "", status=Message.Status.PENDING, in_flight_since=timezone.now()
    )
    return answer


def _waiting_note(html: str, answer: Message) -> str:
    match = re.search(rf'<p [^>]*id="waiting-{answer.pk}"[^>]*>([^<]*)</p>', html)
    assert match, html
    return match.group(1).strip()


def test_a_pending_answer_says_how_many_answers_are_ahead(
    alice: User, bob: User, alice_client: Client
) -> None:
    _bobs_answers(bob, Message.Status.STREAMING, Message.Status.PENDING)
    chat = factories.conversation(alice)
    answer = _pending(chat)

    page = alice_client.get(chat.get_absolute_url()).content.decode()

    assert _waiting_note(page, answer) == "waiting: 2 answers ahead"
    assert "bobmark" not in page


def test_a_sent_message_shows_its_place_at_once(
    alice: User, bob: User, alice_client: Client
) -> None:
    _bobs_answers(bob, Message.Status.STREAMING)
    chat = factories.conversation(alice)

    response = alice_client.post(
        f"/c/{chat.pk}/messages", {"content": "Hello"}, headers={"hx-request": "true"}
    )

    answer = Message.objects.get(conversation=chat, role=Message.Role.ASSISTANT)
    assert _waiting_note(response.content.decode(), answer) == "waiting: 1 answer ahead"


def test_a_resynced_bubble_shows_the_place_it_has_now(
    alice: User, bob: User, alice_client: Client
) -> None:
    chat = factories.conversation(alice)
    answer = _pending(chat)
    _bobs_answers(bob, Message.Status.STREAMING)

    html = alice_client.get(f"/m/{answer.pk}/").content.decode()

    assert _waiting_note(html, answer) == "waiting: 1 answer ahead"


def test_an_answer_with_nothing_ahead_or_being_written_says_no_wait(
    alice: User, alice_client: Client
) -> None:
    pending = _pending(factories.conversation(alice))

    assert _waiting_note(alice_client.get(f"/m/{pending.pk}/").content.decode(), pending) == ""

    Message.objects.filter(pk=pending.pk).update(status=Message.Status.STREAMING)
    html = alice_client.get(f"/m/{pending.pk}/").content.decode()
    assert f'id="waiting-{pending.pk}"' not in html
    assert "waiting:" not in html
