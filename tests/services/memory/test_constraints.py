"""Impossible memory states are refused by the database itself."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from memoryapp.models import Fact, FactSource, Message, Passage
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_superseded_fact_needs_a_successor_and_an_end_time() -> None:
    owner = factories.user()
    with pytest.raises(IntegrityError), transaction.atomic():
        Fact.objects.create(
            owner=owner, text="Lives in Berlin", status="superseded", retired_at=timezone.now()
        )


def test_a_message_cannot_join_a_segment_of_another_conversation() -> None:
    owner = factories.user()
    chat, other_chat = factories.conversation(owner), factories.conversation(owner)
    segment = factories.closed_segment(chat, [factories.message(chat, "hello")])
    stray = factories.message(other_chat, "elsewhere")

    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.filter(pk=stray.pk).update(segment=segment)


def test_a_fact_cannot_cite_another_users_message() -> None:
    alice, bob = factories.user(), factories.user()
    bobs_message = factories.message(factories.conversation(bob), "my secret")
    alices_fact = Fact.objects.create(owner=alice, text="Alice likes tea")

    with pytest.raises(IntegrityError), transaction.atomic():
        FactSource.objects.create(fact=alices_fact, message=bobs_message, owner=alice)


def test_a_passage_cannot_belong_to_another_user_than_its_message() -> None:
    alice, bob = factories.user(), factories.user()
    alices_message = factories.message(factories.conversation(alice), "One. Two three four.")

    with pytest.raises(IntegrityError), transaction.atomic():
        Passage.objects.create(
            message=alices_message, owner=bob, position=0, text="x", embedding=[0.0] * 384
        )
