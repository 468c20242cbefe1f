"""Segment consolidation and fact consolidation, with a scripted model behind the adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Fact, JobStatus, MemoryChangeset, MemoryEvent, Message, Segment
from memoryapp.services.memory.consolidation import segment_consolidate, segments_consolidate
from memoryapp.services.memory.journal import changeset_undo, fact_snapshot
from tests import factories

pytestmark = pytest.mark.django_db

SPRING = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _llm_stages_on(settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    settings.MEMORY_RETRY_BASE_SECONDS = 0


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


def digest(title: str = "Moving house") -> str:
    return json.dumps(
        {"title": title, "summary": "Alice talked about where she lives.", "key": "Alice: home"}
    )


def extraction(*facts: dict[str, Any]) -> str:
    return json.dumps({"facts": list(facts)})


def fact(
    text: str, *, kind: str = "location", sources: list[int] | None = None, **extra: Any
) -> dict[str, Any]:
    return {
        "text": text,
        "kind": kind,
        "subject": "alice",
        "time": extra.get("time"),
        "confidence": extra.get("confidence", 0.9),
        "sources": sources or [1],
    }


def decision(action: str, target: int | None = None, text: str | None = None) -> str:
    return json.dumps({"action": action, "target": target, "text": text, "reason": "test"})


def segment_with(owner: User, *lines: str, at: datetime = SPRING) -> Segment:
    chat = factories.conversation(owner)
    messages = [
        factories.message(chat, line, created_at=at, speaker=owner.get_username()) for line in lines
    ]
    return factories.closed_segment(chat, messages)


def active_texts(owner: User) -> set[str]:
    return set(Fact.objects.filter(owner=owner, status="active").values_list("text", flat=True))


def test_a_new_fact_is_added_with_its_sources_and_event(
    alice: User, backend: ScriptedBackend
) -> None:
    segment = segment_with(alice, "Hi! I have a dog called Pixel.")
    backend.add_replies(
        digest("Pixel"), extraction(fact("Alice has a dog named Pixel.", kind="possession"))
    )

    segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    added = Fact.objects.get(owner=alice)
    assert segment.job_status == JobStatus.DONE
    assert segment.title == "Pixel" and segment.summary_source == "llm"
    assert segment.key_embedding is not None
    assert added.text == "Alice has a dog named Pixel."
    assert list(added.source_messages.all()) == list(Message.objects.filter(segment=segment))
    changeset = MemoryChangeset.objects.get(owner=alice)
    assert [e.action for e in changeset.events.all()] == [MemoryEvent.Action.ADD]
    assert segment.llm_calls == 2 and segment.prompt_tokens > 0


def test_a_duplicate_is_merged_into_the_known_fact(alice: User, backend: ScriptedBackend) -> None:
    first = segment_with(alice, "My dog is Pixel.")
    backend.add_replies(
        digest(), extraction(fact("Alice has a dog named Pixel.", kind="possession"))
    )
    segment_consolidate(segment_id=first.pk)
    second = segment_with(alice, "Pixel, my beagle, is two years old.")
    backend.add_replies(
        digest(),
        extraction(fact("Alice owns a beagle called Pixel.", kind="possession")),
        decision("merge", 1, "Alice has a beagle named Pixel."),
    )

    segment_consolidate(segment_id=second.pk)

    merged = Fact.objects.get(owner=alice)
    assert merged.text == "Alice has a beagle named Pixel."
    assert merged.source_messages.count() == 2
    assert MemoryEvent.objects.filter(action="merge").count() == 1


def test_moving_supersedes_the_old_home_which_stays_as_past(
    alice: User, backend: ScriptedBackend
) -> None:
    berlin = segment_with(alice, "I live in Berlin.", at=datetime(2023, 1, 10, tzinfo=UTC))
    backend.add_replies(digest(), extraction(fact("Alice lives in Berlin.")))
    segment_consolidate(segment_id=berlin.pk)
    lisbon = segment_with(alice, "Big news: I moved from Berlin to Lisbon last month!")
    backend.add_replies(
        digest(),
        extraction(fact("Alice moved from Berlin to Lisbon.", time="last month")),
        decision("supersede", 1),
    )

    segment_consolidate(segment_id=lisbon.pk)

    old = Fact.objects.get(owner=alice, text="Alice lives in Berlin.")
    new = Fact.objects.get(owner=alice, text="Alice moved from Berlin to Lisbon.")
    assert old.status == Fact.Status.SUPERSEDED
    assert old.superseded_by == new
    assert new.valid_from == datetime(2024, 3, 1, tzinfo=UTC)  # "last month", said on 2 April
    assert old.valid_to == new.valid_from
    assert old.retired_at is not None
    assert active_texts(alice) == {"Alice moved from Berlin to Lisbon."}


def test_undo_restores_the_exact_previous_state(alice: User, backend: ScriptedBackend) -> None:
    berlin = segment_with(alice, "I live in Berlin.")
    backend.add_replies(digest(), extraction(fact("Alice lives in Berlin.")))
    segment_consolidate(segment_id=berlin.pk)
    before = {f.pk: fact_snapshot(f) for f in Fact.objects.filter(owner=alice)}
    lisbon = segment_with(alice, "I moved to Lisbon.")
    backend.add_replies(
        digest(),
        extraction(fact("Alice lives in Lisbon."), fact("Alice likes surfing.", kind="preference")),
        decision("supersede", 1),
        decision("add"),
    )
    segment_consolidate(segment_id=lisbon.pk)
    changeset = MemoryChangeset.objects.get(segment=lisbon)
    assert len(active_texts(alice)) == 2

    changeset_undo(changeset=changeset, owner=alice)

    after = {f.pk: fact_snapshot(f) for f in Fact.objects.filter(owner=alice)}
    assert after == before
    changeset.refresh_from_db()
    assert changeset.undone_by is not None


def test_invalid_output_is_retried_then_parked_and_memory_is_untouched(
    alice: User, backend: ScriptedBackend, settings: Any
) -> None:
    settings.MEMORY_JOB_ATTEMPTS = 2
    segment = segment_with(alice, "I work as a nurse.")
    garbage = '{"facts": [{"text": 42}]}'
    # Per run: the digest, then three tries at the extraction.
    backend.add_replies(digest(), garbage, garbage, garbage)

    segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert segment.job_status == JobStatus.RETRY
    assert segment.raw_output == garbage
    assert "Extraction" in segment.last_error
    assert segment.key_embedding is not None  # the segment is usable for retrieval anyway
    assert not Fact.objects.exists() and not MemoryChangeset.objects.exists()

    backend.add_replies(digest(), garbage, garbage, garbage)
    segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert segment.job_status == JobStatus.FAILED
    assert segment.attempts == 2
    assert not Fact.objects.exists()


def test_a_redelivered_job_changes_nothing(alice: User, backend: ScriptedBackend) -> None:
    segment = segment_with(alice, "I have a cat.")
    backend.add_replies(digest(), extraction(fact("Alice has a cat.", kind="possession")))
    segment_consolidate(segment_id=segment.pk)

    assert segment_consolidate(segment_id=segment.pk) is None

    assert Fact.objects.count() == 1
    assert len(backend.calls) == 2


def test_facts_pointing_at_unknown_messages_are_dropped(
    alice: User, backend: ScriptedBackend
) -> None:
    segment = segment_with(alice, "I like tea.")
    backend.add_replies(
        digest(), extraction(fact("Alice likes tea.", kind="preference", sources=[7]))
    )

    segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert segment.job_status == JobStatus.DONE
    assert not Fact.objects.exists()


def test_with_llm_stages_off_the_segment_still_gets_key_summary_and_embeddings(
    alice: User, backend: ScriptedBackend, settings: Any
) -> None:
    settings.MEMORY_LLM = "off"
    segment = segment_with(
        alice,
        "Hello!",
        "I am planning a trip to Japan in October with my sister Mia.",
        "ok",
        "We want to visit Kyoto and see the temples.",
    )

    segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert backend.calls == []
    assert segment.job_status == JobStatus.DONE
    assert segment.summary_source == "extractive"
    assert "Hello" not in segment.retrieval_key and "ok" not in segment.retrieval_key.split()
    assert "Kyoto" in segment.retrieval_key
    assert "japan" in segment.keywords
    assert segment.summary_embedding is not None


TRIP = ("Hello!", "I am planning a trip to Japan in October with my sister Mia.", "ok")
GARDEN = ("My tomatoes finally turned red this week.", "The basil is doing well too.")


def test_with_llm_stages_off_segments_consolidated_together_get_what_one_at_a_time_gives(
    alice: User, backend: ScriptedBackend, settings: Any
) -> None:
    settings.MEMORY_LLM = "off"
    bob = factories.user("bob")
    alone = segment_with(alice, *TRIP)
    segment_consolidate(segment_id=alone.pk)
    together = [segment_with(alice, *TRIP), segment_with(bob, *GARDEN), segment_with(alice, "Hi")]

    done = segments_consolidate(segment_ids=[s.pk for s in together])

    assert backend.calls == []
    assert {s.pk for s in done} == {s.pk for s in together}
    alone.refresh_from_db()
    trip, garden, greeting = (Segment.objects.get(pk=s.pk) for s in together)
    for segment in (trip, garden, greeting):
        assert segment.job_status == JobStatus.DONE and segment.claim is None
        assert segment.attempts == 1 and segment.summary_source == "extractive"
    assert (trip.retrieval_key, trip.summary, trip.title) == (
        alone.retrieval_key,
        alone.summary,
        alone.title,
    )
    assert np.allclose(trip.key_embedding, alone.key_embedding, atol=1e-5)
    assert np.allclose(trip.summary_embedding, alone.summary_embedding, atol=1e-5)
    # Each segment's text is made of its own owner's turns only.
    assert "tomatoes" in garden.retrieval_key and "Japan" not in garden.retrieval_key
    assert garden.owner_id == bob.pk and "tomatoes" not in trip.retrieval_key


def test_segments_consolidated_together_skip_those_not_due(
    alice: User, backend: ScriptedBackend, settings: Any
) -> None:
    settings.MEMORY_LLM = "off"
    done_before = segment_with(alice, *TRIP)
    segment_consolidate(segment_id=done_before.pk)
    before = Segment.objects.get(pk=done_before.pk)
    chat = factories.conversation(alice)
    open_segment = Segment.objects.create(
        owner=alice, conversation=chat, first_sequence=0, last_sequence=0,
        start_at=SPRING, end_at=SPRING,
    )  # fmt: skip
    pending = segment_with(alice, *GARDEN)

    done = segments_consolidate(segment_ids=[done_before.pk, open_segment.pk, pending.pk])

    assert [s.pk for s in done] == [pending.pk]
    after = Segment.objects.get(pk=done_before.pk)
    assert (after.attempts, after.consolidated_at) == (before.attempts, before.consolidated_at)
    open_segment.refresh_from_db()
    assert open_segment.job_status == JobStatus.PENDING and open_segment.key_embedding is None


def test_with_llm_stages_on_segments_are_consolidated_one_by_one_with_the_model(
    alice: User, backend: ScriptedBackend
) -> None:
    first, second = segment_with(alice, "I have a cat."), segment_with(alice, "I like tea.")
    backend.add_replies(
        digest("Cat"), extraction(fact("Alice has a cat.", kind="possession")),
        digest("Tea"), extraction(fact("Alice likes tea.", kind="preference")),
        decision("add"),  # the cat is a candidate the model rules out
    )  # fmt: skip

    done = segments_consolidate(segment_ids=[first.pk, second.pk])

    assert [s.title for s in done] == ["Cat", "Tea"]
    assert all(s.summary_source == "llm" and s.key_embedding is not None for s in done)
    assert active_texts(alice) == {"Alice has a cat.", "Alice likes tea."}


def test_another_users_identical_fact_is_never_a_candidate(
    alice: User, backend: ScriptedBackend
) -> None:
    bob = factories.user("bob")
    bobs = segment_with(bob, "I have a dog called Pixel.")
    backend.add_replies(
        digest(), extraction(fact("Alice has a dog named Pixel.", kind="possession"))
    )
    segment_consolidate(segment_id=bobs.pk)
    alices = segment_with(alice, "I have a dog called Pixel.")
    # Were Bob's fact a candidate, this identical text would be merged into it silently.
    backend.add_replies(
        digest(), extraction(fact("Alice has a dog named Pixel.", kind="possession"))
    )

    segment_consolidate(segment_id=alices.pk)

    assert Fact.objects.filter(owner=alice).count() == 1
    assert Fact.objects.filter(owner=bob).count() == 1
    assert len(backend.calls) == 4  # no decision was asked: nothing of Alice's was similar
    for source in Fact.objects.get(owner=alice).source_messages.all():
        assert source.owner_id == alice.pk


def test_undo_is_refused_when_a_later_change_touched_the_same_fact(
    alice: User, backend: ScriptedBackend
) -> None:
    berlin = segment_with(alice, "I live in Berlin.")
    backend.add_replies(digest(), extraction(fact("Alice lives in Berlin.")))
    segment_consolidate(segment_id=berlin.pk)
    lisbon = segment_with(alice, "I moved to Lisbon.")
    backend.add_replies(
        digest(), extraction(fact("Alice lives in Lisbon.")), decision("supersede", 1)
    )
    segment_consolidate(segment_id=lisbon.pk)
    first = MemoryChangeset.objects.get(segment=berlin)

    with pytest.raises(ValidationError, match="Later changes"):
        changeset_undo(changeset=first, owner=alice)

    assert Fact.objects.filter(owner=alice).count() == 2
