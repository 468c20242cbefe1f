"""The jobs of a conversation deleted before or while they run end quietly (INFO, no
traceback); and no answer waits for a conversation title (real worker processes)."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection

from memoryapp.llm import use_backend
from memoryapp.llm.base import Message as PromptMessage
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation, Fact, MemoryChangeset, Message, Segment
from memoryapp.services.conversations import conversation_delete, message_send
from memoryapp.tasks import answer_message, consolidate_segment, ingest_conversation, suggest_title
from tests import factories
from tests.support.scripted_llm import ScriptedBackendWithDefault, scripted_worker_env
from tests.support.workers import WorkerProcess

DIGEST = json.dumps(
    {"title": "Pets", "summary": "Alice talked about her dog.", "key": "Alice: my dog Pixel"}
)


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


def problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Records at WARNING or above, and any that carry a traceback."""
    return [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING or r.exc_info
    ]


def said_deleted(caplog: pytest.LogCaptureFixture) -> bool:
    return any(
        r.levelno == logging.INFO and r.name == "memoryapp.tasks" and "deleted" in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.django_db
@pytest.mark.parametrize("task", [ingest_conversation, suggest_title])
def test_a_job_for_a_conversation_deleted_before_it_ran_ends_quietly(
    task: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    result = task.apply(args=(str(uuid.uuid4()),))

    assert result.successful()
    assert problems(caplog) == []
    assert said_deleted(caplog)


@pytest.mark.django_db(transaction=True)  # the model runs on a thread of its own
def test_an_answer_whose_conversation_is_deleted_while_it_streams_ends_quietly(
    alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chat = factories.conversation(alice)
    _, answer = message_send(conversation=chat, content="Tell me a story.")

    def delete_midway(messages: Sequence[PromptMessage]) -> str:
        conversation_delete(conversation=Conversation.objects.get(pk=chat.pk))
        return " ".join(f"word{i}" for i in range(60))

    with use_backend(ScriptedBackend([delete_midway], delay=0.01)):
        result = answer_message.apply(args=(str(answer.pk),))

    assert result.successful()
    assert not Message.objects.filter(pk=answer.pk).exists()
    assert problems(caplog) == []
    assert said_deleted(caplog)


@pytest.mark.django_db(transaction=True)
def test_a_conversation_deleted_while_it_is_consolidated_is_forgotten_once_that_ends(
    alice: User, caplog: pytest.LogCaptureFixture, settings: Any
) -> None:
    """Deleting forgets under the person's memory lock, which a consolidation holds while
    the model works: the delete waits for it, then forgets what it learned too."""
    settings.MEMORY_LLM = "on"
    caplog.set_level(logging.INFO)
    chat = factories.conversation(alice)
    segment = factories.closed_segment(chat, [factories.message(chat, "My dog is Pixel.")])

    def delete() -> None:
        try:
            conversation_delete(conversation=Conversation.objects.get(pk=chat.pk))
        finally:
            connection.close()

    deleting = threading.Thread(target=delete)

    def delete_then_digest(messages: Sequence[PromptMessage]) -> str:
        deleting.start()
        return DIGEST

    found = {"text": "Alice has a dog.", "kind": "possession", "subject": "alice",
             "time": None, "confidence": 0.9, "sources": [1]}  # fmt: skip
    # Whatever else consolidation asks the model, it gets no facts.
    backend = ScriptedBackendWithDefault([], default=json.dumps({"facts": []}), delay=0)
    backend.add_replies(delete_then_digest, json.dumps({"facts": [found]}))
    with use_backend(backend):
        result = consolidate_segment.apply(args=(str(segment.pk),))
    deleting.join(timeout=60)

    assert result.successful() and result.result == "done"
    assert not Segment.objects.filter(pk=segment.pk).exists()
    assert not Fact.objects.filter(owner=alice).exists()
    forget = MemoryChangeset.objects.get(owner=alice, source=MemoryChangeset.Source.FORGET)
    assert "1 fact," in forget.reason  # learned first, then forgotten
    assert problems(caplog) == []


@pytest.mark.django_db(transaction=True)
def test_a_title_whose_conversation_is_deleted_meanwhile_ends_quietly(
    alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    chat = factories.conversation(alice)
    factories.message(chat, "Where should I go in May?")
    factories.message(chat, "Lisbon is lovely in May.", role=Message.Role.ASSISTANT)

    def delete_then_title(messages: Sequence[PromptMessage]) -> str:
        conversation_delete(conversation=Conversation.objects.get(pk=chat.pk))
        return "Lisbon in May"

    with use_backend(ScriptedBackend([delete_then_title])):
        result = suggest_title.apply(args=(str(chat.pk),))

    assert result.successful()
    assert not Conversation.objects.filter(pk=chat.pk).exists()
    assert problems(caplog) == []


def _scripted_worker(queue: str, queues: dict[str, str], replies: list[str]) -> WorkerProcess:
    worker = WorkerProcess(
        [queue],
        env={**queues, "MEMORY_LLM": "off", **scripted_worker_env(replies, default="Unasked")},
        include=["tests.support.scripted_llm"],
    ).start()
    worker.wait_for(worker.models_loaded, 120, "models loaded")
    return worker


def _finished(answer: Message) -> bool:
    answer.refresh_from_db()
    return answer.is_finished


@pytest.mark.django_db(transaction=True)
def test_no_answer_waits_for_a_title_which_the_memory_worker_suggests(
    alice: User, settings: Any
) -> None:
    # Queues of this test alone: jobs left in the shared ones by other tests stay out.
    suffix = uuid.uuid4().hex[:8]
    settings.CHAT_QUEUE, settings.MEMORY_QUEUE = f"chat-{suffix}", f"memory-{suffix}"
    queues = {"CHAT_QUEUE": settings.CHAT_QUEUE, "MEMORY_QUEUE": settings.MEMORY_QUEUE}
    chat = factories.conversation(alice)

    # Only a chat worker: the answers must not need anything the memory worker does.
    chat_worker = _scripted_worker(
        settings.CHAT_QUEUE, queues, ["Lisbon is lovely in May.", "Pack light clothes."]
    )
    try:
        _, first = message_send(conversation=chat, content="Where should I go in May?")
        chat_worker.wait_for(lambda: _finished(first), 60, "the first answer")
        _, second = message_send(conversation=chat, content="What should I pack?")
        chat_worker.wait_for(lambda: _finished(second), 60, "the second answer")
    finally:
        chat_worker.stop()

    # Had a chat job asked for a title, it would have taken the second answer's reply.
    assert (first.content, second.content) == ("Lisbon is lovely in May.", "Pack light clothes.")
    chat.refresh_from_db()
    assert chat.title == ""

    memory_worker = _scripted_worker(settings.MEMORY_QUEUE, queues, ["Lisbon in May"])
    try:
        memory_worker.wait_for(
            lambda: Conversation.objects.get(pk=chat.pk).title == "Lisbon in May",
            60,
            "the suggested title",
        )
    finally:
        memory_worker.stop()
