"""One long message without spaces (a run of one letter, Chinese, a URL) never breaks later
answers, in its conversation or in another one that remembers it (issue 13, finding 2)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client

from memoryapp.llm import use_backend
from memoryapp.models import Citation, Conversation, Message
from memoryapp.services.answering import answer_generate
from memoryapp.services.conversations import message_send
from tests import factories
from tests.support.long_messages import (
    CHINESE,
    LONG_MESSAGES,
    RUN_OF_ONE_LETTER,
    ByteTokenizer,
    utf8_bytes,
)
from tests.support.workers import WorkerProcess

QUESTION = "What is the capital of France?"


@pytest.fixture
def worker_env() -> dict[str, str]:
    # Answers of a few tokens: what is tested is the prompt, not the writing.
    return {"CHAT_ANSWER_MAX_TOKENS": "8"}


def _send(conversation: Conversation, content: str) -> Message:
    with transaction.atomic():
        _, answer = message_send(conversation=conversation, content=content)
    return answer


def _outcome(answer: Message) -> str:
    """ "done" for an answer with text, else its status and error."""
    answer.refresh_from_db()
    if answer.status == Message.Status.DONE and answer.content.strip():
        return "done"
    return f"{answer.status}: {answer.error!r}"


@pytest.mark.django_db
def test_a_message_that_alone_cannot_fit_fails_with_a_clear_error_and_the_next_is_answered(
    settings: Any, alice: User
) -> None:
    settings.CHAT_HISTORY_TOKENS = 40  # too little room to show a cut question
    chat = factories.conversation(alice)
    backend = ByteTokenizer(["Never shown.", "Paris."])

    with use_backend(backend):
        refused = _send(chat, RUN_OF_ONE_LETTER)
        answer_generate(answer_id=refused.pk)
        answered = _send(chat, QUESTION)
        answer_generate(answer_id=answered.pk)

    refused.refresh_from_db()
    assert refused.status == Message.Status.FAILED
    assert "message is too long" in refused.error
    assert _outcome(answered) == "done"
    assert len(backend.calls) == 1  # the model never saw the message it could not read


@pytest.mark.django_db
def test_an_answer_to_a_message_read_only_in_part_says_so_also_after_a_reload(
    alice: User, alice_client: Client
) -> None:
    chat = factories.conversation(alice)
    backend = ByteTokenizer(["Memory, over and over."])

    with use_backend(backend):
        answer = _send(chat, CHINESE)
        answer_generate(answer_id=answer.pk)

    assert _outcome(answer) == "done"
    (call,) = backend.calls
    read = utf8_bytes(call.messages[-1]["content"])
    note = (
        "Your message was too long for the model: it read only its last part "
        f"(about {read:,} of 13,500 tokens)."
    )
    assert answer.note == note
    page = alice_client.get(chat.get_absolute_url()).content.decode()
    assert note in page


@pytest.mark.django_db
def test_an_answer_to_a_message_read_whole_has_no_note(alice: User) -> None:
    chat = factories.conversation(alice)

    with use_backend(ByteTokenizer(["Paris."])):
        answer = _send(chat, QUESTION)
        answer_generate(answer_id=answer.pk)

    assert _outcome(answer) == "done" and answer.note == ""


@pytest.mark.django_db
def test_the_note_is_shown_as_text(alice: User, alice_client: Client) -> None:
    chat = factories.conversation(alice)
    factories.exchange(chat, "Hi", "Hello.", note="<b>Read</b> in part & so on")

    page = alice_client.get(chat.get_absolute_url()).content.decode()

    assert "&lt;b&gt;Read&lt;/b&gt; in part &amp; so on" in page and "<b>Read" not in page


def _answered(worker: WorkerProcess, conversation: Conversation, content: str) -> Message:
    answer = _send(conversation, content)
    worker.wait_for(lambda: _finished(answer), 240, "the answer")
    return answer


def _finished(answer: Message) -> bool:
    answer.refresh_from_db(fields=["status"])
    return answer.is_finished


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_later_answers_work_after_messages_without_spaces(
    worker: WorkerProcess, alice: User
) -> None:
    outcomes: dict[str, str] = {}
    same = factories.conversation(alice)
    for name, content in LONG_MESSAGES.items():
        outcomes[name] = _outcome(_answered(worker, same, content))
        outcomes[f"question after {name}"] = _outcome(_answered(worker, same, QUESTION))
    said = Message.objects.filter(conversation=same, content__in=LONG_MESSAGES.values())
    worker.wait_for(
        lambda: said.filter(embedding__isnull=False).count() == len(LONG_MESSAGES),
        240,
        "the long messages in memory",
    )

    other = _answered(worker, factories.conversation(alice), QUESTION)
    outcomes["question in another conversation"] = _outcome(other)

    assert outcomes == dict.fromkeys(outcomes, "done")
    # The other conversation's answer was given them as memory, and still fitted.
    remembered = {
        m
        for ids in Citation.objects.filter(answer=other).values_list("message_ids", flat=True)
        for m in ids
    }
    assert set(said.values_list("pk", flat=True)) <= remembered
