"""`memory_bench retrieval --messages`: its owners, and the rows it loads, checked on the test
database (loaded through the same COPY, without dropping any index)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.db.models import F

from memoryapp.benchmarks import BenchError
from memoryapp.benchmarks.scale.histories import read_sources
from memoryapp.benchmarks.scale.message_loading import copy_histories, create_owners
from memoryapp.benchmarks.scale.message_population import (
    MessageClass,
    OwnerSize,
    message_owner_sizes,
    minimum_messages,
)
from memoryapp.benchmarks.scale.message_rows import NOW, STAND_INS, MessageOwner
from memoryapp.benchmarks.scale.rows import register_vector_bytes
from memoryapp.benchmarks.scale.vectors import TopicSpace
from memoryapp.models import Conversation, Fact, FactSource, Message, Passage, Segment
from memoryapp.retrieval import search
from memoryapp.services.memory.passages import passage_texts
from tests.evaluation.samples import LOCOMO_SAMPLE, LONGMEMEVAL, write_json


def _labels(total: int, seed: int = 0) -> Counter[str]:
    sizes = message_owner_sizes(total, np.random.default_rng(seed))
    assert sum(size.messages for size in sizes) == total
    return Counter(size.size_class.label for size in sizes)


def test_a_million_messages_have_owners_of_each_size() -> None:
    labels = _labels(1_000_000)

    assert 3 <= labels["100k"] <= 7
    assert 20 <= labels["10k"] <= 40
    assert labels["1k"] >= 150


@pytest.mark.parametrize(("total", "largest"), [(30_000, 0), (110_000, 0), (200_000, 1)])
def test_smaller_runs_still_have_a_1k_and_a_10k_owner(total: int, largest: int) -> None:
    labels = _labels(total)

    assert labels["1k"] >= 1 and labels["10k"] >= 1
    assert labels["100k"] == largest


def test_owner_sizes_stay_near_their_class() -> None:
    sizes = message_owner_sizes(1_000_000, np.random.default_rng(3))

    biggest = max(size.messages for size in sizes)
    for size in sizes:
        nominal = size.size_class.nominal
        high = nominal * 1.25 + (1_000 if size.messages == biggest else 0)
        assert 0.8 * nominal <= size.messages <= high


def test_too_few_messages_are_refused() -> None:
    with pytest.raises(BenchError, match="too few"):
        message_owner_sizes(minimum_messages() - 1, np.random.default_rng(0))


MORE = " We talked about it for a long time. It was a very good day for everyone."


def _longer(data: Any) -> Any:
    """The sample with a sentence or two more in every turn (passages need two)."""
    if isinstance(data, dict):
        return {
            key: value + MORE if key in ("text", "content") else _longer(value)
            for key, value in data.items()
        }
    return [_longer(item) for item in data] if isinstance(data, list) else data


@pytest.fixture
def owners(tmp_path: Path, db: None) -> list[MessageOwner]:
    """Three owners of 60, 60 and 150 messages, loaded on the test database."""
    sources = read_sources(
        write_json(tmp_path / "locomo.json", [_longer(LOCOMO_SAMPLE)]),
        write_json(tmp_path / "lme.json", _longer(LONGMEMEVAL)),
    )
    rng = np.random.default_rng(0)
    small, large = MessageClass(50), MessageClass(150)
    sizes = [OwnerSize(small, 60), OwnerSize(small, 60), OwnerSize(large, 150)]
    conn: Any = connection.connection
    register_vector_bytes(conn)
    made = create_owners(conn, sizes, sources, TopicSpace(rng), rng)
    copy_histories(conn, made, rng, lambda line: None)
    return made


def test_each_owner_gets_its_messages_in_conversations_of_its_own(
    owners: list[MessageOwner],
) -> None:
    for owner in owners:
        mine = Message.objects.filter(owner_id=owner.user_id)
        assert mine.count() == owner.size.messages == owner.counts["messages"]
        assert not mine.exclude(conversation__owner_id=owner.user_id).exists()
        assert (
            not Conversation.objects.filter(owner_id=owner.user_id)
            .exclude(messages__owner_id=owner.user_id)
            .exists()
        )
    for conversation in Conversation.objects.all():
        turns = list(conversation.messages.order_by("sequence"))
        assert [m.sequence for m in turns] == list(range(len(turns)))
        times = [m.created_at for m in turns]
        assert times == sorted(times) and times[-1] < NOW
        assert all(m.embedding is not None and m.search_vector for m in turns)


def test_assistant_turns_alternate_with_the_persons(owners: list[MessageOwner]) -> None:
    answers = Message.objects.filter(by_person=False)
    assert answers.exists()
    for answer in answers:
        before = Message.objects.get(
            conversation_id=answer.conversation_id, sequence=answer.sequence - 1
        )
        assert before.by_person and answer.role == "assistant"


def test_every_message_is_in_a_closed_segment_of_its_conversation(
    owners: list[MessageOwner],
) -> None:
    assert not Message.objects.filter(segment__isnull=True).exists()
    assert not Message.objects.exclude(segment__conversation_id=F("conversation_id")).exists()
    assert not Message.objects.exclude(segment__owner_id=F("owner_id")).exists()
    for segment in Segment.objects.all():
        sequences = sorted(segment.messages.values_list("sequence", flat=True))
        assert sequences == list(range(segment.first_sequence, segment.last_sequence + 1))
        assert segment.message_count == len(sequences)
        assert segment.status == "closed" and segment.job_status == "done"
        assert segment.retrieval_key and segment.search_vector
        assert segment.key_embedding is not None and segment.summary_embedding is not None
        # LoCoMo replicas' texts are made once with stand-ins for the people: none is left.
        texts = [segment.title, segment.summary, segment.retrieval_key, *segment.keywords]
        assert not any(name.lower() in text.lower() for name in STAND_INS for text in texts)
    speakers = set(Message.objects.filter(by_person=True).values_list("speaker", flat=True))
    keys = " ".join(Segment.objects.values_list("retrieval_key", flat=True))
    assert all(f"{speaker}:" in keys for speaker in speakers)


def test_passages_are_the_sentences_of_the_owners_turns(owners: list[MessageOwner]) -> None:
    assert Passage.objects.exists()
    assert not Passage.objects.exclude(owner_id=F("message__owner_id")).exists()
    for message in Message.objects.filter(by_person=True):
        made = list(message.passages.order_by("position").values_list("position", "text"))
        assert made == passage_texts(message.content)
    assert not Passage.objects.filter(message__by_person=False).exists()
    for owner in owners:
        assert Passage.objects.filter(owner_id=owner.user_id).count() == owner.counts["passages"]


def test_facts_come_from_their_segments_turns_and_some_are_superseded(
    owners: list[MessageOwner],
) -> None:
    assert Fact.objects.filter(status="active").exists()
    assert not Fact.objects.filter(search_vector__isnull=True).exists()
    for source in FactSource.objects.select_related("fact", "message"):
        assert source.owner_id == source.fact.owner_id == source.message.owner_id
        assert source.message.segment_id == source.fact.segment_id
        assert source.fact.text in source.message.content
    superseded = Fact.objects.filter(status="superseded").select_related("superseded_by")
    assert superseded.exists()
    for fact in superseded:
        successor = fact.superseded_by
        assert successor is not None and successor.owner_id == fact.owner_id
        assert fact.retired_at is not None and fact.valid_to is not None


def test_one_owners_lists_hold_only_its_rows(owners: list[MessageOwner]) -> None:
    alice, bob = owners[0], owners[1]
    query = alice.topics.centroids[0].tolist()

    found = search.dense(search.MESSAGES, "embedding", owner_id=alice.user_id, query=query)
    by_sentence = search.dense_passages(owner_id=alice.user_id, query=query)

    ids = [hit.id for hit in [*found, *by_sentence]]
    assert ids
    assert set(Message.objects.filter(pk__in=ids).values_list("owner_id", flat=True)) == {
        alice.user_id
    }
    assert not Message.objects.filter(pk__in=ids, owner_id=bob.user_id).exists()
