"""Passages: the sentences of a user's message of several, each embedded on its own
(`models.Passage`), so retrieval can find a message by one thing it says.

Only people's messages get them (`Message.is_memory`: the user's, or both speakers' of an
imported transcript of two people). Memory is about the person, and what they tell about
themselves is often an aside in a long message. The assistant's answers are long generated
text (about seven times as many sentences); on LongMemEval their sentences crowded the
user's out of the dense list (recall-all at 1,024 tokens 0.911 with them, 0.927 without),
and embedding them was most of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from memoryapp.embeddings import embed_texts
from memoryapp.models import Message, Passage
from memoryapp.text import sentences

# Shorter sentences ("Thanks!", "Yes, I did.") say too little to be found by.
PASSAGE_MIN_WORDS = 3


def passage_texts(content: str) -> list[tuple[int, str]]:
    """(position, sentence) for each sentence of at least PASSAGE_MIN_WORDS words, when the
    text has two or more; none for a text of one, whose own vector is that sentence's."""
    found = [
        (position, sentence)
        for position, sentence in enumerate(sentences(content))
        if len(sentence.split()) >= PASSAGE_MIN_WORDS
    ]
    return found if len(found) >= 2 else []


def passages_make(messages: Sequence[Message], fingerprint: str) -> None:
    """Give each of `messages` that is a person's remembered words passages embedded by the
    model of `fingerprint`, in place of any it had, and record that model on every
    remembered message, also when it gets none (a text of one sentence, an answer).

    Other messages are left alone. Embedding happens before the messages are locked; a
    message whose text or status changed meanwhile is skipped, to be picked up again.
    """
    finished = [m for m in messages if m.is_remembered]
    if not finished:
        return
    planned = [
        (message, position, text)
        for message in finished
        if message.is_memory
        for position, text in passage_texts(message.content)
    ]
    vectors = embed_texts([text for _, _, text in planned])
    with transaction.atomic():
        unchanged = messages_lock_unchanged(finished)
        ids = {m.pk for m in unchanged}
        Passage.objects.filter(message__in=ids).delete()
        Passage.objects.bulk_create(
            (
                Passage(
                    message=message,
                    owner_id=message.owner_id,
                    position=position,
                    text=text,
                    embedding=vector.tolist(),
                )
                for (message, position, text), vector in zip(planned, vectors, strict=True)
                if message.pk in ids
            ),
            batch_size=1000,
        )
        for message in unchanged:
            message.passages_model = fingerprint
        Message.objects.bulk_update(unchanged, ["passages_model"], batch_size=1000)


def messages_lock_unchanged(messages: Sequence[Message]) -> list[Message]:
    """Those of `messages` whose text and status are still as read, locked (in id order, so
    two callers cannot deadlock) until the transaction ends."""
    locked = Message.objects.select_for_update().filter(pk__in=[m.pk for m in messages])
    current = {
        pk: (content, status)
        for pk, content, status in locked.order_by("pk").values_list("pk", "content", "status")
    }
    return [m for m in messages if current.get(m.pk) == (m.content, m.status)]
