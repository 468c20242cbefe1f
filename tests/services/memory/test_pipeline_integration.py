"""The whole memory pipeline on the real small llama.cpp model: it completes, whatever the
quality of what the model writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from memoryapp.models import Fact, JobStatus, Segment
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.ingestion import conversation_ingest
from memoryapp.services.memory.profile import profile_rebuild
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.integration]

SESSIONS = [
    [
        ("user", "Hi! I just adopted a beagle puppy and named him Pixel."),
        ("assistant", "Congratulations! How old is Pixel?"),
        ("user", "He is ten weeks old and already chews my shoes."),
        ("assistant", "Puppies chew while teething; give him chew toys."),
    ],
    [
        ("user", "I moved from Berlin to Lisbon last month for a new job."),
        ("assistant", "How are you finding Lisbon so far?"),
        ("user", "I love it, I work as a nurse at a hospital near the river."),
        ("assistant", "That sounds like a great change."),
    ],
]


def test_the_pipeline_completes_on_a_multi_session_conversation(settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    owner = factories.user("alice")
    chat = factories.conversation(owner)
    for day, session in enumerate(SESSIONS):
        start = datetime(2024, 6, 1 + 7 * day, 19, 0, tzinfo=UTC)
        for minute, (role, text) in enumerate(session):
            factories.message(chat, text, role=role, created_at=start + timedelta(minutes=minute))

    conversation_ingest(conversation_id=chat.pk, final=True)
    segments = list(Segment.objects.filter(conversation=chat))
    for segment in segments:
        segment_consolidate(segment_id=segment.pk)
    profile = profile_rebuild(owner=owner)

    assert len(segments) >= 2  # one per session at least (a week apart)
    for segment in Segment.objects.filter(conversation=chat):
        # Done, or waiting to retry output that never validated: never crashed, never stuck.
        assert segment.job_status in (JobStatus.DONE, JobStatus.RETRY), segment.last_error
        assert segment.retrieval_key and segment.key_embedding is not None
        assert segment.llm_calls >= 1
    assert all(f.owner_id == owner.pk for f in Fact.objects.all())
    assert profile.stale is False
