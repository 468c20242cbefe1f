"""The person's corrections: editing a fact's text or dates and marking it wrong, each a
changeset by the user with before/after snapshots, undone exactly, owner-scoped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from memoryapp.embeddings import embed_texts
from memoryapp.models import Fact, FactSource, MemoryChangeset, MemoryEvent, Profile
from memoryapp.services.memory.corrections import fact_edit, fact_retract
from memoryapp.services.memory.journal import changeset_undo
from memoryapp.services.memory.model_access import MemoryModel
from memoryapp.services.memory.profile import profile_rebuild
from tests import factories

pytestmark = pytest.mark.django_db

MAY = datetime(2024, 5, 1, tzinfo=UTC)
JUNE = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _llm_stages_off(settings: Any) -> None:
    # The profile is rebuilt at once, from the facts (no model call in a web request).
    settings.MEMORY_LLM = "off"


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


@pytest.fixture
def bob() -> User:
    return factories.user("bob")


def learned(owner: User, text: str, **fields: Any) -> Fact:
    """An active fact as consolidation writes it: embedded, with a source message."""
    chat = factories.conversation(owner)
    said = factories.message(chat, f"Something about: {text}")
    fact = Fact.objects.create(
        owner=owner,
        text=text,
        embedding=embed_texts([text])[0].tolist(),
        embedding_model="test",
        **fields,
    )
    FactSource.objects.create(fact=fact, message=said, owner=owner)
    return fact


def row(fact: Fact) -> dict[str, Any]:
    """Every column of the fact as stored (the vector as a list), with its sources."""
    fresh = Fact.objects.get(pk=fact.pk)
    values: dict[str, Any] = {}
    for field in Fact._meta.concrete_fields:
        value = getattr(fresh, field.attname)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        values[field.attname] = value
    values["sources"] = sorted(
        str(m) for m in FactSource.objects.filter(fact=fresh).values_list("message_id", flat=True)
    )
    return values


def test_editing_the_text_reembeds_it_and_records_a_user_changeset(alice: User) -> None:
    fact = learned(alice, "Alice lives in Berlin.")
    old_vector = np.asarray(fact.embedding)

    changeset = fact_edit(owner=alice, fact=fact, text="  Alice lives in\nPotsdam. ")

    fact.refresh_from_db()
    assert fact.text == "Alice lives in Potsdam."
    assert fact.user_edited_at is not None
    assert np.allclose(fact.embedding, embed_texts(["Alice lives in Potsdam."])[0], atol=1e-6)
    assert not np.allclose(fact.embedding, old_vector)
    assert changeset.source == MemoryChangeset.Source.USER and changeset.owner == alice
    [event] = changeset.events.all()
    assert event.action == MemoryEvent.Action.UPDATE and event.fact == fact
    assert event.before is not None and event.after is not None
    assert event.before["text"] == "Alice lives in Berlin."
    assert event.before["user_edited_at"] is None
    assert event.after["text"] == "Alice lives in Potsdam."
    assert len(event.after["embedding"]) == len(event.before["embedding"])


def test_editing_only_the_dates_keeps_the_text_and_its_vector(alice: User) -> None:
    fact = learned(alice, "Alice works at the bakery.")
    vector = list(Fact.objects.get(pk=fact.pk).embedding)  # as stored (float32)

    changeset = fact_edit(owner=alice, fact=fact, valid_from=MAY, valid_to=JUNE)

    fact.refresh_from_db()
    assert (fact.valid_from, fact.valid_to) == (MAY, JUNE)
    assert fact.text == "Alice works at the bakery."
    assert list(fact.embedding) == vector and fact.embedding_model == "test"
    [event] = changeset.events.all()
    assert event.before is not None and event.after is not None
    assert event.before["valid_from"] is None
    assert event.after["valid_from"] == MAY.isoformat()

    fact_edit(owner=alice, fact=fact, valid_to=None)  # a date given as None clears it

    fact.refresh_from_db()
    assert (fact.valid_from, fact.valid_to) == (MAY, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text": "   "}, "at least 3 characters"),
        ({"text": "ok"}, "at least 3 characters"),
        ({"text": "x" * 301}, "at most 300 characters"),
        ({"valid_from": datetime(2024, 5, 1)}, "needs a time zone"),  # noqa: DTZ001
        ({"valid_from": JUNE, "valid_to": MAY}, "end date is before the start date"),
        ({"valid_to": datetime(2000, 1, 1, tzinfo=UTC)}, "end date is before the start date"),
        ({"text": "Alice lives in Berlin."}, "Nothing to change"),
        ({}, "Nothing to change"),
    ],
)
def test_bad_edits_are_refused_with_a_message_and_change_nothing(
    alice: User, change: dict[str, Any], message: str
) -> None:
    fact = learned(alice, "Alice lives in Berlin.", valid_from=MAY)
    before = row(fact)

    with pytest.raises(ValidationError, match=message):
        fact_edit(owner=alice, fact=fact, **change)

    assert row(fact) == before
    assert not MemoryChangeset.objects.exists()


def test_another_persons_fact_cannot_be_edited_or_retracted(alice: User, bob: User) -> None:
    fact = learned(alice, "Alice lives in Berlin.")
    before = row(fact)

    with pytest.raises(ValidationError, match="not in your memory"):
        fact_edit(owner=bob, fact=fact, text="Alice lives in Rome.")
    with pytest.raises(ValidationError, match="not in your memory"):
        fact_retract(owner=bob, fact=fact)

    assert row(fact) == before
    assert not MemoryChangeset.objects.exists()


def test_marking_a_fact_wrong_retracts_it_with_a_user_changeset(alice: User) -> None:
    fact = learned(alice, "Alice has a parrot.")

    changeset = fact_retract(owner=alice, fact=fact, reason="never had one")

    fact.refresh_from_db()
    assert fact.status == Fact.Status.RETRACTED
    assert fact.retired_at is not None and fact.user_edited_at == fact.retired_at
    assert fact.text == "Alice has a parrot."  # kept, as every retired fact
    [event] = changeset.events.all()
    assert event.before is not None and event.after is not None
    assert event.action == MemoryEvent.Action.RETRACT and event.reason == "never had one"
    assert event.before["status"] == "active" and event.after["status"] == "retracted"
    assert changeset.source == MemoryChangeset.Source.USER


def test_a_fact_no_longer_current_cannot_be_edited_or_retracted_again(alice: User) -> None:
    fact = learned(alice, "Alice has a parrot.")
    fact_retract(owner=alice, fact=fact)

    with pytest.raises(ValidationError, match="no longer current"):
        fact_retract(owner=alice, fact=fact)
    with pytest.raises(ValidationError, match="no longer current"):
        fact_edit(owner=alice, fact=fact, text="Alice has a budgie.")

    assert MemoryChangeset.objects.count() == 1


def test_undo_of_an_edit_restores_every_column_and_the_vector_exactly(alice: User) -> None:
    fact = learned(alice, "Alice lives in Berlin.", valid_from=MAY, confidence=0.7)
    before = row(fact)
    changeset = fact_edit(owner=alice, fact=fact, text="Alice lives in Potsdam.", valid_to=JUNE)
    assert row(fact) != before

    changeset_undo(changeset=changeset, owner=alice)

    assert row(fact) == before


def test_undo_of_a_retraction_makes_the_fact_current_again_exactly(alice: User) -> None:
    fact = learned(alice, "Alice has a parrot.")
    before = row(fact)
    changeset = fact_retract(owner=alice, fact=fact)

    changeset_undo(changeset=changeset, owner=alice)

    assert row(fact) == before
    assert Fact.objects.get(pk=fact.pk).status == Fact.Status.ACTIVE


def test_the_profile_follows_the_persons_corrections(alice: User) -> None:
    berlin = learned(alice, "Alice lives in Berlin.")
    parrot = learned(alice, "Alice has a parrot.")

    fact_edit(owner=alice, fact=berlin, text="Alice lives in Potsdam.")
    fact_retract(owner=alice, fact=parrot)

    profile = Profile.objects.get(owner=alice)
    assert "Potsdam" in profile.summary
    assert "Berlin" not in profile.summary and "parrot" not in profile.summary
    assert not profile.stale


def test_with_the_llm_stages_on_the_profile_is_left_stale_for_the_sleep_pass(
    alice: User, settings: Any
) -> None:
    settings.MEMORY_LLM = "on"
    fact = learned(alice, "Alice has a parrot.")
    profile_rebuild(owner=alice, model=MemoryModel(None))
    assert "parrot" in Profile.objects.get(owner=alice).summary

    fact_retract(owner=alice, fact=fact)

    profile = Profile.objects.get(owner=alice)
    assert profile.stale
    # Meanwhile the chat's prompt no longer says what the person marked wrong.
    assert "parrot" not in profile.summary


def test_an_undo_puts_the_profile_back_with_the_facts(alice: User) -> None:
    fact = learned(alice, "Alice has a parrot.")
    retracted = fact_retract(owner=alice, fact=fact)
    assert "parrot" not in Profile.objects.get(owner=alice).summary

    undo = changeset_undo(changeset=retracted, owner=alice)
    assert "parrot" in Profile.objects.get(owner=alice).summary

    changeset_undo(changeset=undo, owner=alice)
    assert "parrot" not in Profile.objects.get(owner=alice).summary
