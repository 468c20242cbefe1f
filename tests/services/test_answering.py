"""The answer job, with a scripted model behind the adapter."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp.llm import ModelNotFound, use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation, Message
from memoryapp.services.answer_control import answer_stop_request
from memoryapp.services.answering import answer_generate, answers_requeue_stale
from memoryapp.services.conversations import message_send
from memoryapp.tasks import answer_message
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner() -> User:
    return factories.user("alice")


@pytest.fixture
def chat(owner: User) -> Conversation:
    return factories.conversation(owner)


def _ask(chat: Conversation, text: str = "What is the capital of Portugal?") -> Message:
    _, answer = message_send(conversation=chat, content=text)
    return answer


def test_answer_is_streamed_and_stored_without_waiting_for_a_title(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    backend.add_replies("Lisbon is the **capital**.")
    answer = _ask(chat)

    answer_message.apply(args=(str(answer.pk),))

    answer.refresh_from_db()
    chat.refresh_from_db()
    assert answer.status == Message.Status.DONE
    assert answer.content == "Lisbon is the **capital**."
    assert answer.model_name == "scripted"
    assert answer.token_count == 9  # the scripted tokenizer counts each "*"
    assert answer.in_flight_since is None
    assert chat.title == ""  # suggested by the memory worker (tests/test_tasks.py)
    assert len(backend.calls) == 1
    # The model saw the system prompt and the question.
    prompt = backend.calls[0].messages
    assert prompt[0]["role"] == "system"
    assert prompt[-1] == {"role": "user", "content": "What is the capital of Portugal?"}


def test_a_redelivered_job_does_not_answer_twice(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    backend.add_replies("First answer.")
    answer = _ask(chat)

    answer_message.apply(args=(str(answer.pk),))
    answer_message.apply(args=(str(answer.pk),))  # the broker delivered it again

    answer.refresh_from_db()
    assert answer.content == "First answer."
    assert len(backend.calls) == 1
    assert Message.objects.filter(conversation=chat, role="assistant").count() == 1


def test_a_failing_model_marks_the_answer_failed_with_a_visible_error(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    backend.add_replies(ModelNotFound("/models/missing.gguf"))
    answer = _ask(chat)

    answer_message.apply(args=(str(answer.pk),))

    answer.refresh_from_db()
    assert answer.status == Message.Status.FAILED
    assert "missing.gguf" in answer.error
    assert answer.finished_at is not None


def test_a_timed_out_answer_keeps_what_was_written(chat: Conversation, settings: Any) -> None:
    settings.LLM_TIMEOUT_SECONDS = 0.5
    answer = _ask(chat)
    slow = ScriptedBackend(["one two three four five six seven eight nine ten"], delay=0.2)

    with use_backend(slow):
        answer_generate(answer_id=answer.pk)

    answer.refresh_from_db()
    assert answer.status == Message.Status.FAILED
    assert "did not finish" in answer.error
    assert answer.content.startswith("one")
    assert len(answer.content) < len("one two three four five six seven eight nine ten")


def test_stop_keeps_the_partial_answer(chat: Conversation) -> None:
    answer = _ask(chat)
    words = " ".join(f"w{i}" for i in range(40))

    def stop_midway(messages: object) -> str:
        answer_stop_request(answer=answer)
        return words

    with use_backend(ScriptedBackend([stop_midway], delay=0.02)):
        answer_generate(answer_id=answer.pk)

    answer.refresh_from_db()
    assert answer.status == Message.Status.STOPPED
    assert answer.content.startswith("w0")
    assert len(answer.content) < len(words)


def test_stop_before_the_worker_starts_skips_the_model(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    answer = _ask(chat)

    answer_stop_request(answer=answer)
    answer_message.apply(args=(str(answer.pk),))

    answer.refresh_from_db()
    assert answer.status == Message.Status.STOPPED
    assert backend.calls == []


def test_stale_answers_are_requeued_then_failed_after_their_attempts(
    chat: Conversation,
) -> None:
    answer = _ask(chat)
    long_ago = timezone.now() - timedelta(hours=1)
    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.STREAMING, in_flight_since=long_ago, attempts=1
    )

    assert answers_requeue_stale() == 1
    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING

    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.STREAMING, in_flight_since=long_ago, attempts=3
    )
    assert answers_requeue_stale() == 1
    answer.refresh_from_db()
    assert answer.status == Message.Status.FAILED
    assert "interrupted" in answer.error


def test_fresh_answers_are_left_alone(chat: Conversation) -> None:
    _ask(chat)

    assert answers_requeue_stale() == 0
