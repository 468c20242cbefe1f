"""The review inbox: accepting a proposal applies it as a changeset of the review (and can be
undone), rejecting it keeps it as rejected; neither works on another person's proposal, on a
decided one, or (accepting) on one whose fact is no longer current."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from memoryapp.embeddings import embed_texts
from memoryapp.models import Fact, FactProposal, FactSource, MemoryChangeset, MemoryEvent, Segment
from memoryapp.services.memory.corrections import fact_retract
from memoryapp.services.memory.journal import changeset_undo, fact_snapshot
from memoryapp.services.memory.review import proposal_accept, proposal_reject
from tests import factories

pytestmark = pytest.mark.django_db

SPRING = datetime(2024, 4, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _llm_stages_off(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


@pytest.fixture
def bob() -> User:
    return factories.user("bob")


def said(owner: User, line: str) -> tuple[Segment, list[Any]]:
    chat = factories.conversation(owner)
    message = factories.message(chat, line, created_at=SPRING)
    return factories.closed_segment(chat, [message]), [message.pk]


def known(owner: User, text: str, *, edited: bool = False) -> Fact:
    _, sources = said(owner, f"About: {text}")
    fact = Fact.objects.create(
        owner=owner,
        text=text,
        embedding=embed_texts([text])[0].tolist(),
        user_edited_at=SPRING if edited else None,
    )
    FactSource.objects.create(fact=fact, message_id=sources[0], owner=owner)
    return fact


def proposed(
    owner: User, text: str, *, action: str = "add", target: Fact | None = None, **extra: Any
) -> FactProposal:
    segment, sources = said(owner, f"I said: {text}")
    return FactProposal.objects.create(
        owner=owner,
        segment=segment,
        action=action,
        why=extra.pop("why", FactProposal.Why.UNSURE),
        target=target,
        text=text,
        kind="location",
        confidence=0.4,
        said_at=SPRING,
        source_message_ids=sources,
        embedding=embed_texts([text])[0].tolist(),
        reason="test",
        **extra,
    )


def test_accepting_an_added_fact_learns_it_from_its_messages(alice: User) -> None:
    proposal = proposed(alice, "Alice may be allergic to peanuts.")

    changeset = proposal_accept(owner=alice, proposal=proposal)

    learned = Fact.objects.get(owner=alice)
    assert learned.text == "Alice may be allergic to peanuts."
    assert learned.confidence == 0.4 and learned.segment == proposal.segment
    assert [m.pk for m in learned.source_messages.all()] == proposal.source_message_ids
    assert learned.embedding is not None
    assert changeset.source == MemoryChangeset.Source.REVIEW
    assert [e.action for e in changeset.events.all()] == [MemoryEvent.Action.ADD]
    proposal.refresh_from_db()
    assert proposal.status == FactProposal.Status.ACCEPTED
    assert proposal.changeset == changeset and proposal.decided_at is not None


def test_accepting_a_replacement_of_an_edited_fact_supersedes_it_and_undo_puts_it_back(
    alice: User,
) -> None:
    home = known(alice, "Alice lives in Potsdam.", edited=True)
    before = fact_snapshot(home)
    proposal = proposed(
        alice, "Alice lives in Hamburg.", action="supersede", target=home, why="user_edited"
    )

    changeset = proposal_accept(owner=alice, proposal=proposal)

    home.refresh_from_db()
    hamburg = Fact.objects.get(owner=alice, status=Fact.Status.ACTIVE)
    assert hamburg.text == "Alice lives in Hamburg."
    assert home.status == Fact.Status.SUPERSEDED and home.superseded_by == hamburg
    assert home.valid_to == SPRING

    changeset_undo(changeset=changeset, owner=alice)

    home.refresh_from_db()
    assert fact_snapshot(home) == before
    assert not Fact.objects.filter(owner=alice, text="Alice lives in Hamburg.").exists()


def test_accepting_a_merge_rewords_the_fact_and_adds_the_sources(alice: User) -> None:
    home = known(alice, "Alice lives in Potsdam.", edited=True)
    proposal = proposed(
        alice,
        "Alice's home is Potsdam.",
        action="merge",
        target=home,
        why="user_edited",
        merged_text="Alice lives in Potsdam, Brandenburg.",
    )

    proposal_accept(owner=alice, proposal=proposal)

    home.refresh_from_db()
    assert home.text == "Alice lives in Potsdam, Brandenburg."
    assert home.source_messages.count() == 2
    assert Fact.objects.filter(owner=alice).count() == 1


def test_accepting_is_refused_when_the_fact_it_would_change_is_no_longer_current(
    alice: User,
) -> None:
    home = known(alice, "Alice lives in Potsdam.")
    proposal = proposed(alice, "Alice lives in Hamburg.", action="supersede", target=home)
    fact_retract(owner=alice, fact=home)
    changesets = MemoryChangeset.objects.count()

    with pytest.raises(ValidationError, match="no longer current"):
        proposal_accept(owner=alice, proposal=proposal)

    proposal.refresh_from_db()
    assert proposal.status == FactProposal.Status.PENDING
    assert MemoryChangeset.objects.count() == changesets
    assert not Fact.objects.filter(owner=alice, text="Alice lives in Hamburg.").exists()


def test_accepting_is_refused_when_its_messages_are_gone(alice: User) -> None:
    proposal = proposed(alice, "Alice may be allergic to peanuts.")
    proposal.segment.conversation.messages.all().delete()  # type: ignore[union-attr]

    with pytest.raises(ValidationError, match="messages this was learned from are gone"):
        proposal_accept(owner=alice, proposal=proposal)

    assert not Fact.objects.filter(owner=alice).exists()


def test_rejecting_keeps_the_proposal_as_rejected_and_changes_no_memory(alice: User) -> None:
    proposal = proposed(alice, "Alice may be allergic to peanuts.")

    rejected = proposal_reject(owner=alice, proposal=proposal)

    assert rejected.status == FactProposal.Status.REJECTED and rejected.decided_at is not None
    assert not Fact.objects.exists() and not MemoryChangeset.objects.exists()


def test_a_decided_proposal_cannot_be_decided_again(alice: User) -> None:
    accepted = proposed(alice, "Alice may be allergic to peanuts.")
    proposal_accept(owner=alice, proposal=accepted)
    rejected = proposed(alice, "Alice carries an EpiPen.")
    proposal_reject(owner=alice, proposal=rejected)

    with pytest.raises(ValidationError, match="accepted already"):
        proposal_reject(owner=alice, proposal=accepted)
    with pytest.raises(ValidationError, match="rejected already"):
        proposal_accept(owner=alice, proposal=rejected)

    assert Fact.objects.filter(owner=alice).count() == 1


def test_another_persons_proposal_cannot_be_accepted_or_rejected(alice: User, bob: User) -> None:
    proposal = proposed(alice, "Alice may be allergic to peanuts.")

    with pytest.raises(ValidationError, match="not in your review inbox"):
        proposal_accept(owner=bob, proposal=proposal)
    with pytest.raises(ValidationError, match="not in your review inbox"):
        proposal_reject(owner=bob, proposal=proposal)

    proposal.refresh_from_db()
    assert proposal.status == FactProposal.Status.PENDING
    assert not Fact.objects.exists()
