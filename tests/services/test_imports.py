"""Importing benchmark histories as users, and building their memory with the pipeline."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from memoryapp.evaluation.locomo_data import locomo_history, parse_sample
from memoryapp.evaluation.longmemeval_data import longmemeval_history, parse_question
from memoryapp.models import Conversation, JobStatus, Message, Segment
from memoryapp.services import imports
from memoryapp.services.imports import history_import, memory_build
from memoryapp.services.memory import consolidation, ingestion
from memoryapp.tasks import consolidate_segment
from tests import factories
from tests.evaluation.samples import LOCOMO_SAMPLE, LONGMEMEVAL, write_json

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_llm(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


def test_a_locomo_sample_becomes_a_user_with_a_conversation_per_session() -> None:
    result = history_import(history=locomo_history(parse_sample(LOCOMO_SAMPLE)), build_memory=False)

    user = result.user
    assert result.created and user.username == "locomo-conv-1"
    assert not user.has_usable_password()
    conversations = list(Conversation.objects.filter(owner=user).order_by("created_at"))
    assert [c.title for c in conversations] == ["Session 1", "Session 2"]
    assert conversations[0].updated_at.isoformat() == "2023-05-08T13:57:00+00:00"
    messages = list(conversations[0].messages.order_by("sequence"))
    assert [(m.sequence, m.role, m.speaker, m.external_id) for m in messages] == [
        (0, "user", "Ann", "D1:1"),
        (1, "assistant", "Bob", "D1:2"),
        (2, "user", "Ann", "D1:3"),
    ]
    assert messages[1].content.endswith("[shares a photo: a photo of a garden with red roses]")
    assert messages[2].created_at.isoformat() == "2023-05-08T13:57:00+00:00"
    assert {m.status for m in messages} == {Message.Status.DONE}
    assert (result.conversations, result.messages) == (2, 5)


def test_a_longmemeval_question_becomes_a_user_with_a_conversation_per_session() -> None:
    question = parse_question(LONGMEMEVAL[0])

    result = history_import(history=longmemeval_history(question), build_memory=False)

    messages = Message.objects.filter(owner=result.user, conversation__title="Session 2 (s2)")
    assert list(messages.order_by("sequence").values_list("external_id", "role", "speaker")) == [
        ("s2:0", "user", "user"),
        ("s2:1", "assistant", "assistant"),
        ("s2:2", "user", "user"),
        ("s2:3", "assistant", "assistant"),
    ]


def test_importing_again_keeps_the_existing_user_as_it_was() -> None:
    history = locomo_history(parse_sample(LOCOMO_SAMPLE))
    first = history_import(history=history, build_memory=False)

    again = history_import(history=history, build_memory=False)

    assert not again.created
    assert again.user == first.user
    assert User.objects.filter(username="locomo-conv-1").count() == 1
    assert Message.objects.filter(owner=first.user).count() == 5


def test_memory_is_built_for_every_message_and_every_segment_is_consolidated() -> None:
    result = history_import(history=locomo_history(parse_sample(LOCOMO_SAMPLE)))

    assert not Message.objects.filter(owner=result.user, segment=None).exists()
    segments = Segment.objects.filter(owner=result.user)
    assert result.segments == segments.count() >= 2  # two sessions weeks apart
    assert set(segments.values_list("status", "job_status")) == {
        (Segment.Status.CLOSED, JobStatus.DONE)
    }
    assert all(s.retrieval_key and s.key_embedding is not None for s in segments)


@pytest.mark.django_db(transaction=True)  # real commits, so on-commit hooks fire as in use
def test_the_build_consolidates_each_groups_segments_here_and_queues_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_task(*args: Any, **options: Any) -> Any:
        raise AssertionError("a consolidation was queued")

    monkeypatch.setattr(consolidate_segment, "apply_async", no_task)
    monkeypatch.setattr(imports, "EMBED_AHEAD", 3)
    consolidated: list[list[str]] = []
    consolidate = consolidation.segments_consolidate

    def recording(*, segment_ids: Any) -> Any:
        consolidated.append([str(pk) for pk in segment_ids])
        return consolidate(segment_ids=segment_ids)

    monkeypatch.setattr(imports, "segments_consolidate", recording)
    result = history_import(history=locomo_history(parse_sample(LOCOMO_SAMPLE)), build_memory=False)

    memory_build(owner=result.user)

    segments = Segment.objects.filter(owner=result.user).order_by("start_at")
    by_session = [[str(s.pk)] for s in segments]  # a group a session here, a segment each
    assert consolidated == by_session
    assert set(segments.values_list("job_status", flat=True)) == {JobStatus.DONE}


@pytest.mark.django_db(transaction=True)
def test_a_build_consolidates_the_segments_an_interrupted_one_left_pending() -> None:
    result = history_import(history=locomo_history(parse_sample(LOCOMO_SAMPLE)), build_memory=False)
    conversations = Conversation.objects.filter(owner=result.user).values_list("pk", flat=True)
    for conversation_id in conversations:
        ingestion.conversation_ingest(conversation_id=conversation_id, final=True, queue=False)
    segments = Segment.objects.filter(owner=result.user)
    assert set(segments.values_list("job_status", flat=True)) == {JobStatus.PENDING}

    memory_build(owner=result.user)

    assert set(segments.values_list("job_status", flat=True)) == {JobStatus.DONE}
    assert all(s.key_embedding is not None for s in segments)


def test_the_waiting_messages_of_several_conversations_are_embedded_together_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = history_import(history=locomo_history(parse_sample(LOCOMO_SAMPLE)), build_memory=False)
    bob = factories.user("bob")
    factories.message(factories.conversation(bob), "I moved to Lisbon.")
    monkeypatch.setattr(imports, "EMBED_AHEAD", 3)
    embedded: list[list[str]] = []
    embed = ingestion.messages_embed

    def recording_embed(messages: Any) -> None:
        embedded.append([m.external_id for m in messages])
        embed(messages)

    monkeypatch.setattr(imports, "messages_embed", recording_embed)
    progress: list[tuple[int, int]] = []

    memory_build(owner=result.user, progress=lambda done, total: progress.append((done, total)))

    # Session 1's three turns reach EMBED_AHEAD: session 2 is embedded on its own; never bob's.
    assert embedded == [["D1:1", "D1:2", "D1:3"], ["D2:1", "D2:2"]]
    assert progress == [(1, 2), (2, 2)]
    messages = Message.objects.filter(owner=result.user)
    assert not messages.filter(segment=None).exists()
    assert not messages.filter(embedding=None).exists()
    assert Message.objects.get(owner=bob).embedding is None


def test_building_one_user_leaves_other_users_conversations_alone() -> None:
    alice = factories.user("alice")
    chat = factories.conversation(alice)
    factories.message(chat, "I moved to Lisbon.")

    history_import(history=locomo_history(parse_sample(LOCOMO_SAMPLE)))

    assert Message.objects.get(owner=alice).segment_id is None
    assert not Segment.objects.filter(owner=alice).exists()


def test_the_import_command_reports_each_user_and_can_run_again(tmp_path: Path) -> None:
    data = write_json(tmp_path / "lme.json", LONGMEMEVAL[:1])

    first, again = StringIO(), StringIO()
    call_command("memory_import", "longmemeval", str(data), stdout=first)
    call_command("memory_import", "longmemeval", str(data), stdout=again)

    assert "lme-q1: imported; 2 conversations, 6 messages" in first.getvalue()
    assert "lme-q1: existed, memory build resumed; 2 conversations, 6 messages" in again.getvalue()
    assert User.objects.filter(username="lme-q1").count() == 1


def test_the_import_command_rejects_a_file_of_another_data_set(tmp_path: Path) -> None:
    data = write_json(tmp_path / "lme.json", LONGMEMEVAL)

    with pytest.raises(CommandError, match="not a LoCoMo file"):
        call_command("memory_import", "locomo", str(data), stdout=StringIO())
