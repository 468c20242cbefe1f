"""Sleep-time work: stuck and failed jobs, near-duplicates, profiles, owner isolation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.models import Fact, JobStatus, MemoryChangeset, Profile, Segment
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
