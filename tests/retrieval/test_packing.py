"""Packing scored turns and facts into numbered units within a token budget."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from memoryapp.models import Fact, Message
from memoryapp.retrieval.packing import Candidate, pack
from memoryapp.retrieval.tuning import REPLY_MAX_TOKENS, TURN_MAX_TOKENS
from memoryapp.text import count_tokens, stems
from tests.support.long_messages import LONG_MESSAGES, utf8_bytes

DAY = datetime(2024, 5, 10, 9, tzinfo=UTC)
CHAT = uuid.uuid4()
SEGMENT = uuid.uuid4()


def turn(
    sequence: int, content: str, segment: uuid.UUID | None = SEGMENT, role: str = "user"
) -> Message:
    return Message(
        id=uuid.uuid4(),
        conversation_id=CHAT,
        sequence=sequence,
        speaker="Ann" if role == "user" else "",
        role=role,
        by_person=role == "user",
        content=content,
        created_at=DAY,
        segment_id=segment,
    )


def test_turns_of_one_segment_and_day_share_a_unit_and_its_date_in_conversation_order() -> None:
    late, early = turn(7, "We moved to Lisbon."), turn(2, "I got a new job.")
    other = turn(9, "The cat is fine.", segment=uuid.uuid4())

    units = pack(
        [
            Candidate(3.0, message=late),
            Candidate(2.0, message=other),
            Candidate(1.0, message=early),
        ],
        budget=100,
        seen=set(),
    )

    assert [u.text for u in units] == [
        "[10 May 2024]\nAnn: I got a new job.\nAnn: We moved to Lisbon.",
        "[10 May 2024]\nAnn: The cat is fine.",
    ]
    assert units[0].message_ids == (early.pk, late.pk)
    assert [u.number for u in units] == [1, 2]
    assert units[0].kind == "segment" and units[0].ref_id == SEGMENT


def test_the_budget_is_never_exceeded_and_what_does_not_fit_is_skipped() -> None:
    long = turn(1, "word " * 40)
    short = turn(2, "Short one.", segment=uuid.uuid4())

    units = pack(
        [Candidate(2.0, message=long), Candidate(1.0, message=short)], budget=12, seen=set()
    )

    assert [u.message_ids for u in units] == [(short.pk,)]
    assert all(u.tokens == count_tokens(u.text) for u in units)
    assert sum(u.tokens for u in units) <= 12


def test_messages_already_in_the_prompt_and_facts_they_cover_are_left_out() -> None:
    said = turn(1, "I am a nurse.")
    fact = Fact(id=uuid.uuid4(), text="Ann is a nurse.", status=Fact.Status.ACTIVE)
    other = Fact(id=uuid.uuid4(), text="Ann lives in Porto.", status=Fact.Status.ACTIVE)

    units = pack(
        [
            Candidate(3.0, message=said),
            Candidate(2.0, fact=fact, fact_sources=(said.pk,)),
            Candidate(1.0, fact=other, fact_sources=(uuid.uuid4(),)),
        ],
        budget=100,
        seen={said.pk},
    )

    assert [u.text for u in units] == ["Fact: Ann lives in Porto."]
    assert units[0].kind == "fact" and units[0].ref_id == other.pk


TOWNS = ["Aveiro", "Braga", "Coimbra", "Evora", "Faro", "Guarda", "Leiria", "Lagos", "Viseu"]
LONG_TEXT = (
    " ".join(f"The traffic in {town} was slow again today." for town in TOWNS)
    + " My sister Mia is getting married in Porto. "
    + " ".join(f"The rain in {town} stopped at noon." for town in TOWNS)
)


@pytest.mark.parametrize(
    ("role", "limit"), [("user", TURN_MAX_TOKENS), ("assistant", REPLY_MAX_TOKENS)]
)
def test_a_long_turn_shows_the_sentences_about_the_question(role: str, limit: int) -> None:
    long = turn(1, LONG_TEXT, role=role)

    (unit,) = pack(
        [Candidate(1.0, message=long)], budget=500, seen=set(), question=stems("Mia's wedding?")
    )

    line = unit.text.split("\n")[1]
    assert "My sister Mia is getting married in Porto." in line
    assert "…" in line
    assert limit - 20 < count_tokens(line) <= limit


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_turn_without_spaces_shows_its_start_within_any_tokenizers_budget(content: str) -> None:
    long = turn(1, content)
    short = turn(2, "I have a dog named Pixel.", segment=uuid.uuid4())

    units = pack(
        [Candidate(2.0, message=long), Candidate(1.0, message=short)], budget=1024, seen=set()
    )

    assert [u.message_ids for u in units] == [(long.pk,), (short.pk,)]
    line = units[0].text.split("\n")[1]
    assert line.lower().startswith(f"ann: {content[:20]}") and line.endswith("…")
    # A byte-level tokenizer makes at most one token of each byte.
    assert utf8_bytes(line) <= TURN_MAX_TOKENS * 8
    assert sum(utf8_bytes(u.text) for u in units) <= 1024
