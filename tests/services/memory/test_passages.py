"""Passages: which sentences of a message are embedded on their own, when they are made
and remade, and that they stay their message's owner's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.models import Message, Passage
from memoryapp.services.conversations import answer_retry
from memoryapp.services.memory import ingestion
from memoryapp.services.memory.ingestion import messages_embed
from memoryapp.services.memory.passages import passage_texts, passages_make
from memoryapp.services.memory.upkeep import embeddings_refresh
from tests import factories

pytestmark = pytest.mark.django_db

LONG_TURN = (
    "I'm looking for tips on organising my shelves. Do you have any ideas for small rooms? "
    "By the way, I have 25 rare coins in a fireproof safe. Thanks!"
)


def test_each_sentence_of_three_words_or_more_is_a_passage() -> None:
    assert passage_texts(LONG_TURN) == [
        (0, "I'm looking for tips on organising my shelves."),
        (1, "Do you have any ideas for small rooms?"),
        (2, "By the way, I have 25 rare coins in a fireproof safe."),
    ]


@pytest.mark.parametrize(
    "text", ["I have 25 rare coins.", "Yes. I have 25 rare coins. Thanks!", ""]
)
def test_a_text_of_one_sentence_has_no_passages(text: str) -> None:
    assert passage_texts(text) == []


def test_embedding_a_message_makes_its_passages_with_its_owner() -> None:
    chat = factories.conversation(factories.user())
    turn = factories.message(chat, LONG_TURN)
    short = factories.message(chat, "Nice, thanks.")

    messages_embed([turn, short])

    passages = list(Passage.objects.filter(message=turn).order_by("position"))
    assert [p.position for p in passages] == [0, 1, 2]
    assert {p.owner_id for p in passages} == {chat.owner_id}
    coins = embed_texts(["By the way, I have 25 rare coins in a fireproof safe."])[0]
    assert float(np.dot(np.asarray(passages[2].embedding), coins)) == pytest.approx(1.0, abs=1e-4)
    assert not Passage.objects.filter(message=short).exists()
    for message in (turn, short):
        message.refresh_from_db()
        assert message.passages_model == model_fingerprint()


def test_making_passages_again_replaces_them() -> None:
    turn = factories.message(factories.conversation(factories.user()), LONG_TURN)
    passages_make([turn], "old-model")
    turn.content = "I moved to Porto last spring. My sister lives there too."
    turn.save(update_fields=["content"])

    passages_make([turn], model_fingerprint())

    texts = list(Passage.objects.filter(message=turn).order_by("position").values_list("text"))
    assert texts == [("I moved to Porto last spring.",), ("My sister lives there too.",)]


def test_the_assistants_answers_get_no_passages() -> None:
    chat = factories.conversation(factories.user())
    question = factories.message(chat, "Tell me a story.")
    answer = factories.message(chat, LONG_TURN, role=Message.Role.ASSISTANT, reply_to=question)

    passages_make([answer], model_fingerprint())

    assert not Passage.objects.filter(message=answer).exists()
    answer.refresh_from_db()
    assert answer.passages_model == model_fingerprint()  # looked at: nothing to make


@pytest.mark.parametrize(
    ("status", "content"), [(Message.Status.FAILED, LONG_TURN), (Message.Status.STOPPED, "")]
)
def test_answers_that_are_not_remembered_are_left_alone(status: str, content: str) -> None:
    chat = factories.conversation(factories.user())
    question = factories.message(chat, "Tell me a story.")
    answer = factories.message(
        chat, content, role=Message.Role.ASSISTANT, status=status, reply_to=question
    )

    passages_make([answer], model_fingerprint())

    answer.refresh_from_db()
    assert answer.passages_model == ""
    assert not Passage.objects.filter(message=answer).exists()


def test_both_speakers_of_a_transcript_of_two_people_get_passages() -> None:
    chat = factories.conversation(factories.user())
    first = factories.message(chat, "How is the new job going?", speaker="Mel")
    second = factories.message(
        chat, LONG_TURN, role=Message.Role.ASSISTANT, speaker="Caroline", by_person=True,
        reply_to=first,
    )  # fmt: skip

    passages_make([second], model_fingerprint())

    assert Passage.objects.filter(message=second).count() == 3


def test_the_upkeep_makes_passages_for_messages_embedded_before_they_existed() -> None:
    turn = factories.message(factories.conversation(factories.user()), LONG_TURN)
    messages_embed([turn])
    Passage.objects.all().delete()
    Message.objects.filter(pk=turn.pk).update(passages_model="")

    assert embeddings_refresh() == 1

    assert Passage.objects.filter(message=turn).count() == 3
    assert embeddings_refresh() == 0


def test_a_retried_answer_is_embedded_again_once_its_new_text_is_finished(
    django_capture_on_commit_callbacks: Any,
) -> None:
    chat = factories.conversation(factories.user())
    question = factories.message(chat, "Tell me a story.")
    stopped = factories.message(
        chat, LONG_TURN, role=Message.Role.ASSISTANT, status=Message.Status.STOPPED,
        reply_to=question,
    )  # fmt: skip
    messages_embed([question, stopped])
    with django_capture_on_commit_callbacks():
        answer_retry(answer=stopped)

    embeddings_refresh()  # while the answer is pending: nothing to embed yet
    stopped.refresh_from_db()
    assert stopped.embedding_model == ""

    new_text = "Once upon a time there was a fox. The fox lived in a quiet forest."
    Message.objects.filter(pk=stopped.pk).update(content=new_text, status=Message.Status.DONE)
    embeddings_refresh()

    stopped.refresh_from_db()
    assert stopped.embedding_model == model_fingerprint()
    assert np.dot(np.asarray(stopped.embedding), embed_texts([new_text])[0]) == pytest.approx(
        1.0, abs=1e-4
    )


def test_a_message_changed_while_its_passages_were_embedded_is_left_for_later() -> None:
    read = factories.message(factories.conversation(factories.user()), LONG_TURN)
    Message.objects.filter(pk=read.pk).update(content="I moved to Porto. I like it there.")

    passages_make([read], model_fingerprint())

    assert not Passage.objects.filter(message=read).exists()
    assert Message.objects.get(pk=read.pk).passages_model == ""


def test_an_answer_changed_while_it_was_embedded_keeps_no_vector_of_its_old_text() -> None:
    chat = factories.conversation(factories.user())
    question = factories.message(chat, "Tell me a story.")
    read = factories.message(chat, LONG_TURN, role=Message.Role.ASSISTANT, reply_to=question)
    # Continued (or retried) after ingestion read it, before its vector is stored.
    Message.objects.filter(pk=read.pk).update(content=LONG_TURN + " And then some more.")

    messages_embed([read])

    stored = Message.objects.get(pk=read.pk)
    assert (stored.embedding, stored.embedding_model) == (None, "")


def test_a_message_and_its_passages_are_embedded_in_one_model_call_and_stored_as_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    turn = factories.message(factories.conversation(factories.user()), LONG_TURN)
    calls: list[list[str]] = []

    def recording(texts: list[str]) -> Any:
        calls.append(list(texts))
        return embed_texts(texts)

    monkeypatch.setattr(ingestion, "embed_texts", recording)

    messages_embed([turn])

    assert calls == [[LONG_TURN] + [text for _, text in passage_texts(LONG_TURN)]]
    made = embed_texts(calls[0])
    stored = Message.objects.get(pk=turn.pk)
    assert np.allclose(np.asarray(stored.embedding), made[0], atol=1e-6)
    assert (stored.embedding_model, stored.passages_model) == (model_fingerprint(),) * 2
    passages = Passage.objects.filter(message=turn).order_by("position")
    assert np.allclose([np.asarray(p.embedding) for p in passages], made[1:], atol=1e-6)


def test_a_message_embedded_already_gets_only_its_passages() -> None:
    turn = factories.message(factories.conversation(factories.user()), LONG_TURN)
    vector = [1.0] + [0.0] * 383  # not what the model makes: it must stay as it is
    Message.objects.filter(pk=turn.pk).update(embedding=vector, embedding_model=model_fingerprint())
    turn.refresh_from_db()

    messages_embed([turn])

    stored = Message.objects.get(pk=turn.pk)
    assert np.array_equal(np.asarray(stored.embedding), vector)
    assert stored.passages_model == model_fingerprint()
    assert Passage.objects.filter(message=turn).count() == 3
