"""Hybrid, time-aware, owner-scoped retrieval and the packing of its units."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Citation, Fact, Message, Segment
from memoryapp.retrieval import count_tokens, retrieve_units
from memoryapp.services.conversations import message_send
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.ingestion import messages_embed
from memoryapp.tasks import answer_message
from tests import factories

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 6, 15, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _deterministic_memory(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


def remembered(owner: User, *lines: str, at: datetime = NOW - timedelta(days=30)) -> Segment:
    """A consolidated segment of `lines` said at `at`."""
    chat = factories.conversation(owner)
    messages = [
        factories.message(chat, line, created_at=at + timedelta(minutes=i), speaker=owner.username)
        for i, line in enumerate(lines)
    ]
    segment = factories.closed_segment(chat, messages)
    segment_consolidate(segment_id=segment.pk)
    return segment


def fact(owner: User, text: str, **extra: Any) -> Fact:
    return Fact.objects.create(
        owner=owner,
        text=text,
        embedding=embed_texts([text])[0].tolist(),
        embedding_model=model_fingerprint(),
        **extra,
    )


def test_another_users_best_match_never_appears() -> None:
    alice, bob = factories.user("alice"), factories.user("bob")
    remembered(alice, "I went hiking in the Alps with my brother.")
    bobs = remembered(bob, "My cat Whiskers is allergic to fish food.")
    fact(bob, "Bob's cat Whiskers is allergic to fish food.")

    units = retrieve_units(
        owner=alice, question="Is my cat Whiskers allergic to fish?", now=NOW, token_budget=2048
    )

    bob_messages = set(Message.objects.filter(owner=bob).values_list("pk", flat=True))
    assert units, "alice's own memory should still be returned"
    assert all(not set(unit.message_ids) & bob_messages for unit in units)
    assert all(unit.ref_id != bobs.pk for unit in units)
    assert all("Whiskers" not in unit.text for unit in units)


def test_a_time_in_the_question_favours_what_happened_then() -> None:
    alice = factories.user("alice")
    may = remembered(
        alice, "We had a picnic in the park with friends.", at=datetime(2024, 5, 12, tzinfo=UTC)
    )
    remembered(
        alice, "We had a picnic at the beach with friends.", at=datetime(2024, 2, 3, tzinfo=UTC)
    )

    units = retrieve_units(
        owner=alice, question="What did we do last May?", now=NOW, token_budget=2048
    )

    assert units[0].ref_id == may.pk


def test_superseded_facts_answer_the_past_but_never_the_present() -> None:
    alice = factories.user("alice")
    lisbon = fact(alice, "Alice lives in Lisbon.", valid_from=datetime(2024, 3, 1, tzinfo=UTC))
    fact(
        alice,
        "Alice lives in Berlin.",
        status="superseded",
        superseded_by=lisbon,
        valid_to=datetime(2024, 3, 1, tzinfo=UTC),
        retired_at=NOW,
    )

    now_units = retrieve_units(owner=alice, question="Where do I live?", now=NOW, token_budget=512)
    past_units = retrieve_units(
        owner=alice, question="Where did I live before?", now=NOW, token_budget=512
    )

    assert any("Lisbon" in u.text for u in now_units)
    assert not any("Berlin" in u.text for u in now_units)
    berlin = [u for u in past_units if "Berlin" in u.text]
    assert berlin and "no longer true since 1 March 2024" in berlin[0].text


@pytest.mark.parametrize("budget", [40, 100, 256, 1024])
def test_packing_never_exceeds_the_budget_and_numbers_in_order(budget: int) -> None:
    alice = factories.user("alice")
    for topic in ["sailing", "baking bread", "chess openings", "gardening tomatoes", "jazz piano"]:
        remembered(
            alice, *[f"I spent the weekend on {topic}, part {n}, it was lovely." for n in range(8)]
        )

    units = retrieve_units(
        owner=alice, question="What hobbies do I have?", now=NOW, token_budget=budget
    )

    assert sum(unit.tokens for unit in units) <= budget
    assert all(unit.tokens == count_tokens(unit.text) for unit in units)
    assert [unit.number for unit in units] == list(range(1, len(units) + 1))
    everything = [m for unit in units for m in unit.message_ids]
    assert len(everything) == len(set(everything))  # no message twice


def test_segments_are_given_as_their_dated_turns_under_one_date() -> None:
    alice = factories.user("alice")
    remembered(
        alice,
        "Hi! My sister Mia is getting married in Porto. Can you believe it?",
        "We are flying there on the 3rd.",
        at=datetime(2024, 4, 2, tzinfo=UTC),
    )

    unit = retrieve_units(
        owner=alice, question="Who is getting married?", now=NOW, token_budget=512
    )[0]

    # One date for the unit; the turns compacted (greeting and short question left out).
    assert unit.text == (
        "[2 April 2024]\n"
        "alice: My sister Mia is getting married in Porto.\n"
        "alice: We are flying there on the 3rd."
    )


def test_an_answer_comes_with_the_question_it_answers() -> None:
    alice = factories.user("alice")
    chat = factories.conversation(alice)
    at = NOW - timedelta(days=3)
    lines = [
        ("Mel", "Have you been painting lately?"),
        ("Caroline", "Yes, a sunset over the lake."),
        ("Caroline", "I am researching adoption agencies."),
    ]
    for i, (speaker, text) in enumerate(lines):
        factories.message(chat, text, speaker=speaker, created_at=at + timedelta(minutes=i))

    units = retrieve_units(
        owner=alice, question="What did Caroline paint?", now=NOW, token_budget=24
    )

    # The answer shares no word with the question: it is found through the question it answers.
    assert [unit.text for unit in units] == [
        f"[{at.day} {at:%B %Y}]\nMel: Have you been painting lately?\n"
        "Caroline: A sunset over the lake."
    ]


def test_an_answer_cites_the_units_it_used_and_they_link_to_the_right_messages() -> None:
    alice = factories.user("alice")
    wedding = remembered(alice, "My sister Mia is getting married in Porto in September.")
    source = Message.objects.get(segment=wedding)
    chat = factories.conversation(alice)
    _, answer = message_send(conversation=chat, content="Where is Mia's wedding?")

    with use_backend(ScriptedBackend(["In Porto [1].", "Mia's wedding"])):
        answer_message.apply(args=(str(answer.pk),))

    citation = Citation.objects.get(answer=answer, number=1)
    assert citation.cited and citation.kind == "segment" and citation.segment_id == wedding.pk
    assert citation.message_ids == [source.pk]
    assert citation.owner_id == alice.pk


def test_what_do_you_know_about_me_lists_facts_with_sources() -> None:
    alice = factories.user("alice")
    chat = factories.conversation(alice)
    said = factories.message(chat, "I am a nurse.")
    nurse = fact(alice, "Alice works as a nurse.")
    nurse.source_messages.add(said, through_defaults={"owner": alice})
    _, answer = message_send(conversation=chat, content="What do you know about me?")

    backend = ScriptedBackend(["A title"])
    with use_backend(backend):
        answer_message.apply(args=(str(answer.pk),))

    answer.refresh_from_db()
    assert "Alice works as a nurse. [1]" in answer.content
    assert Citation.objects.get(answer=answer).message_ids == [said.pk]
    assert len(backend.calls) <= 1  # at most the title: the model did not write the list


@pytest.mark.parametrize(
    "status", [Message.Status.PENDING, Message.Status.STREAMING, Message.Status.FAILED]
)
def test_an_unfinished_or_failed_answer_is_not_memory(status: str) -> None:
    alice = factories.user("alice")
    chat = factories.conversation(alice)
    text = "Your cat Whiskers is allergic to fish food."
    factories.message(
        chat,
        text,
        role=Message.Role.ASSISTANT,
        status=status,
        embedding=embed_texts([text])[0].tolist(),
        created_at=NOW - timedelta(days=1),
    )

    units = retrieve_units(
        owner=alice, question="Is Whiskers allergic to fish?", now=NOW, token_budget=512
    )

    assert units == []


def test_an_owner_without_memory_gets_nothing_and_a_question_of_stopwords_is_safe() -> None:
    alice, bob = factories.user("alice"), factories.user("bob")
    remembered(bob, "I went hiking in the Alps with my brother.")

    for question in ("Where did I go hiking?", "what is it?"):
        assert retrieve_units(owner=alice, question=question, now=NOW, token_budget=512) == []
    remembered(alice, "I went hiking in the Alps with my brother.")
    assert retrieve_units(owner=alice, question="what is it?", now=NOW, token_budget=512) != []


def test_retrieval_is_deterministic() -> None:
    alice = factories.user("alice")
    remembered(alice, "I went hiking in the Alps with my brother.", "We saw ibex.")
    remembered(alice, "My brother moved to Zurich.", "He works at a bank.")
    first, second = (
        retrieve_units(owner=alice, question="What about my brother?", now=NOW, token_budget=60)
        for _ in range(2)
    )

    assert first and first == second


LONG_TURN = (
    "I'm planning a trip to Japan next spring and I'm comparing flights. Which airlines have "
    "the best legroom in economy? I'd like to avoid long layovers as well. By the way, my "
    "daughter just started violin lessons. I also need a hotel near Shinjuku station."
)


def test_one_remark_inside_a_long_turn_is_found_by_its_sentence() -> None:
    """The whole turn's vector is about the trip, only one sentence is about the violin, and
    the question shares no word with it."""
    alice = factories.user("alice")
    chat = factories.conversation(alice)
    texts = [
        "My kid plays football every Saturday morning.",
        "We play board games on Sunday evenings.",
        "Our neighbour's kid is loud at night.",
        LONG_TURN,
    ]
    turns = [
        factories.message(chat, text, created_at=NOW - timedelta(days=9 - i))
        for i, text in enumerate(texts)
    ]
    messages_embed(turns)

    units = retrieve_units(
        owner=alice, question="What instrument is my girl learning?", now=NOW,
        token_budget=2048,
    )  # fmt: skip

    assert units[0].message_ids == (turns[-1].pk,)
