"""Conversation titles are made of the person's words, never the assistant's."""

from __future__ import annotations

import pytest

from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Message
from memoryapp.services.titles import conversation_title_suggest
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_title_is_suggested_from_the_persons_first_message_only() -> None:
    chat = factories.conversation(factories.user("alice"))
    question = factories.message(chat, "My sister moved to Lisbon last month.")
    factories.message(
        chat, "How lovely, Alberto! Alejandro must miss her.", role=Message.Role.ASSISTANT,
        reply_to=question,
    )  # fmt: skip
    backend = ScriptedBackend(["Sister moves to Lisbon"])

    with use_backend(backend):
        conversation_title_suggest(conversation=chat)

    (call,) = backend.calls
    prompt = call.messages[-1]["content"]
    assert "My sister moved to Lisbon last month." in prompt
    assert "Alberto" not in prompt
    chat.refresh_from_db()
    assert chat.title == "Sister moves to Lisbon"
