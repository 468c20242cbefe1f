"""The household of the account and privacy tests (alice the owner, staff and superuser; bob a
member) and a person's data of every kind the admin shows, each row carrying a marker word, so
that a test can tell whose rows a page shows.

Its fixtures are registered for every test (`pytest_plugins` in tests/conftest.py). A test
module's own `alice` or `bob` replaces the household's, also in the clients and data built on
them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import User
from django.db.models import Model
from django.test import Client
from django.utils import timezone

from memoryapp.embeddings import EMBEDDING_DIM
from memoryapp.models import (
    Citation,
    Conversation,
    Fact,
    FactSource,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Passage,
    Profile,
    Segment,
)
from tests import factories

# Every kind of row a person owns, one of each in PersonData.
OWNED_MODELS: list[type[Model]] = [
    Conversation, Message, Passage, Segment, Fact, FactSource, MemoryChangeset, MemoryEvent,
    Profile, Citation,
]  # fmt: skip
ALICE = "alicemark"  # in every text of alice's rows
BOB = "bobmark"  # in every text of bob's rows


@dataclass(frozen=True)
class PersonData:
    conversation: Conversation
    question: Message
    answer: Message
    passage: Passage
    segment: Segment
    fact: Fact
    old_fact: Fact  # superseded by `fact` (a PROTECT reference between the two)
    source: FactSource
    changeset: MemoryChangeset
    event: MemoryEvent
    profile: Profile
    citation: Citation

    def rows(self) -> list[Model]:
        return [
            self.conversation, self.question, self.answer, self.passage, self.segment,
            self.fact, self.old_fact, self.source, self.changeset, self.event, self.profile,
            self.citation,
        ]  # fmt: skip


def person_data(owner: User, marker: str) -> PersonData:
    """Conversation, messages, passage, segment, facts, fact source, changeset, event, profile
    and citation of `owner`; every text says `marker`."""
    chat = factories.conversation(owner, title=f"{marker} chat")
    question, answer = factories.exchange(
        chat, f"My {marker} secret is that I keep bees. They are calm.", f"Noted, {marker}."
    )
    passage = Passage.objects.create(
        message=question,
        owner=owner,
        position=0,
        text=f"My {marker} secret is that I keep bees.",
        embedding=[0.1] * EMBEDDING_DIM,
    )
    segment = factories.closed_segment(chat, [question, answer])
    Segment.objects.filter(pk=segment.pk).update(title=f"{marker} bees")
    segment.refresh_from_db()
    now = timezone.now()
    fact = Fact.objects.create(owner=owner, text=f"{marker} keeps bees.", segment=segment)
    old_fact = Fact.objects.create(
        owner=owner,
        text=f"{marker} wants bees.",
        status=Fact.Status.SUPERSEDED,
        superseded_by=fact,
        valid_from=now,
        valid_to=now,
        retired_at=now,
    )
    source = FactSource.objects.create(fact=fact, message=question, owner=owner)
    changeset = MemoryChangeset.objects.create(
        owner=owner, source=MemoryChangeset.Source.CONSOLIDATION, segment=segment
    )
    event = MemoryEvent.objects.create(
        changeset=changeset,
        owner=owner,
        fact=fact,
        action=MemoryEvent.Action.ADD,
        after={"text": fact.text},
    )
    profile = Profile.objects.create(owner=owner, summary=f"{marker} keeps bees.", fact_count=1)
    citation = factories.citation(answer, 1, [question.pk], segment=segment, score=0.9)
    return PersonData(
        chat, question, answer, passage, segment, fact, old_fact, source, changeset, event,
        profile, citation,
    )  # fmt: skip


@pytest.fixture
def alice() -> User:
    return factories.user("alice", is_staff=True, is_superuser=True)


@pytest.fixture
def bob() -> User:
    return factories.user("bob")


@pytest.fixture
def alice_client(alice: User) -> Client:
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob: User) -> Client:
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def alices(alice: User) -> PersonData:
    return person_data(alice, ALICE)


@pytest.fixture
def bobs(bob: User) -> PersonData:
    return person_data(bob, BOB)
