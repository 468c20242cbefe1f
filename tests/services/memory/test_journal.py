"""Undo puts every column of a fact back, its vector and model stamp included."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import numpy as np
import pytest
from django.contrib.auth.models import User

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Fact, FactSource, MemoryChangeset, MemoryEvent, Segment
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.journal import changeset_undo
from memoryapp.services.memory.upkeep import embeddings_refresh
from tests import factories

pytestmark = pytest.mark.django_db

DIGEST = json.dumps(
    {"title": "Pixel", "summary": "Alice talked about her dog.", "key": "Alice: my dog Pixel"}
)


@pytest.fixture(autouse=True)
def _llm_stages_on(settings: Any) -> None:
    settings.MEMORY_LLM = "on"


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


def extraction(text: str, kind: str = "possession") -> str:
    found = {"text": text, "kind": kind, "subject": "alice", "time": None, "confidence": 0.9}
    return json.dumps({"facts": [{**found, "sources": [1]}]})


def decision(action: str, target: int | None = None, text: str | None = None) -> str:
    return json.dumps({"action": action, "target": target, "text": text, "reason": "test"})


def consolidated(owner: User, line: str, *replies: str, backend: ScriptedBackend) -> Segment:
    chat = factories.conversation(owner)
    message = factories.message(chat, line, speaker=owner.get_username())
    segment = factories.closed_segment(chat, [message])
    backend.add_replies(DIGEST, *replies)
    segment_consolidate(segment_id=segment.pk)
    return segment


def fact_rows(owner: User) -> dict[UUID, dict[str, Any]]:
    """Every column of every fact of `owner` (vectors as lists), with its source messages."""
    columns = [field.attname for field in Fact._meta.concrete_fields]
    rows: dict[UUID, dict[str, Any]] = {}
    for row in Fact.objects.filter(owner=owner).values(*columns):
        if row["embedding"] is not None:
            row["embedding"] = [float(x) for x in row["embedding"]]
        row["sources"] = set(
            FactSource.objects.filter(fact_id=row["id"]).values_list("message_id", flat=True)
        )
        rows[row["id"]] = row
    return rows


def test_undoing_a_merge_restores_every_column_of_the_fact(
    alice: User, backend: ScriptedBackend
) -> None:
    consolidated(alice, "My dog is Pixel.", extraction("Alice has a dog."), backend=backend)
    before = fact_rows(alice)
    merging = consolidated(
        alice,
        "Pixel, my beagle, is two years old.",
        extraction("Alice owns a beagle called Pixel."),
        decision("merge", 1, "Alice has a two-year-old beagle named Pixel."),
        backend=backend,
    )
    merged = fact_rows(alice)
    assert merged.keys() == before.keys()
    (fact_id,) = before
    assert merged[fact_id]["text"] != before[fact_id]["text"]
    assert merged[fact_id]["embedding"] != before[fact_id]["embedding"]

    changeset_undo(changeset=MemoryChangeset.objects.get(segment=merging), owner=alice)

    assert fact_rows(alice) == before


def test_undoing_a_supersede_restores_the_old_fact_and_removes_the_new(
    alice: User, backend: ScriptedBackend
) -> None:
    consolidated(
        alice,
        "I live in Berlin.",
        extraction("Alice lives in Berlin.", "location"),
        backend=backend,
    )
    before = fact_rows(alice)
    moving = consolidated(
        alice,
        "I moved to Lisbon.",
        extraction("Alice lives in Lisbon.", "location"),
        decision("supersede", 1),
        backend=backend,
    )
    assert len(fact_rows(alice)) == 2

    changeset_undo(changeset=MemoryChangeset.objects.get(segment=moving), owner=alice)

    assert fact_rows(alice) == before


def test_an_event_recorded_without_the_vector_is_undone_and_re_embedded_by_the_upkeep(
    alice: User,
) -> None:
    """Events stored before snapshots carried the vector: the text comes back and the
    cleared model stamp makes the upkeep embed it again."""
    old_text, new_text = "Alice has a dog.", "Alice has a beagle named Pixel."
    fact = Fact.objects.create(
        owner=alice,
        text=new_text,
        embedding=embed_texts([new_text])[0].tolist(),
        embedding_model=model_fingerprint(),
    )
    legacy = {
        "id": str(fact.pk),
        "kind": "other",
        "subject": "user",
        "status": "active",
        "confidence": 0.8,
        "valid_from": None,
        "valid_to": None,
        "recorded_at": fact.recorded_at.isoformat(),
        "retired_at": None,
        "superseded_by": None,
        "segment": None,
        "sources": [],
    }
    changeset = MemoryChangeset.objects.create(owner=alice, source=MemoryChangeset.Source.SLEEP)
    MemoryEvent.objects.create(
        changeset=changeset,
        owner=alice,
        fact=fact,
        action=MemoryEvent.Action.MERGE,
        before={**legacy, "text": old_text},
        after={**legacy, "text": new_text},
    )

    changeset_undo(changeset=changeset, owner=alice)

    fact.refresh_from_db()
    assert (fact.text, fact.embedding_model) == (old_text, "")
    embeddings_refresh()
    fact.refresh_from_db()
    assert fact.embedding_model == model_fingerprint()
    stored = np.asarray(fact.embedding, dtype=np.float32)
    assert stored.tolist() == embed_texts([old_text])[0].tolist()
