"""The user's words are the memory: the assistant's turns are at most the context of a
user's turn, and answers that failed, were stopped empty or are unfinished never enter
segments, keys, passages, facts or retrieval."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User

from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import Conversation, Message, Passage, Segment
from memoryapp.retrieval import retrieve_units
from memoryapp.selectors.conversations import recent_turns
from memoryapp.services.memory.consolidation import SEGMENT_TEXT_VERSION, segment_consolidate
from memoryapp.services.memory.ingestion import conversation_ingest
from memoryapp.services.memory.upkeep import segments_rebuild_outdated
from tests import factories

pytestmark = pytest.mark.django_db

SAID_AT = datetime(2024, 5, 6, 18, 0, tzinfo=UTC)
NOW = SAID_AT + timedelta(days=20)
INVENTED = ("Alberto", "Alejandro", "Alejay")
# A chat in which the assistant makes up names the user never said.
CHAT = [
    ("user", "My sister moved to Lisbon last month."),
    ("assistant", "How lovely, Alberto! Alejandro and Alejay must miss her. Alberto, Alberto."),
    ("user", "We have a beagle called Pixel."),
    ("assistant", "Alejandro loves beagles. Alejay, Alberto and Alejandro walk Pixel."),
    ("user", "I'm allergic to peanuts, so I avoid satay."),
    ("assistant", "Alberto, Alejay and Alejandro will remember that, Alberto."),
]


@pytest.fixture(autouse=True)
def _deterministic_memory(settings: Any) -> None:
    settings.MEMORY_LLM = "off"


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


def _chat(owner: User, turns: list[tuple[str, str]], **answer_fields: Any) -> Conversation:
    chat = factories.conversation(owner)
    question: Message | None = None
    for minute, (role, text) in enumerate(turns):
        at = SAID_AT + timedelta(minutes=minute)
        if role == "user":
            question = factories.message(chat, text, created_at=at, speaker=owner.username)
        else:
            fields = {"speaker": "assistant", "reply_to": question, **answer_fields}
            factories.message(chat, text, role=role, created_at=at, **fields)
    return chat


def _consolidated(chat: Conversation) -> Segment:
    (segment,) = conversation_ingest(conversation_id=chat.pk, final=True)
    consolidated = segment_consolidate(segment_id=segment.pk)
    assert consolidated is not None
    return consolidated


def test_invented_names_of_the_assistant_stay_out_of_title_keywords_summary_and_key(
    alice: User,
) -> None:
    segment = _consolidated(_chat(alice, CHAT))

    text = " ".join([segment.title, " ".join(segment.keywords), segment.summary])
    assert not any(name.lower() in text.lower() for name in INVENTED), text
    assert not any(name in segment.retrieval_key for name in INVENTED), segment.retrieval_key
    assert "peanuts" in segment.retrieval_key
    assert {"lisbon", "pixel"} <= set(segment.keywords)
    assert "I'm allergic to peanuts" in segment.summary
    assert segment.text_version == SEGMENT_TEXT_VERSION


def test_the_assistants_question_is_kept_as_the_context_of_a_short_reply(alice: User) -> None:
    chat = _chat(
        alice,
        [
            ("user", "I need a new name for my sourdough starter."),
            ("assistant", "Fun! Names are hard. What did you call your last one?"),
            ("user", "Bubbles."),
        ],
    )

    segment = _consolidated(chat)

    key_lines = segment.retrieval_key.splitlines()
    assert key_lines[-2:] == ["assistant: What did you call your last one?", "alice: Bubbles."]
    assert "Names are hard" not in segment.retrieval_key


def test_a_digest_model_never_sees_the_assistants_inventions(alice: User, settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    digest = {
        "title": "Family and health",
        "summary": "Her sister moved to Lisbon; the family has a beagle; peanut allergy.",
        "key": "Sister moved to Lisbon. Beagle called Pixel. Allergic to peanuts.",
    }
    backend = ScriptedBackend([json.dumps(digest), json.dumps({"facts": []})])
    chat = _chat(alice, CHAT)

    with use_backend(backend):
        segment = _consolidated(chat)

    prompts = [call.messages[-1]["content"] for call in backend.calls]
    assert len(prompts) == 2  # the digest and the fact extraction
    assert all(name not in prompt for prompt in prompts for name in INVENTED)
    assert all("I'm allergic to peanuts" in prompt for prompt in prompts)
    assert segment.title == "Family and health"


def test_facts_can_only_come_from_what_a_person_said(alice: User, settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    chat = _chat(alice, CHAT)
    facts = [
        # Sources are the user's turns, numbered 1-3; 4 and up name nothing.
        {"text": "alice is allergic to peanuts.", "kind": "health", "subject": "alice",
         "confidence": 1.0, "sources": [3]},
        {"text": "alice's uncle is Alberto.", "kind": "relationship", "subject": "alice",
         "confidence": 0.9, "sources": [4]},
    ]  # fmt: skip
    digest = {
        "title": "Family",
        "summary": "Her sister moved to Lisbon; the family has a beagle; peanut allergy.",
        "key": "Sister moved to Lisbon. Beagle called Pixel. Allergic to peanuts.",
    }
    backend = ScriptedBackend(
        [json.dumps(digest), json.dumps({"facts": facts}), *[json.dumps({"action": "add"})] * 2]
    )

    with use_backend(backend):
        segment = _consolidated(chat)

    learned = {fact.text: fact for fact in segment.facts.all()}
    assert set(learned) == {"alice is allergic to peanuts."}
    sources = learned["alice is allergic to peanuts."].source_messages.all()
    assert [m.content for m in sources] == ["I'm allergic to peanuts, so I avoid satay."]


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (Message.Status.FAILED, "Alberto lives in Lisbon with"),
        (Message.Status.STOPPED, ""),
    ],
)
def test_failed_and_stopped_empty_answers_never_enter_a_segment(
    alice: User, status: str, content: str
) -> None:
    chat = _chat(alice, [("user", "My sister moved to Lisbon last month.")])
    question = chat.messages.get()
    answer = factories.message(
        chat, content, role="assistant", status=status, reply_to=question, created_at=SAID_AT
    )
    factories.message(chat, "We have a beagle called Pixel.", created_at=SAID_AT)

    segment = _consolidated(chat)

    answer.refresh_from_db()
    assert answer.segment_id is None
    assert segment.message_count == 2
    assert "Alberto" not in segment.retrieval_key
    assert not Passage.objects.filter(message=answer).exists()
    # Passed over, not waited for: nothing is left to ingest.
    assert conversation_ingest(conversation_id=chat.pk, final=True) == []


def test_a_failed_answer_retried_later_joins_its_questions_segment(alice: User) -> None:
    chat = _chat(alice, [("user", "My sister moved to Lisbon last month.")])
    question = chat.messages.get()
    answer = factories.message(
        chat, "", role="assistant", status=Message.Status.FAILED, reply_to=question
    )
    factories.message(chat, "We have a beagle called Pixel.", created_at=SAID_AT)
    conversation_ingest(conversation_id=chat.pk)
    assert Message.objects.get(pk=question.pk).segment_id is not None
    Message.objects.filter(pk=answer.pk).update(
        status=Message.Status.DONE, content="Lisbon is a lovely city."
    )

    conversation_ingest(conversation_id=chat.pk, final=True)

    answer.refresh_from_db()
    assert answer.segment is not None
    assert answer.segment_id == Message.objects.get(pk=question.pk).segment_id
    segment = answer.segment
    assert segment.first_sequence <= answer.sequence <= segment.last_sequence
    assert segment.message_count == segment.messages.count()


@pytest.fixture
def found_everywhere(alice: User) -> Iterator[Conversation]:
    """A chat whose failed answer would match the question on every list."""
    chat = _chat(alice, [("user", "Where should I walk Whiskers today?")])
    question = chat.messages.get()
    factories.message(
        chat,
        "Whiskers the cat is allergic to fish food, Alberto.",
        role="assistant",
        status=Message.Status.FAILED,
        reply_to=question,
        created_at=SAID_AT,
    )
    factories.message(chat, "Whiskers hates the rain.", created_at=SAID_AT)
    _consolidated(chat)
    yield chat


def test_retrieval_never_returns_a_failed_answer_as_a_member_or_a_neighbour(
    alice: User, found_everywhere: Conversation
) -> None:
    failed = found_everywhere.messages.get(status=Message.Status.FAILED)
    # Messages are embedded at ingestion only when remembered; give the failed answer a
    # vector so that only the status can keep it out.
    failed.embedding = found_everywhere.messages.exclude(embedding=None).first().embedding  # type: ignore[union-attr]
    failed.save(update_fields=["embedding"])

    units = retrieve_units(
        owner=alice, question="Is Whiskers allergic to fish food?", now=NOW, token_budget=1024
    )

    assert units, "the user's own turns should be found"
    assert all(failed.pk not in unit.message_ids for unit in units)
    assert all("Alberto" not in unit.text for unit in units)


def test_the_assistants_words_are_never_retrieved_on_their_own(alice: User) -> None:
    _consolidated(_chat(alice, CHAT))

    units = retrieve_units(owner=alice, question="Who is Alejandro?", now=NOW, token_budget=1024)

    assert all(name not in unit.text for unit in units for name in INVENTED)
    answers = set(Message.objects.filter(owner=alice, by_person=False).values_list("pk", flat=True))
    assert all(not set(unit.message_ids) & answers for unit in units)


def test_a_short_reply_is_retrieved_with_the_question_it_answers(alice: User) -> None:
    chat = _chat(
        alice,
        [
            ("user", "I'm naming my new sourdough starter today."),
            ("assistant", "Lovely. What did you call your last sourdough starter?"),
            ("user", "Bubbles."),
        ],
    )
    for segment in conversation_ingest(conversation_id=chat.pk, final=True):
        segment_consolidate(segment_id=segment.pk)

    units = retrieve_units(
        owner=alice, question="What was my old sourdough starter called?", now=NOW,
        token_budget=1024,
    )  # fmt: skip

    text = "\n".join(unit.text for unit in units)
    assert "assistant: What did you call your last sourdough starter?\nalice: Bubbles." in text


def test_both_speakers_of_a_transcript_of_two_people_are_memory(alice: User) -> None:
    chat = factories.conversation(alice)
    first = factories.message(chat, "How was your weekend, Caroline?", speaker="Melanie")
    factories.message(
        chat, "I adopted a greyhound called Comet from the shelter.", role="assistant",
        speaker="Caroline", by_person=True, reply_to=first,
    )  # fmt: skip

    segment = _consolidated(chat)

    assert "comet" in segment.keywords
    units = retrieve_units(owner=alice, question="What is Caroline's dog called?", now=NOW,
                           token_budget=1024)  # fmt: skip
    assert "Caroline: I adopted a greyhound called Comet" in "\n".join(u.text for u in units)


def test_the_upkeep_rebuilds_segments_built_the_old_way(alice: User) -> None:
    chat = _chat(alice, CHAT)
    segment = _consolidated(chat)
    failed = factories.message(
        chat, "Alejay", role="assistant", status=Message.Status.FAILED, segment=segment
    )
    Segment.objects.filter(pk=segment.pk).update(
        title="Alberto, Alejandro, Alejay", keywords=["alberto"], text_version=1, message_count=7
    )

    assert segments_rebuild_outdated() == 1
    assert segments_rebuild_outdated() == 0

    segment.refresh_from_db()
    failed.refresh_from_db()
    assert "Alberto" not in segment.title
    assert segment.text_version == SEGMENT_TEXT_VERSION
    assert (segment.message_count, failed.segment_id) == (6, None)


def test_a_failed_answers_partial_text_is_not_in_the_next_prompt(alice: User) -> None:
    chat = _chat(alice, [("user", "My sister moved to Lisbon last month.")])
    failed = factories.message(
        chat, "Alberto and Alej", role="assistant", status=Message.Status.FAILED
    )
    question = factories.message(chat, "Where does my sister live?")
    answer = factories.message(
        chat, "", role="assistant", status=Message.Status.PENDING, reply_to=question
    )

    turns = recent_turns(answer=answer)

    assert failed not in turns
    assert [t.content for t in turns] == [
        "My sister moved to Lisbon last month.",
        "Where does my sister live?",
    ]
