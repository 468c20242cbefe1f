from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from memoryapp.models import Message
from memoryapp.services.conversations import (
    answer_retry,
    conversation_rename,
    message_send,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_sending_stores_the_question_and_a_pending_answer_then_queues_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    chat = factories.conversation(factories.user())

    with django_capture_on_commit_callbacks() as callbacks:
        question, answer = message_send(conversation=chat, content="Hello")

    assert (question.sequence, answer.sequence) == (0, 1)
    assert question.role == Message.Role.USER and question.status == Message.Status.DONE
    assert answer.status == Message.Status.PENDING and answer.reply_to == question
    assert len(callbacks) == 1  # the answer job, enqueued only once the rows are committed


def test_sequences_continue_across_exchanges() -> None:
    chat = factories.conversation(factories.user())
    message_send(conversation=chat, content="one")

    question, answer = message_send(conversation=chat, content="two")

    assert (question.sequence, answer.sequence) == (2, 3)


@pytest.mark.parametrize("content", ["", "   ", "\n\n"])
def test_empty_messages_are_refused(content: str) -> None:
    chat = factories.conversation(factories.user())

    with pytest.raises(ValidationError, match="Write a message first"):
        message_send(conversation=chat, content=content)
    assert not Message.objects.exists()


def test_over_long_messages_are_refused_with_the_limit(settings: Any) -> None:
    settings.CHAT_MESSAGE_MAX_CHARS = 100
    chat = factories.conversation(factories.user())

    with pytest.raises(ValidationError, match="the limit is 100"):
        message_send(conversation=chat, content="x" * 101)
    assert not Message.objects.exists()


def test_renaming_marks_the_title_as_the_users_own() -> None:
    chat = factories.conversation(factories.user())

    conversation_rename(conversation=chat, title="  Trip   to Lisbon ")

    chat.refresh_from_db()
    assert chat.title == "Trip to Lisbon"
    assert chat.title_is_custom


def test_retry_resets_a_failed_answer_in_place(django_capture_on_commit_callbacks: Any) -> None:
    chat = factories.conversation(factories.user())
    question = factories.message(chat, "Hi")
    failed = factories.message(
        chat,
        "partial",
        role=Message.Role.ASSISTANT,
        status=Message.Status.FAILED,
        reply_to=question,
        error="boom",
    )

    with django_capture_on_commit_callbacks() as callbacks:
        answer_retry(answer=failed)

    failed.refresh_from_db()
    assert (failed.status, failed.content, failed.error) == (Message.Status.PENDING, "", "")
    assert len(callbacks) == 1


def test_an_unfinished_answer_cannot_be_retried() -> None:
    chat = factories.conversation(factories.user())
    question = factories.message(chat, "Hi")
    streaming = factories.message(
        chat, "", role=Message.Role.ASSISTANT, status=Message.Status.STREAMING, reply_to=question
    )

    with pytest.raises(ValidationError):
        answer_retry(answer=streaming)
