"""Reads of the review inbox and the history: the owner's own rows only, sources included
only when they are the owner's messages, and whether each changeset can still be undone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User

from memoryapp.models import Fact, FactProposal, MemoryChangeset
from memoryapp.selectors.memory_review import (
    changeset_history,
    inbox,
    inbox_item,
    pending_proposal_count,
)
from memoryapp.services.memory.corrections import fact_edit, fact_retract
from tests import factories

pytestmark = pytest.mark.django_db

SPRING = datetime(2024, 4, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _llm_stages_off(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


def proposal(owner: User, text: str, message_ids: list[Any], **fields: Any) -> FactProposal:
    return FactProposal.objects.create(
        owner=owner,
        action="add",
        why="unsure",
        text=text,
        said_at=SPRING,
        source_message_ids=message_ids,
        **fields,
    )


def test_the_pending_count_is_the_owners_pending_proposals(alice: User, bob: User) -> None:
    proposal(alice, "Alice may like jazz.", [])
    proposal(alice, "Alice may like tea.", [])
    proposal(alice, "Alice may like rain.", [], status="rejected", decided_at=SPRING)
    proposal(bob, "Bob may like opera.", [])

    assert pending_proposal_count(owner=alice) == 2
    assert pending_proposal_count(owner=bob) == 1


def test_a_proposals_sources_are_only_the_owners_messages(alice: User, bob: User) -> None:
    alices = factories.message(factories.conversation(alice), "I might like jazz.")
    bobs = factories.message(factories.conversation(bob), "bob's secret")
    made = proposal(alice, "Alice may like jazz.", [alices.pk, bobs.pk])

    [item] = inbox(owner=alice)

    assert item.proposal == made and item.sources == [alices]
    assert inbox(owner=bob) == []
    assert inbox_item(owner=alice, proposal_id=made.pk).sources == [alices]


def test_history_says_which_changesets_can_still_be_undone(alice: User, bob: User) -> None:
    fact = Fact.objects.create(owner=alice, text="Alice lives in Berlin.")
    edit = fact_edit(owner=alice, fact=fact, text="Alice lives in Potsdam.")
    other = Fact.objects.create(owner=alice, text="Alice has a parrot.")
    retract = fact_retract(owner=alice, fact=other)
    fact_edit(owner=alice, fact=fact, text="Alice lives in Hamburg.")
    Fact.objects.create(owner=bob, text="Bob lives in Rome.")

    page = changeset_history(owner=alice, number=1)

    refusals = {changeset.pk: changeset.undo_refusal for changeset in page}  # type: ignore[attr-defined]
    assert len(refusals) == 3
    assert refusals[retract.pk] is None
    assert refusals[edit.pk] == "Later changes touched the same memories; undo those first."
    assert list(changeset_history(owner=bob, number=1)) == []
    assert MemoryChangeset.objects.filter(owner=bob).count() == 0
