"""Incognito conversations and paused memory (`services.memory.privacy`): their messages are
chat history and their conversation's own context, but never segments, passages, facts or
retrieval. Through the real send, answer, ingestion, consolidation and retrieval path."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone

from memoryapp.llm import use_backend
from memoryapp.llm.base import Message as PromptMessage
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import (
    Conversation,
    Fact,
    MemberSettings,
    MemoryChangeset,
    Message,
    Passage,
    Segment,
)
from memoryapp.retrieval import context_for_answer, retrieve_units
from memoryapp.services.answering import answer_generate
from memoryapp.services.conversations import conversation_create, message_send
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.ingestion import conversation_ingest
from memoryapp.services.memory.privacy import (
    conversation_incognito_set,
    memory_pause_set,
    memory_paused,
)
from memoryapp.services.memory.transcript import memory_turn
from memoryapp.services.memory.upkeep import embeddings_refresh, ingestions_requeue_lost
from memoryapp.services.titles import conversation_title_suggest
from tests import factories

pytestmark = pytest.mark.django_db

# A word nobody would say by chance: wherever it turns up, a private message leaked.
SECRET = "quokkazephyr"


def _echo(messages: Sequence[PromptMessage]) -> str:
    """The chat's answer: repeats the question, so a private answer carries the secret too."""
    return f"Noted: {messages[-1]['content']}"


@pytest.fixture
def chat_model() -> Iterator[ScriptedBackend]:
    backend = ScriptedBackend()
    with use_backend(backend):
        yield backend


def _say(chat: Conversation, text: str, backend: ScriptedBackend) -> tuple[Message, Message]:
    """The person says `text`; the answer job answers it, as the chat worker would."""
    question, answer = message_send(conversation=chat, content=text)
    backend.add_replies(_echo)
    answer_generate(answer_id=answer.pk)
    question.refresh_from_db()
    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE
    return question, answer


def _texts_of_memory(owner: User) -> str:
    """Every text memory holds for the owner, in one string."""
    segments = Segment.objects.filter(owner=owner)
    return " ".join(
        [
            *Passage.objects.filter(owner=owner).values_list("text", flat=True),
            *(f"{s.title} {s.summary} {s.retrieval_key} {' '.join(s.keywords)}" for s in segments),
            *Fact.objects.filter(owner=owner).values_list("text", flat=True),
        ]
    )


def _retrieved_text(owner: User, question: str) -> str:
    units = retrieve_units(owner=owner, question=question, now=timezone.now(), token_budget=2048)
    return " ".join(unit.text for unit in units)


def _retrieved_ids(owner: User, question: str) -> set[Any]:
    units = retrieve_units(owner=owner, question=question, now=timezone.now(), token_budget=2048)
    return {message_id for unit in units for message_id in unit.message_ids}


# --- Marking -----------------------------------------------------------------------------


def test_memory_is_not_paused_without_settings_and_pausing_is_per_person(
    alice: User, bob: User
) -> None:
    assert memory_paused(owner=alice) is False
    assert not MemberSettings.objects.filter(user=alice).exists()

    memory_pause_set(owner=alice, paused=True)

    assert memory_paused(owner=alice) is True
    assert memory_paused(owner=bob) is False
    memory_pause_set(owner=alice, paused=False)
    assert memory_paused(owner=alice) is False


def test_messages_of_an_incognito_conversation_are_private(
    alice: User, chat_model: ScriptedBackend
) -> None:
    chat = conversation_create(owner=alice, incognito=True)

    question, answer = _say(chat, "Keep this between us.", chat_model)

    assert chat.incognito
    assert question.private and answer.private


def test_messages_sent_while_memory_is_paused_are_private_in_every_conversation(
    alice: User, bob: User, chat_model: ScriptedBackend
) -> None:
    first, second = factories.conversation(alice), factories.conversation(alice)
    bobs_chat = factories.conversation(bob)
    memory_pause_set(owner=alice, paused=True)

    paused = [*_say(first, "One.", chat_model), *_say(second, "Two.", chat_model)]
    bobs = _say(bobs_chat, "Bob is not paused.", chat_model)
    memory_pause_set(owner=alice, paused=False)
    resumed = _say(first, "Three.", chat_model)

    assert all(message.private for message in paused)
    assert not any(message.private for message in [*bobs, *resumed])
    for message in paused:  # resuming leaves what was said meanwhile out of memory
        message.refresh_from_db()
        assert message.private


def test_an_answer_stored_after_memory_was_paused_is_private(
    alice: User, chat_model: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    question, answer = message_send(conversation=chat, content="Before the pause.")
    memory_pause_set(owner=alice, paused=True)  # while the answer waits for the worker

    chat_model.add_replies(_echo)
    answer_generate(answer_id=answer.pk)

    question.refresh_from_db()
    answer.refresh_from_db()
    assert not question.private
    assert answer.private and answer.status == Message.Status.DONE


def test_an_answer_to_a_private_question_stays_private_after_resuming(
    alice: User, chat_model: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    memory_pause_set(owner=alice, paused=True)
    _, answer = message_send(conversation=chat, content="During the pause.")
    memory_pause_set(owner=alice, paused=False)

    chat_model.add_replies(_echo)
    answer_generate(answer_id=answer.pk)

    answer.refresh_from_db()
    assert answer.private


def test_switching_incognito_off_lets_new_messages_in_and_keeps_earlier_ones_private(
    alice: User, chat_model: ScriptedBackend
) -> None:
    chat = conversation_create(owner=alice, incognito=True)
    earlier = _say(chat, "Said while incognito.", chat_model)

    conversation_incognito_set(conversation=chat, incognito=False)
    later = _say(chat, "Said after.", chat_model)

    chat.refresh_from_db()
    assert chat.incognito is False
    for message in earlier:
        message.refresh_from_db()
        assert message.private
    assert not any(message.private for message in later)


def test_switching_to_the_state_it_has_changes_nothing(alice: User) -> None:
    chat = conversation_create(owner=alice, incognito=True)
    factories.message(chat, "Already private.", private=True)

    conversation_incognito_set(conversation=chat, incognito=True)

    assert not MemoryChangeset.objects.filter(owner=alice).exists()


def test_an_incognito_conversation_is_still_given_a_title(alice: User) -> None:
    chat = conversation_create(owner=alice, incognito=True)
    factories.message(chat, "Plans for a surprise party for Ingrid.", private=True)

    with use_backend(ScriptedBackend(["Surprise party plans"])):
        conversation_title_suggest(conversation=chat)

    chat.refresh_from_db()
    assert chat.title == "Surprise party plans"  # chat history, like the messages


# --- Never in memory ---------------------------------------------------------------------


@pytest.fixture
def memory_model(settings: Any) -> Iterator[ScriptedBackend]:
    """Memory's model stages on: any text that reached a segment is in these prompts, and
    the fact extraction would make a fact of every person's line it was shown."""
    settings.MEMORY_LLM = "on"
    settings.MEMORY_LLM_BOUNDARY_CHECK = False

    def reply(messages: Sequence[PromptMessage]) -> str:
        prompt = messages[-1]["content"]
        if prompt.startswith("Below is a part of a conversation about one topic"):
            return json.dumps(
                {
                    "title": "Animals in the garden",
                    "summary": "Alice talked about the animals in her garden.",
                    "key": "Alice: garden animals",
                }
            )
        if prompt.startswith("Below is part of a conversation. Each message has a number"):
            lines = [line for line in prompt.splitlines() if line.startswith("[")]
            facts = [
                {"text": line, "kind": "other", "subject": "alice", "time": None,
                 "confidence": 0.9, "sources": [number]}
                for number, line in enumerate(lines, start=1)
            ]  # fmt: skip
            return json.dumps({"facts": facts})
        if prompt.startswith("A memory of facts about a person is being updated"):
            return json.dumps({"action": "add", "target": None, "text": None, "reason": "new"})
        return "A person who keeps animals."

    backend = ScriptedBackend([reply] * 100)
    with use_backend(backend):
        yield backend


def _consolidate(conversation: Conversation) -> None:
    conversation_ingest(conversation_id=conversation.pk, final=True)
    for segment in Segment.objects.filter(conversation=conversation):
        segment_consolidate(segment_id=segment.pk)


def test_incognito_and_paused_messages_never_reach_segments_passages_facts_or_retrieval(
    alice: User, chat_model: ScriptedBackend, memory_model: ScriptedBackend
) -> None:
    garden = factories.conversation(alice)
    hidden = conversation_create(owner=alice, incognito=True)
    with use_backend(chat_model):
        _say(garden, "I keep bees in my garden. They make honey every summer.", chat_model)
        memory_pause_set(owner=alice, paused=True)
        paused = _say(garden, f"My locker code is {SECRET}. Please keep it safe.", chat_model)
        memory_pause_set(owner=alice, paused=False)
        _say(garden, "I also keep chickens in my garden. They lay eggs daily.", chat_model)
        incognito = _say(hidden, f"My hive is called {SECRET}. The bees love it.", chat_model)

    for chat in (garden, hidden):
        _consolidate(chat)

    private_ids = {m.pk for m in [*paused, *incognito]}
    assert Segment.objects.filter(conversation=garden).exists()
    assert not Segment.objects.filter(conversation=hidden).exists()
    assert Fact.objects.filter(owner=alice).exists()  # the extraction ran on the rest
    assert SECRET not in _texts_of_memory(alice)
    assert all(SECRET not in call.messages[-1]["content"] for call in memory_model.calls)
    private = Message.objects.filter(pk__in=private_ids)
    assert {(m.segment_id, m.embedding, m.passages_model) for m in private} == {(None, None, "")}
    assert not Passage.objects.filter(message__in=private_ids).exists()
    for question in (f"What is {SECRET}?", "What do I keep in my garden?", "my locker code"):
        assert SECRET not in _retrieved_text(alice, question)
        assert not _retrieved_ids(alice, question) & private_ids


def test_a_private_turn_next_to_a_found_one_is_not_brought_in_with_it(alice: User) -> None:
    # A transcript of two people: both speakers' turns are memory, side by side.
    chat = factories.conversation(alice)
    people: dict[str, Any] = {"role": Message.Role.ASSISTANT, "by_person": True}
    found = factories.message(chat, "Caroline keeps bees in her garden.", **people)
    hidden = factories.message(chat, f"Caroline's locker code is {SECRET}.", private=True, **people)
    factories.message(chat, "Caroline also keeps chickens in her garden.", **people)
    conversation_ingest(conversation_id=chat.pk, final=True)

    question = "What does Caroline keep in her garden?"
    assert found.pk in _retrieved_ids(alice, question)
    assert hidden.pk not in _retrieved_ids(alice, question)
    assert SECRET not in _retrieved_text(alice, question)


def test_a_private_answer_is_never_the_context_of_the_reply_after_it(alice: User) -> None:
    chat = factories.conversation(alice)
    answer = factories.message(
        chat, f"Your locker code is {SECRET}. Anything else?", role="assistant", private=True
    )
    reply = factories.message(chat, "No, that was all about the locker code.")

    turn = memory_turn(reply, answer)

    assert turn.context is None and turn.context_text == ""


def test_the_upkeep_leaves_private_messages_alone(alice: User, chat_model: ScriptedBackend) -> None:
    hidden = conversation_create(owner=alice, incognito=True)
    _say(hidden, f"My hive is called {SECRET}. The bees love it.", chat_model)
    Message.objects.filter(conversation=hidden).update(
        created_at=timezone.now() - timedelta(hours=1)
    )

    assert ingestions_requeue_lost() == 0
    embeddings_refresh()

    assert not Message.objects.filter(conversation=hidden).exclude(embedding=None).exists()
    assert not Passage.objects.filter(owner=alice).exists()


def test_the_conversations_own_context_still_has_its_private_messages(
    alice: User, chat_model: ScriptedBackend
) -> None:
    hidden = conversation_create(owner=alice, incognito=True)
    _say(hidden, f"My hive is called {SECRET}. The bees love it.", chat_model)
    _, answer = message_send(conversation=hidden, content="What is my hive called?")

    context = context_for_answer(answer=answer)
    chat_model.add_replies(_echo)
    answer_generate(answer_id=answer.pk)

    assert any(SECRET in turn.content for turn in context.turns)
    assert not any(SECRET in unit.text for unit in context.units)
    prompt = " ".join(m["content"] for m in chat_model.calls[-1].messages)
    assert SECRET in prompt  # the model answering in this conversation read it


def test_switching_incognito_on_later_forgets_what_was_learned_from_the_conversation(
    alice: User, bob: User, chat_model: ScriptedBackend, memory_model: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    bobs_chat = factories.conversation(bob)
    with use_backend(chat_model):
        said = [
            *_say(chat, f"My hive is called {SECRET}. The bees love it.", chat_model),
            *_say(chat, "The honey is ready every August. I sell it.", chat_model),
        ]
        _say(bobs_chat, f"Bob's dog is called {SECRET}. He barks a lot.", chat_model)
    _consolidate(chat)
    _consolidate(bobs_chat)
    assert SECRET in _texts_of_memory(alice)
    assert SECRET in _retrieved_text(alice, f"What is {SECRET}?")

    conversation_incognito_set(conversation=chat, incognito=True)

    chat.refresh_from_db()
    assert chat.incognito
    assert Message.objects.filter(conversation=chat).count() == len(said)  # chat history stays
    assert not Message.objects.filter(conversation=chat).filter(
        Q(private=False) | Q(segment__isnull=False) | Q(embedding__isnull=False)
    )
    assert not Segment.objects.filter(conversation=chat).exists()
    assert SECRET not in _texts_of_memory(alice)
    assert SECRET not in _retrieved_text(alice, f"What is {SECRET}?")
    assert MemoryChangeset.objects.filter(
        owner=alice, source=MemoryChangeset.Source.FORGET
    ).exists()
    # Bob's memory is his own: untouched.
    assert SECRET in _texts_of_memory(bob)
    assert SECRET in _retrieved_text(bob, f"What is {SECRET}?")
    # And nothing comes back when the conversation is ingested again.
    _consolidate(chat)
    assert not Segment.objects.filter(conversation=chat).exists()
