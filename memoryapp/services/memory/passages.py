"""Passages: the sentences of a message of several, each embedded on its own
(`models.Passage`), so retrieval can find a message by one thing it says."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from memoryapp.embeddings import embed_texts
from memoryapp.models import Message, Passage
from memoryapp.services.memory.denoise import sentences

# Shorter sentences ("Thanks!", "Yes, I did.") say too little to be found by.
PASSAGE_MIN_WORDS = 3
# Only answers that were finished are memory; a failed one's partial text is not.
WITH_PASSAGES = (Message.Status.DONE, Message.Status.STOPPED)


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
    """Replace the passages of `messages` with ones embedded by the current model (its
    `fingerprint`), and record that model on each message."""
    if not messages:
        return
    planned = [
        (message, position, text)
        for message in messages
        if message.status in WITH_PASSAGES
        for position, text in passage_texts(message.content)
    ]
    vectors = embed_texts([text for _, _, text in planned])
    passages = [
        Passage(
            message=message,
            owner_id=message.owner_id,
            position=position,
            text=text,
            embedding=vector.tolist(),
        )
        for (message, position, text), vector in zip(planned, vectors, strict=True)
    ]
    for message in messages:
        message.passages_model = fingerprint
    with transaction.atomic():
        Passage.objects.filter(message__in=[m.pk for m in messages]).delete()
        Passage.objects.bulk_create(passages, batch_size=1000)
        Message.objects.bulk_update(messages, ["passages_model"], batch_size=1000)
