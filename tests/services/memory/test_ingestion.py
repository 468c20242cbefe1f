"""Ingestion: messages are embedded and cut into segments at topic changes and day gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from memoryapp.models import Conversation, Message, Segment
from memoryapp.services.memory.ingestion import conversation_ingest
from memoryapp.services.memory.upkeep import segments_close_idle
from tests import factories

pytestmark = pytest.mark.django_db

START = datetime(2024, 5, 6, 18, 0, tzinfo=UTC)

COOKING = [
    ("user", "I want to bake sourdough bread this weekend."),
    ("assistant", "Great! Do you have an active sourdough starter?"),
    ("user", "Yes, I feed my starter every morning with rye flour."),
    ("assistant", "Then mix the dough the evening before and let it proof overnight."),
    ("user", "How long should the loaf bake in the oven?"),
    ("assistant", "About 45 minutes at 230 degrees, with steam for the first 20 minutes."),
]
CARS = [
    ("user", "My car's brakes are squeaking loudly when I stop."),
    ("assistant", "Squeaking brakes usually mean the brake pads are worn."),
    ("user", "Can I replace the brake pads myself at home?"),
    ("assistant", "Yes, with a jack, a lug wrench and a C-clamp for the caliper piston."),
    ("user", "Which brake pads fit a 2015 Honda Civic?"),
    ("assistant", "Ceramic pads made for the 2015 Civic front axle will fit."),
]


@pytest.fixture(autouse=True)
def _no_llm(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


def _add(chat: Conversation, turns: list[tuple[str, str]], start: datetime) -> None:
    for offset, (role, text) in enumerate(turns):
        factories.message(chat, text, role=role, created_at=start + timedelta(minutes=offset))


def _segments(chat: Conversation) -> list[list[str]]:
    return [
        [m.content for m in segment.messages.order_by("sequence")]
        for segment in Segment.objects.filter(conversation=chat).order_by("first_sequence")
    ]


def test_a_topic_change_closes_the_segment_and_queues_it(
    django_capture_on_commit_callbacks: Any,
) -> None:
    chat = factories.conversation(factories.user())
    _add(chat, COOKING + CARS, START)

    with django_capture_on_commit_callbacks() as queued:
        closed = conversation_ingest(conversation_id=chat.pk, final=True)

    texts = _segments(chat)
    cooking, cars = {text for _, text in COOKING}, {text for _, text in CARS}
    assert texts[0][0] == COOKING[0][1]
    assert any(segment[0] == CARS[0][1] for segment in texts)  # the change is a boundary
    assert all(set(segment) <= cooking or set(segment) <= cars for segment in texts)
    assert len(closed) == len(texts) == len(queued)
    assert not Message.objects.filter(conversation=chat, segment=None).exists()
    assert not Message.objects.filter(conversation=chat, embedding=None).exists()


def test_a_new_day_starts_a_new_segment_even_on_the_same_topic() -> None:
    chat = factories.conversation(factories.user())
    _add(chat, COOKING[:4], START)
    _add(chat, COOKING[4:], START + timedelta(days=1))

    conversation_ingest(conversation_id=chat.pk, final=True)

    assert [len(t) for t in _segments(chat)] == [4, 2]


def test_boundaries_fall_before_a_question_never_inside_an_exchange() -> None:
    chat = factories.conversation(factories.user())
    _add(chat, COOKING + CARS, START)

    conversation_ingest(conversation_id=chat.pk, final=True)

    for segment in Segment.objects.filter(conversation=chat):
        first = segment.messages.order_by("sequence").first()
        assert first is not None and first.role == Message.Role.USER


def test_ingesting_twice_changes_nothing() -> None:
    chat = factories.conversation(factories.user())
    _add(chat, COOKING + CARS, START)
    conversation_ingest(conversation_id=chat.pk)
    before = _segments(chat), list(Segment.objects.values_list("pk", "status"))

    assert conversation_ingest(conversation_id=chat.pk) == []

    assert (_segments(chat), list(Segment.objects.values_list("pk", "status"))) == before


def test_messages_arriving_one_by_one_give_the_same_segments_as_all_at_once() -> None:
    one_by_one = factories.conversation(factories.user())
    at_once = factories.conversation(factories.user())
    for offset, (role, text) in enumerate(COOKING + CARS):
        at = START + timedelta(minutes=offset)
        factories.message(one_by_one, text, role=role, created_at=at)
        conversation_ingest(conversation_id=one_by_one.pk)
    _add(at_once, COOKING + CARS, START)

    conversation_ingest(conversation_id=one_by_one.pk, final=True)
    conversation_ingest(conversation_id=at_once.pk, final=True)

    assert _segments(one_by_one) == _segments(at_once)


def test_the_open_segment_closes_when_idle(settings: Any) -> None:
    settings.MEMORY_SEGMENT_IDLE_MINUTES = 30
    chat = factories.conversation(factories.user())
    _add(chat, COOKING, START)
    conversation_ingest(conversation_id=chat.pk)
    assert Segment.objects.get(conversation=chat).status == Segment.Status.OPEN

    assert segments_close_idle() == 1

    assert Segment.objects.get(conversation=chat).status == Segment.Status.CLOSED


def test_an_unfinished_answer_waits_and_keeps_the_order() -> None:
    chat = factories.conversation(factories.user())
    _add(chat, COOKING[:2], START)
    factories.message(chat, "", role="assistant", status="streaming")
    factories.message(chat, "and another thing", created_at=START + timedelta(minutes=9))

    conversation_ingest(conversation_id=chat.pk)

    assert Message.objects.filter(conversation=chat, segment=None).count() == 2
