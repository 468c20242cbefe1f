"""The export holds everything of its owner and nothing of anyone else, in a fixed order,
as plain JSON without a vector."""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp.embeddings import EMBEDDING_DIM
from memoryapp.models import (
    Conversation,
    Fact,
    FactProposal,
    MemberSettings,
    MemoryEvent,
    Message,
)
from memoryapp.services.memory.export import memory_export
from memoryapp.services.memory.journal import fact_snapshot
from tests.support.household import ALICE, BOB, PersonData

pytestmark = pytest.mark.django_db


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair at any depth of a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def test_it_holds_the_owners_conversations_messages_segments_and_facts(
    alice: User, alices: PersonData, bobs: PersonData
) -> None:
    document = memory_export(owner=alice)

    assert (document["format"], document["version"]) == ("memoryapp-export", 1)
    assert document["user"]["username"] == "alice"
    [conversation] = document["conversations"]
    assert conversation["id"] == str(alices.conversation.pk)
    assert conversation["title"] == f"{ALICE} chat"
    question, answer = conversation["messages"]
    assert (question["id"], question["role"], question["status"]) == (
        str(alices.question.pk), "user", "done",
    )  # fmt: skip
    assert question["content"] == alices.question.content
    assert answer["reply_to_id"] == str(alices.question.pk)
    assert [c["message_ids"] for c in answer["citations"]] == [[str(alices.question.pk)]]
    [segment] = document["segments"]
    assert segment["id"] == str(alices.segment.pk)
    assert segment["conversation_id"] == str(alices.conversation.pk)
    assert segment["title"] == f"{ALICE} bees"
    assert (segment["start_message_id"], segment["end_message_id"]) == (
        str(alices.question.pk), str(alices.answer.pk),
    )  # fmt: skip
    assert document["profile"]["summary"] == f"{ALICE} keeps bees."


def test_facts_carry_their_sources_history_and_successor(alice: User, alices: PersonData) -> None:
    facts = {fact["id"]: fact for fact in memory_export(owner=alice)["facts"]}

    fact, old_fact = facts[str(alices.fact.pk)], facts[str(alices.old_fact.pk)]
    assert fact["sources"] == [str(alices.question.pk)]
    assert [(e["id"], e["action"], e["after"]) for e in fact["history"]] == [
        (alices.event.pk, "add", {"text": alices.fact.text})
    ]
    assert old_fact["status"] == "superseded"
    assert old_fact["superseded_by_id"] == str(alices.fact.pk)
    [changeset] = memory_export(owner=alice)["changesets"]
    assert changeset["id"] == str(alices.changeset.pk)
    assert changeset["event_ids"] == [alices.event.pk]


def test_an_event_of_a_deleted_fact_stays_with_its_changeset(
    alice: User, alices: PersonData
) -> None:
    gone = MemoryEvent.objects.create(
        changeset=alices.changeset, owner=alice, action=MemoryEvent.Action.RETRACT
    )

    [changeset] = memory_export(owner=alice)["changesets"]

    assert changeset["event_ids"] == [alices.event.pk, gone.pk]
    assert [e["id"] for e in changeset["detached_events"]] == [gone.pk]


def test_nothing_of_another_person_is_in_it(
    alice: User, alices: PersonData, bobs: PersonData
) -> None:
    text = json.dumps(memory_export(owner=alice))

    assert BOB not in text
    for row in bobs.rows():
        if isinstance(row.pk, int):
            continue  # small integer ids say nothing on their own
        assert str(row.pk) not in text
    assert ALICE not in json.dumps(memory_export(owner=bobs.conversation.owner))


def test_two_exports_of_the_same_data_differ_only_in_their_time(
    alice: User, alices: PersonData
) -> None:
    first, second = memory_export(owner=alice), memory_export(owner=alice)

    assert first.pop("exported_at") <= second.pop("exported_at")
    assert first == second


def test_no_vector_is_exported_not_even_in_the_journal(alice: User, alices: PersonData) -> None:
    Fact.objects.filter(pk=alices.fact.pk).update(embedding=[0.5] * EMBEDDING_DIM)
    alices.fact.refresh_from_db()
    MemoryEvent.objects.filter(pk=alices.event.pk).update(after=fact_snapshot(alices.fact))

    document = memory_export(owner=alice)

    keys = {key for key, _ in _walk(document)}
    assert not keys & {"embedding", "key_embedding", "summary_embedding"}
    assert not any(
        isinstance(value, list) and len(value) == EMBEDDING_DIM for _, value in _walk(document)
    )
    [fact] = [f for f in document["facts"] if f["id"] == str(alices.fact.pk)]
    assert fact["history"][0]["after"]["text"] == alices.fact.text


def test_it_is_plain_json_with_zoned_iso_times(alice: User, alices: PersonData) -> None:
    document = memory_export(owner=alice)

    assert json.loads(json.dumps(document)) == document
    times = [document["exported_at"], document["conversations"][0]["messages"][0]["created_at"]]
    times += [document["segments"][0]["start_at"], document["facts"][0]["recorded_at"]]
    for value in times:
        assert datetime.datetime.fromisoformat(value).tzinfo is not None


def test_settings_are_the_persons_own_or_the_defaults(alice: User, bob: User) -> None:
    MemberSettings.objects.create(user=alice, admin_may_inspect=True, memory_paused=True)

    assert memory_export(owner=alice)["settings"] == {
        "admin_may_inspect": True,
        "memory_paused": True,
    }
    assert memory_export(owner=bob)["settings"] == {
        "admin_may_inspect": False,
        "memory_paused": False,
    }
    assert memory_export(owner=bob)["profile"] is None


def test_it_holds_incognito_external_ids_private_messages_and_user_edits(
    alice: User, alices: PersonData
) -> None:
    Conversation.objects.filter(pk=alices.conversation.pk).update(
        incognito=True, external_id="chatgpt-123"
    )
    Message.objects.filter(pk=alices.question.pk).update(private=True)
    edited_at = timezone.now()
    Fact.objects.filter(pk=alices.fact.pk).update(user_edited_at=edited_at)

    document = memory_export(owner=alice)

    [conversation] = document["conversations"]
    assert (conversation["incognito"], conversation["external_id"]) == (True, "chatgpt-123")
    assert [m["private"] for m in conversation["messages"]] == [True, False]
    facts = {fact["id"]: fact for fact in document["facts"]}
    assert facts[str(alices.fact.pk)]["user_edited_at"] == edited_at.isoformat()
    assert facts[str(alices.old_fact.pk)]["user_edited_at"] is None


def test_the_review_inbox_is_in_it_pending_and_rejected(
    alice: User, alices: PersonData, bobs: PersonData
) -> None:
    said_at = timezone.now()
    pending = FactProposal.objects.create(
        owner=alice,
        segment=alices.segment,
        action=FactProposal.Action.ADD,
        why=FactProposal.Why.UNSURE,
        text=f"{ALICE} may keep wasps.",
        confidence=0.4,
        said_at=said_at,
        source_message_ids=[alices.question.pk],
    )
    rejected = FactProposal.objects.create(
        owner=alice,
        action=FactProposal.Action.SUPERSEDE,
        why=FactProposal.Why.USER_EDITED,
        target=alices.fact,
        text=f"{ALICE} gave up bees.",
        said_at=said_at,
        status=FactProposal.Status.REJECTED,
        decided_at=said_at,
    )
    FactProposal.objects.create(
        owner=bobs.conversation.owner, action="add", why="unsure", text=BOB, said_at=said_at
    )

    proposals = memory_export(owner=alice)["proposals"]

    assert [p["id"] for p in proposals] == [str(pending.pk), str(rejected.pk)]
    assert proposals[0]["source_message_ids"] == [str(alices.question.pk)]
    assert proposals[0]["segment_id"] == str(alices.segment.pk)
    assert (proposals[1]["status"], proposals[1]["target_id"]) == ("rejected", str(alices.fact.pk))
    assert proposals[1]["decided_at"] == said_at.isoformat()
    assert "embedding" not in proposals[0]
