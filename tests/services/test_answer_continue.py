"""Continue: an answer cut at the token cap is extended in place by the answer job."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.llm import LLMRetryableError, use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Citation, Conversation, Message
from memoryapp.selectors.answers import answer_can_continue
from memoryapp.services.answer_control import answer_stop_request
from memoryapp.services.conversations import answer_continue, answer_retry, message_send
from memoryapp.services.memory.ingestion import messages_embed
from memoryapp.services.memory.upkeep import embeddings_refresh
from memoryapp.services.notifications import conversation_group
from memoryapp.tasks import answer_message
from tests import factories

pytestmark = pytest.mark.django_db

QUESTION = "What is the capital of Portugal?"
FULL = "Lisbon is the capital of Portugal and also its largest city by far."
CUT_TEXT = "Lisbon is the capital of Portugal"  # its first 6 tokens
REST = "and also its largest city by far."


@pytest.fixture
def owner() -> User:
    return factories.user("alice")


@pytest.fixture
def chat(owner: User) -> Conversation:
    return factories.conversation(owner, title="Capitals")


@pytest.fixture
def backend(settings: Any) -> Iterator[ScriptedBackend]:
    settings.CHAT_ANSWER_MAX_TOKENS = 6
    scripted = ScriptedBackend()
    with use_backend(scripted):
        yield scripted


def _cut_answer(chat: Conversation, backend: ScriptedBackend) -> Message:
    backend.add_replies(FULL)
    _, answer = message_send(conversation=chat, content=QUESTION)
    answer_message.apply(args=(str(answer.pk),))
    answer.refresh_from_db()
    return answer


def _run(answer: Message) -> Message:
    answer_message.apply(args=(str(answer.pk),))
    answer.refresh_from_db()
    return answer


def test_an_answer_stopped_by_the_cap_is_marked_cut(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    answer = _cut_answer(chat, backend)

    assert answer.status == Message.Status.DONE
    assert answer.content == CUT_TEXT
    assert answer.finish_reason == "length"
    assert answer.token_count == 6


def test_an_answer_the_model_ended_is_marked_stop(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    backend.add_replies("Lisbon.")
    _, answer = message_send(conversation=chat, content=QUESTION)

    answer = _run(answer)

    assert answer.finish_reason == "stop"
    assert answer.content == "Lisbon."


def test_continue_appends_the_rest_to_the_same_answer(
    chat: Conversation, backend: ScriptedBackend, settings: Any
) -> None:
    answer = _cut_answer(chat, backend)
    settings.CHAT_ANSWER_MAX_TOKENS = 50
    backend.add_replies(REST)

    answer_continue(answer=answer)
    answer.refresh_from_db()
    assert answer.status == Message.Status.PENDING
    assert answer.content == CUT_TEXT  # kept while the rest is written
    answer = _run(answer)

    assert answer.status == Message.Status.DONE
    assert answer.content == FULL
    assert answer.finish_reason == "stop"
    assert Message.objects.filter(conversation=chat).count() == 2  # the same answer
    # The model saw the conversation, its cut answer, and the request to go on.
    prompt = backend.calls[1].messages
    assert prompt[0]["role"] == "system"
    assert prompt[-3] == {"role": "user", "content": QUESTION}
    assert prompt[-2] == {"role": "assistant", "content": CUT_TEXT}
    assert prompt[-1]["role"] == "user"
    assert "Continue it exactly where it stopped" in prompt[-1]["content"]


def test_a_continuation_cut_again_is_cut_at_the_sum_of_its_tokens(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    answer = _cut_answer(chat, backend)
    backend.add_replies(REST)

    answer_continue(answer=answer)
    answer = _run(answer)

    assert answer.content == CUT_TEXT + " and also its largest city by"
    assert answer.finish_reason == "length"
    assert answer.token_count == 12
    answer_continue(answer=answer)  # and it can be continued again


@pytest.mark.parametrize(
    "continuation",
    ["and also its largest.", f"{CUT_TEXT} and also its largest."],
    ids=["goes-on", "starts-over"],
)
def test_only_the_new_text_is_streamed(
    chat: Conversation, backend: ScriptedBackend, settings: Any, continuation: str
) -> None:
    answer = _cut_answer(chat, backend)
    settings.CHAT_ANSWER_MAX_TOKENS = 50
    backend.add_replies(continuation)
    answer_continue(answer=answer)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(conversation_group(chat.pk), channel)
    try:
        _run(answer)
        frames = async_to_sync(_drain)(layer, channel)
    finally:
        async_to_sync(layer.group_discard)(conversation_group(chat.pk), channel)

    streamed = [f for f in frames if f.startswith(f'<div id="stream-{answer.pk}"')]
    assert streamed
    assert all("Lisbon" not in f for f in streamed)
    assert "and also its largest." in streamed[-1]
    final = frames[-1]  # the whole answer, rendered once it is finished
    assert f'id="msg-{answer.pk}"' in final
    assert "Lisbon is the capital of Portugal and also its largest." in final


async def _drain(layer: Any, channel: str) -> list[str]:
    frames: list[str] = []
    while True:
        try:
            event = await asyncio.wait_for(layer.receive(channel), timeout=1)
        except TimeoutError:
            return frames
        frames.append(event["html"])


def test_a_failed_continuation_keeps_the_answer_whole_and_continuable(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    answer = _cut_answer(chat, backend)
    assert answer.reply_to is not None
    factories.citation(answer, 1, [answer.reply_to.pk], kind="message", cited=True)
    backend.add_replies(LLMRetryableError("the model crashed"))

    answer_continue(answer=answer)
    answer = _run(answer)

    assert answer.status == Message.Status.DONE
    assert answer.content == CUT_TEXT
    assert answer.finish_reason == "length"
    assert answer.error.startswith("The answer could not be continued.")
    assert "the model crashed" in answer.error
    assert list(Citation.objects.filter(answer=answer).values_list("number", flat=True)) == [1]
    backend.add_replies(REST)
    answer_continue(answer=answer)  # Retry
    answer = _run(answer)
    assert answer.error == ""
    assert answer.content == CUT_TEXT + " and also its largest city by"


def test_a_continuation_stopped_before_it_starts_leaves_the_answer_as_it_was(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    answer = _cut_answer(chat, backend)
    answer_continue(answer=answer)
    answer.refresh_from_db()
    answer_stop_request(answer=answer)

    answer = _run(answer)

    assert answer.status == Message.Status.STOPPED
    assert answer.content == CUT_TEXT
    assert answer.finish_reason == "length"
    assert len(backend.calls) == 1
    assert answer_can_continue(answer=answer)  # its Retry continues it


def test_continue_is_refused_for_an_answer_that_was_not_cut(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    backend.add_replies("Lisbon.")
    _, answer = message_send(conversation=chat, content=QUESTION)
    answer = _run(answer)

    with pytest.raises(ValidationError):
        answer_continue(answer=answer)

    answer.refresh_from_db()
    assert answer.status == Message.Status.DONE


def test_continue_is_refused_once_a_later_message_was_sent(
    chat: Conversation, backend: ScriptedBackend
) -> None:
    answer = _cut_answer(chat, backend)
    message_send(conversation=chat, content="Thanks!")

    with pytest.raises(ValidationError):
        answer_continue(answer=answer)


def test_retry_of_a_cut_answer_starts_it_over(chat: Conversation, backend: ScriptedBackend) -> None:
    answer = _cut_answer(chat, backend)
    answer.status = Message.Status.STOPPED  # retry is offered for stopped answers
    answer.save(update_fields=["status"])
    backend.add_replies("Lisbon.")

    answer_retry(answer=answer)
    answer = _run(answer)

    assert answer.content == "Lisbon."
    assert answer.finish_reason == "stop"


def test_memory_embeds_the_continued_text(chat: Conversation, backend: ScriptedBackend) -> None:
    answer = _cut_answer(chat, backend)
    fingerprint = model_fingerprint()
    Message.objects.filter(pk=answer.pk).update(
        embedding=embed_texts([CUT_TEXT])[0].tolist(), embedding_model="an older model"
    )
    backend.add_replies("and also its largest.")
    read = Message.objects.get(pk=answer.pk)  # an ingestion (or the upkeep) reads the cut text
    answer_continue(answer=answer)
    # ...and stores its vector while the rest is written.
    messages_embed([read])

    answer = _run(answer)
    assert answer.embedding_model == ""
    embeddings_refresh()

    answer.refresh_from_db()
    assert answer.embedding_model == fingerprint
    expected = embed_texts(["Lisbon is the capital of Portugal and also its largest."])[0]
    assert np.allclose(np.asarray(answer.embedding), expected, atol=1e-5)


def test_a_continuation_stopped_midway_keeps_both_parts(
    chat: Conversation, backend: ScriptedBackend, settings: Any
) -> None:
    answer = _cut_answer(chat, backend)
    settings.CHAT_ANSWER_MAX_TOKENS = 100
    words = " ".join(f"w{i}" for i in range(60))

    def stop_midway(messages: object) -> str:
        answer_stop_request(answer=answer)
        return words

    answer_continue(answer=answer)
    with use_backend(ScriptedBackend([stop_midway], delay=0.02)):
        answer = _run(answer)

    assert answer.status == Message.Status.STOPPED
    assert answer.finish_reason == "stop"
    # The stop is seen at the first check, 0.2 s in: how many words came before it depends
    # on the machine's load, but the first always does.
    assert answer.content.startswith(CUT_TEXT + " w0")
    assert len(answer.content) < len(CUT_TEXT) + len(words)
    assert not answer_can_continue(answer=answer)  # stopped on purpose: Retry starts over


def test_a_timed_out_continuation_keeps_what_it_wrote(
    chat: Conversation, backend: ScriptedBackend, settings: Any
) -> None:
    answer = _cut_answer(chat, backend)
    settings.CHAT_ANSWER_MAX_TOKENS = 100
    # The first word comes after 0.5 s, well inside the 2 s limit even on a loaded machine;
    # all seven would take 3.5 s.
    settings.LLM_TIMEOUT_SECONDS = 2
    answer_continue(answer=answer)

    with use_backend(ScriptedBackend(["one two three four five six seven"], delay=0.5)):
        answer = _run(answer)

    assert answer.status == Message.Status.DONE
    assert answer.finish_reason == "length"
    assert answer.content.startswith(CUT_TEXT + " one")
    assert "did not finish" in answer.error
    assert answer_can_continue(answer=answer)
