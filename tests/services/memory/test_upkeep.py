"""Sleep-time work: stuck and failed jobs, near-duplicates, profiles, owner isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from memoryapp.embeddings import EMBEDDING_DIM, embed_texts, model_fingerprint
from memoryapp.models import (
    Fact,
    ImportJob,
    JobStatus,
    MemoryChangeset,
    Message,
    Profile,
    Segment,
)
from memoryapp.services.memory import upkeep
from memoryapp.services.memory.profile import profile_mark_stale, profile_rebuild
from memoryapp.services.memory.upkeep import (
    consolidations_requeue,
    embeddings_refresh,
    facts_merge_near_duplicates,
)
from tests import factories

pytestmark = pytest.mark.django_db


def _fact(owner: Any, text: str, **extra: Any) -> Fact:
    return Fact.objects.create(
        owner=owner,
        text=text,
        embedding=embed_texts([text])[0].tolist(),
        embedding_model=model_fingerprint(),
        **extra,
    )


def test_a_job_whose_worker_died_is_queued_again() -> None:
    chat = factories.conversation(factories.user())
    segment = factories.closed_segment(chat, [factories.message(chat, "hello there")])
    Segment.objects.filter(pk=segment.pk).update(
        job_status=JobStatus.RUNNING, in_flight_since=timezone.now() - timedelta(hours=2)
    )

    assert consolidations_requeue() == 1

    segment.refresh_from_db()
    assert segment.job_status == JobStatus.PENDING and segment.claim is None


def test_a_failed_job_is_retried_only_when_due() -> None:
    chat = factories.conversation(factories.user())
    segment = factories.closed_segment(chat, [factories.message(chat, "hello there")])
    later = timezone.now() + timedelta(minutes=5)
    Segment.objects.filter(pk=segment.pk).update(job_status=JobStatus.RETRY, next_attempt_at=later)

    assert consolidations_requeue() == 0

    Segment.objects.filter(pk=segment.pk).update(next_attempt_at=timezone.now())
    assert consolidations_requeue() == 1


def test_near_duplicates_merge_within_one_owner_only() -> None:
    alice, bob = factories.user(), factories.user()
    kept = _fact(alice, "Alice has a dog named Pixel.")
    _fact(alice, "Alice has a dog named Pixel")
    _fact(bob, "Alice has a dog named Pixel.")  # bob's memory, however similar, is his

    changeset = facts_merge_near_duplicates(owner=alice)

    assert changeset is not None and changeset.source == MemoryChangeset.Source.SLEEP
    assert list(Fact.objects.filter(owner=alice, status="active")) == [kept]
    assert Fact.objects.filter(owner=bob, status="active").count() == 1
    assert facts_merge_near_duplicates(owner=bob) is None


def test_of_near_duplicates_the_one_the_person_edited_is_kept() -> None:
    alice = factories.user()
    _fact(alice, "Alice has a dog named Pixel.")
    edited = _fact(alice, "Alice has a dog named Pixel", user_edited_at=timezone.now())

    facts_merge_near_duplicates(owner=alice)

    assert list(Fact.objects.filter(owner=alice, status="active")) == [edited]


def test_the_profile_is_rebuilt_from_active_facts_only(settings: Any) -> None:
    settings.MEMORY_LLM = "off"
    owner = factories.user()
    _fact(owner, "Alice lives in Lisbon.", kind="location")
    _fact(owner, "Alice lived in Berlin.", status="retracted", retired_at=timezone.now())
    profile_mark_stale(owner=owner)

    profile = profile_rebuild(owner=owner)

    assert "Lisbon" in profile.summary and "Berlin" not in profile.summary
    assert Profile.objects.get(owner=owner).stale is False


def test_rows_embedded_by_another_model_are_reembedded() -> None:
    owner = factories.user()
    fact = _fact(owner, "Alice plays the cello.")
    Fact.objects.filter(pk=fact.pk).update(embedding_model="old-model", embedding=[0.0] * 384)

    assert embeddings_refresh() == 1

    fact.refresh_from_db()
    assert fact.embedding_model == model_fingerprint()
    assert abs(float(sum(v * v for v in fact.embedding)) - 1.0) < 1e-3


def _unembedded_turns(owner: Any, count: int) -> list[Message]:
    """`count` remembered turns embedded by another model: the backfill's work."""
    chat = factories.conversation(owner)
    turns = [factories.message(chat, f"Turn {n} is about the garden.") for n in range(count)]
    Message.objects.filter(pk__in=[t.pk for t in turns]).update(
        embedding=[0.0] * EMBEDDING_DIM, embedding_model="an older model"
    )
    return turns


def _left(turns: list[Message]) -> int:
    fingerprint = model_fingerprint()
    ids = [t.pk for t in turns]
    return Message.objects.filter(pk__in=ids).exclude(embedding_model=fingerprint).count()


def test_the_backfill_goes_on_past_one_batch_while_the_machine_is_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(upkeep, "REEMBED_BATCH", 2)
    alice, bob = factories.user(), factories.user()
    turns = _unembedded_turns(alice, 3) + _unembedded_turns(bob, 2)

    assert upkeep.machine_idle()
    assert upkeep.embeddings_backfill() == 5

    assert _left(turns) == 0
    assert upkeep.embeddings_backfill() == 0


def _answer_streaming(owner: Any) -> None:
    chat = factories.conversation(owner)
    question = factories.message(chat, "What should I plant?")
    factories.message(
        chat, "", role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, reply_to=question
    )


def _consolidation_queued(owner: Any) -> None:
    chat = factories.conversation(owner)
    factories.closed_segment(chat, [factories.message(chat, "We moved to Porto.")])


def _consolidation_due_for_retry(owner: Any) -> None:
    chat = factories.conversation(owner)
    segment = factories.closed_segment(chat, [factories.message(chat, "We moved to Porto.")])
    Segment.objects.filter(pk=segment.pk).update(
        job_status=JobStatus.RETRY, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def _import_running(owner: Any) -> None:
    ImportJob.objects.create(
        owner=owner, format=ImportJob.Format.CHATGPT, filename="conversations.json",
        sha256="0" * 64, job_status=JobStatus.RUNNING,
    )  # fmt: skip


@pytest.mark.parametrize(
    "busy",
    [_answer_streaming, _consolidation_queued, _consolidation_due_for_retry, _import_running],
)
def test_the_backfill_does_one_batch_only_while_the_machine_is_busy(
    monkeypatch: pytest.MonkeyPatch, busy: Any
) -> None:
    monkeypatch.setattr(upkeep, "REEMBED_BATCH", 2)
    turns = _unembedded_turns(factories.user(), 5)
    # Anyone's work makes the machine busy: it is shared.
    busy(factories.user())

    assert not upkeep.machine_idle()
    assert upkeep.embeddings_backfill() == 2

    assert _left(turns) == 3


def test_work_that_waits_for_nothing_now_leaves_the_machine_idle() -> None:
    chat = factories.conversation(factories.user())
    question = factories.message(chat, "Hello?")
    factories.message(chat, "Hi!", role=Message.Role.ASSISTANT, reply_to=question)
    done = factories.closed_segment(chat, [question])
    Segment.objects.filter(pk=done.pk).update(job_status=JobStatus.DONE)
    later = factories.closed_segment(chat, [factories.message(chat, "We moved to Porto.")])
    Segment.objects.filter(pk=later.pk).update(
        job_status=JobStatus.RETRY, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    # An open segment is not waiting for consolidation yet.
    growing = factories.closed_segment(chat, [factories.message(chat, "And the garden?")])
    Segment.objects.filter(pk=growing.pk).update(status=Segment.Status.OPEN, closed_at=None)

    assert upkeep.machine_idle()


def test_the_backfill_stops_when_its_time_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upkeep, "REEMBED_BATCH", 2)
    turns = _unembedded_turns(factories.user(), 5)

    assert upkeep.embeddings_backfill(seconds=0) == 2

    assert _left(turns) == 3
