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
from typing import Any

import numpy as np
import psycopg
from django.db import connection, transaction
from psycopg.adapt import Dumper
from psycopg.pq import Format

from memoryapp.embeddings import Vectors, embed_texts
from memoryapp.models import Message, Passage
from memoryapp.text import sentences

# Shorter sentences ("Thanks!", "Yes, I did.") say too little to be found by.
PASSAGE_MIN_WORDS = 3

# (message, position, sentence): a passage to embed.
Planned = tuple[Message, int, str]


def passage_texts(content: str) -> list[tuple[int, str]]:
    """(position, sentence) for each sentence of at least PASSAGE_MIN_WORDS words, when the
    text has two or more; none for a text of one, whose own vector is that sentence's."""
    found = [
        (position, sentence)
        for position, sentence in enumerate(sentences(content))
        if len(sentence.split()) >= PASSAGE_MIN_WORDS
    ]
    return found if len(found) >= 2 else []


def passages_plan(messages: Sequence[Message]) -> list[Planned]:
    """The passages of those of `messages` that are a person's remembered words."""
    return [
        (message, position, text)
        for message in messages
        if message.is_memory
        for position, text in passage_texts(message.content)
    ]


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
    planned = passages_plan(finished)
    vectors = embed_texts([text for _, _, text in planned])
    with transaction.atomic():
        unchanged = messages_lock_unchanged(finished)
        messages_vectors_write(
            embedded=[],
            passaged=unchanged,
            planned=planned,
            vectors=vectors,
            fingerprint=fingerprint,
        )


def messages_vectors_write(
    *,
    embedded: Sequence[tuple[Message, Vectors]],
    passaged: Sequence[Message],
    planned: Sequence[Planned],
    vectors: Vectors,
    fingerprint: str,
) -> None:
    """Store what the model of `fingerprint` made, inside the caller's transaction, on
    messages it holds locked: each (message, vector) of `embedded` as the message's own
    vector, and, for each message of `passaged`, the passages of `planned` (with their
    `vectors`, in order) in place of any it had, recording the model as its passages'.

    One UPDATE per message whatever changed: each new version of a row costs an insert in
    every index, the HNSW graph's included. Vectors travel in pgvector's binary form."""
    ids = {m.pk for m in passaged}
    rows: dict[Any, list[Any]] = {
        message.pk: [_binary(vector), fingerprint, None, message.pk] for message, vector in embedded
    }
    for message in passaged:
        rows.setdefault(message.pk, [None, None, None, message.pk])[2] = fingerprint
    for message, vector in embedded:
        message.embedding, message.embedding_model = vector.tolist(), fingerprint
    for message in passaged:
        message.passages_model = fingerprint
    if ids:
        Passage.objects.filter(message__in=ids).delete()
    passages = [
        (message.pk, message.owner_id, position, text, _binary(vector))
        for (message, position, text), vector in zip(planned, vectors, strict=True)
        if message.pk in ids
    ]
    with _binary_cursor() as cursor:
        if rows:
            cursor.executemany(
                "UPDATE memoryapp_message SET embedding = COALESCE(%s::vector, embedding), "
                "embedding_model = COALESCE(%s, embedding_model), "
                "passages_model = COALESCE(%s, passages_model) WHERE id = %s",
                list(rows.values()),
            )
        if passages:
            cursor.executemany(
                "INSERT INTO memoryapp_passage (message_id, owner_id, position, text, embedding) "
                "VALUES (%s, %s, %s, %s, %s::vector)",
                passages,
            )


class _VectorBinary(bytes):
    """A vector in pgvector's binary wire format: dimensions, a zero, big-endian float32s."""


class _VectorBinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def _binary(vector: Vectors) -> _VectorBinary:
    header = np.array([len(vector), 0], dtype=">u2").tobytes()
    return _VectorBinary(header + np.asarray(vector, dtype=">f4").tobytes())


def _binary_cursor() -> psycopg.Cursor[Any]:
    """A cursor of Django's connection (its transaction) that binds parameters on the
    server, as psycopg does by default: Django's own binds them into the SQL text, where a
    vector is 384 numbers written out and parsed again."""
    connection.ensure_connection()
    cursor: psycopg.Cursor[Any] = psycopg.Cursor(connection.connection)
    cursor.adapters.register_dumper(_VectorBinary, _VectorBinaryDumper)
    return cursor


def messages_lock_unchanged(messages: Sequence[Message]) -> list[Message]:
    """Those of `messages` whose text and status are still as read, locked (in id order, so
    two callers cannot deadlock) until the transaction ends."""
    locked = Message.objects.select_for_update().filter(pk__in=[m.pk for m in messages])
    current = {
        pk: (content, status)
        for pk, content, status in locked.order_by("pk").values_list("pk", "content", "status")
    }
    return [m for m in messages if current.get(m.pk) == (m.content, m.status)]
