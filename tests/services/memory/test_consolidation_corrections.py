"""Consolidation respects the person: what they marked wrong is not learned again from the
same messages, what they edited is not overwritten by a re-extraction, changes to an edited
fact and changes the model is unsure of go to the review inbox, and a rejected proposal is
not made again. Driven by a scripted model behind the adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth.models import User

from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import (
    Fact,
    FactProposal,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Segment,
)
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.corrections import fact_edit, fact_retract
from memoryapp.services.memory.journal import fact_snapshot, undo_refusals
from memoryapp.services.memory.review import proposal_reject
from tests import factories

pytestmark = pytest.mark.django_db

SPRING = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _llm_stages_on(settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    settings.MEMORY_REVIEW_CONFIDENCE = 0.6


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


def digest() -> str:
    return json.dumps(
        {"title": "Home", "summary": "Alice talked about home.", "key": "Alice: where I live"}
    )


def extraction(*facts: dict[str, Any]) -> str:
    return json.dumps({"facts": list(facts)})


def fact(text: str, *, kind: str = "location", confidence: float = 0.9) -> dict[str, Any]:
    return {
        "text": text,
        "kind": kind,
        "subject": "alice",
        "time": None,
        "confidence": confidence,
        "sources": [1],
    }


def decision(action: str, target: int | None = None, text: str | None = None) -> str:
    return json.dumps({"action": action, "target": target, "text": text, "reason": "test"})


def segment_with(owner: User, line: str) -> Segment:
    chat = factories.conversation(owner)
    said = factories.message(chat, line, created_at=SPRING, speaker=owner.get_username())
    return factories.closed_segment(chat, [said])


def consolidate(segment: Segment, backend: ScriptedBackend, *replies: str) -> None:
    """Consolidate the segment (again, if it was already), the model replying `replies`."""
    Segment.objects.filter(pk=segment.pk).update(job_status=JobStatus.PENDING)
    backend.add_replies(digest(), *replies)
    segment_consolidate(segment_id=segment.pk)
    segment.refresh_from_db()
    assert segment.job_status == JobStatus.DONE
    assert not backend._replies, "the model was asked less than the test scripted"


def active_texts(owner: User) -> set[str]:
    return set(Fact.objects.filter(owner=owner, status="active").values_list("text", flat=True))


def learned(owner: User, backend: ScriptedBackend, line: str, text: str) -> tuple[Segment, Fact]:
    segment = segment_with(owner, line)
    consolidate(segment, backend, extraction(fact(text)))
    return segment, Fact.objects.get(owner=owner, text=text)


@pytest.mark.parametrize(
    "again",
    [
        "Alice lives in Lisbon.",  # the same words
        "Alice moved to Lisbon.",  # reworded, above the similarity threshold
        "Alice moved from Berlin to Lisbon.",  # its nearest candidate
    ],
)
def test_a_fact_marked_wrong_is_not_learned_again_from_the_same_messages(
    alice: User, backend: ScriptedBackend, again: str
) -> None:
    segment = segment_with(alice, "I live in Lisbon now, with my cat.")
    consolidate(
        segment,
        backend,
        extraction(fact("Alice lives in Lisbon."), fact("Alice has a cat.", kind="possession")),
        decision("add"),
    )
    wrong = Fact.objects.get(owner=alice, text="Alice lives in Lisbon.")
    fact_retract(owner=alice, fact=wrong)
    calls = len(backend.calls)

    # No decision is asked: the first is what the person retracted, the second is known.
    consolidate(
        segment,
        backend,
        extraction(fact(again), fact("Alice has a cat.", kind="possession")),
    )

    assert active_texts(alice) == {"Alice has a cat."}
    assert Fact.objects.filter(owner=alice).count() == 2
    wrong.refresh_from_db()
    assert wrong.status == Fact.Status.RETRACTED
    assert len(backend.calls) == calls + 2
    assert not FactProposal.objects.exists()


def test_a_fact_marked_wrong_is_still_learned_from_other_messages(
    alice: User, backend: ScriptedBackend
) -> None:
    _, wrong = learned(alice, backend, "I live in Lisbon.", "Alice lives in Lisbon.")
    fact_retract(owner=alice, fact=wrong)
    later = segment_with(alice, "Back in Lisbon for good: I live here now.")

    consolidate(later, backend, extraction(fact("Alice lives in Lisbon.")))

    relearned = Fact.objects.get(owner=alice, status="active")
    assert relearned.text == "Alice lives in Lisbon." and relearned.pk != wrong.pk
    assert list(relearned.source_messages.all()) == list(Message.objects.filter(segment=later))


def test_an_edited_fact_is_not_overwritten_by_a_reextraction_of_its_messages(
    alice: User, backend: ScriptedBackend
) -> None:
    segment, berlin = learned(alice, backend, "I live in Berlin.", "Alice lives in Berlin.")
    edit = fact_edit(owner=alice, fact=berlin, text="Alice lives in Potsdam.")
    berlin.refresh_from_db()
    edited = fact_snapshot(berlin)
    calls = len(backend.calls)

    consolidate(segment, backend, extraction(fact("Alice lives in Berlin.")))

    berlin.refresh_from_db()
    assert fact_snapshot(berlin) == edited
    assert active_texts(alice) == {"Alice lives in Potsdam."}
    assert len(backend.calls) == calls + 2  # digest and extraction, no decision
    assert not FactProposal.objects.exists()
    assert undo_refusals(owner=alice, changesets=[edit]) == {edit.pk: None}


def test_replacing_an_edited_fact_goes_to_the_review_inbox(
    alice: User, backend: ScriptedBackend
) -> None:
    _, home = learned(alice, backend, "I live in Berlin.", "Alice lives in Berlin.")
    fact_edit(owner=alice, fact=home, text="Alice lives in Potsdam.")
    home.refresh_from_db()
    edited = fact_snapshot(home)
    hamburg = segment_with(alice, "I moved to Hamburg last week.")

    consolidate(
        hamburg, backend, extraction(fact("Alice lives in Hamburg.")), decision("supersede", 1)
    )

    home.refresh_from_db()
    assert fact_snapshot(home) == edited
    assert active_texts(alice) == {"Alice lives in Potsdam."}
    proposal = FactProposal.objects.get(owner=alice)
    assert proposal.action == FactProposal.Action.SUPERSEDE
    assert proposal.why == FactProposal.Why.USER_EDITED
    assert proposal.status == FactProposal.Status.PENDING
    assert proposal.target == home and proposal.segment == hamburg
    assert proposal.text == "Alice lives in Hamburg."
    assert proposal.source_message_ids == [Message.objects.get(segment=hamburg).pk]
    assert proposal.embedding is not None
    assert not MemoryChangeset.objects.filter(segment=hamburg).exists()


def test_rewording_an_edited_fact_goes_to_review_and_a_plain_merge_only_adds_sources(
    alice: User, backend: ScriptedBackend
) -> None:
    _, home = learned(alice, backend, "I live in Berlin.", "Alice lives in Berlin.")
    fact_edit(owner=alice, fact=home, text="Alice lives in Potsdam.")
    reworded = segment_with(alice, "Potsdam is home.")

    consolidate(
        reworded,
        backend,
        extraction(fact("Alice's home is in Potsdam.")),
        decision("merge", 1, "Alice lives in Potsdam, Brandenburg."),
    )

    home.refresh_from_db()
    assert home.text == "Alice lives in Potsdam."
    proposal = FactProposal.objects.get(owner=alice)
    assert (proposal.action, proposal.why) == ("merge", "user_edited")
    assert proposal.merged_text == "Alice lives in Potsdam, Brandenburg."

    plain = segment_with(alice, "Still in Potsdam.")
    consolidate(plain, backend, extraction(fact("Alice's home is Potsdam.")), decision("merge", 1))

    home.refresh_from_db()
    assert home.text == "Alice lives in Potsdam."
    assert home.source_messages.count() == 2
    event = MemoryEvent.objects.get(changeset__segment=plain)
    assert event.action == MemoryEvent.Action.MERGE
    assert event.before is not None and event.after is not None
    assert {k: v for k, v in event.before.items() if k != "sources"} == {
        k: v for k, v in event.after.items() if k != "sources"
    }
    assert FactProposal.objects.count() == 1


def test_a_fact_the_model_is_unsure_of_goes_to_the_inbox_instead_of_memory(
    alice: User, backend: ScriptedBackend
) -> None:
    segment = segment_with(alice, "I think I might be allergic to peanuts?")

    consolidate(
        segment,
        backend,
        extraction(fact("Alice may be allergic to peanuts.", kind="health", confidence=0.4)),
    )

    assert not Fact.objects.filter(owner=alice).exists()
    proposal = FactProposal.objects.get(owner=alice)
    assert (proposal.action, proposal.why, proposal.target) == ("add", "unsure", None)
    assert proposal.confidence == 0.4 and proposal.kind == "health"
    assert proposal.said_at == SPRING


def test_a_pending_proposal_is_not_made_twice_and_a_rejected_one_not_again(
    alice: User, backend: ScriptedBackend
) -> None:
    segment = segment_with(alice, "I think I might be allergic to peanuts?")
    unsure = extraction(fact("Alice may be allergic to peanuts.", kind="health", confidence=0.4))
    consolidate(segment, backend, unsure)
    consolidate(segment, backend, unsure)
    proposal = FactProposal.objects.get(owner=alice)

    proposal_reject(owner=alice, proposal=proposal)
    consolidate(
        segment,
        backend,
        extraction(
            fact("alice MAY be allergic to peanuts.", kind="health", confidence=0.4),
            fact("Alice carries an EpiPen.", kind="health", confidence=0.3),
        ),
    )

    assert not Fact.objects.filter(owner=alice).exists()
    assert list(
        FactProposal.objects.filter(owner=alice)
        .order_by("created_at")
        .values_list("text", "status")
    ) == [
        ("Alice may be allergic to peanuts.", "rejected"),
        ("Alice carries an EpiPen.", "pending"),  # another statement is another proposal
    ]


def test_a_rejected_change_to_an_edited_fact_is_not_proposed_again(
    alice: User, backend: ScriptedBackend
) -> None:
    _, home = learned(alice, backend, "I live in Berlin.", "Alice lives in Berlin.")
    fact_edit(owner=alice, fact=home, text="Alice lives in Potsdam.")
    hamburg = segment_with(alice, "I moved to Hamburg last week.")
    consolidate(
        hamburg, backend, extraction(fact("Alice lives in Hamburg.")), decision("supersede", 1)
    )
    proposal_reject(owner=alice, proposal=FactProposal.objects.get(owner=alice))

    consolidate(
        hamburg, backend, extraction(fact("Alice lives in Hamburg.")), decision("supersede", 1)
    )

    assert FactProposal.objects.filter(owner=alice).count() == 1
    assert active_texts(alice) == {"Alice lives in Potsdam."}


def test_confident_changes_to_facts_nobody_edited_are_applied_as_before(
    alice: User, backend: ScriptedBackend
) -> None:
    _, berlin = learned(alice, backend, "I live in Berlin.", "Alice lives in Berlin.")
    lisbon = segment_with(alice, "I moved to Lisbon.")

    consolidate(
        lisbon, backend, extraction(fact("Alice lives in Lisbon.")), decision("supersede", 1)
    )

    berlin.refresh_from_db()
    assert berlin.status == Fact.Status.SUPERSEDED
    assert active_texts(alice) == {"Alice lives in Lisbon."}
    assert not FactProposal.objects.exists()


def test_a_rejected_proposal_is_not_learned_when_the_model_is_surer_the_next_time(
    alice: User, backend: ScriptedBackend
) -> None:
    segment = segment_with(alice, "I think I might be allergic to peanuts?")
    consolidate(
        segment,
        backend,
        extraction(fact("Alice may be allergic to peanuts.", kind="health", confidence=0.4)),
    )
    proposal_reject(owner=alice, proposal=FactProposal.objects.get(owner=alice))

    consolidate(
        segment,
        backend,
        extraction(fact("Alice may be allergic to peanuts.", kind="health", confidence=0.8)),
    )

    assert not Fact.objects.filter(owner=alice).exists()
    assert list(FactProposal.objects.filter(owner=alice).values_list("status", flat=True)) == [
        "rejected"
    ]


def test_a_change_waiting_for_review_is_not_applied_behind_it(
    alice: User, backend: ScriptedBackend
) -> None:
    learned(alice, backend, "I live in Berlin.", "Alice lives in Berlin.")
    hamburg = segment_with(alice, "I moved to Hamburg, I think.")
    unsure = fact("Alice lives in Hamburg.", confidence=0.4)
    consolidate(hamburg, backend, extraction(unsure), decision("supersede", 1))
    assert FactProposal.objects.get(owner=alice).status == "pending"

    consolidate(
        hamburg, backend, extraction({**unsure, "confidence": 0.9}), decision("supersede", 1)
    )

    assert active_texts(alice) == {"Alice lives in Berlin."}
    assert FactProposal.objects.filter(owner=alice, status="pending").count() == 1
