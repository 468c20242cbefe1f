"""A message without spaces (a run of one letter, Chinese, a long URL) never makes a memory
prompt overflow the model's context: the segment is consolidated, its facts learned, the
conversation titled by the model (issue 13, finding 2)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from django.contrib.auth.models import User

from memoryapp import segmentation
from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.llm import LLM, use_backend
from memoryapp.llm.adapter import TOKENS_PER_MESSAGE, TOKENS_PER_REPLY
from memoryapp.llm.scripted import ScriptedCall
from memoryapp.models import Fact, JobStatus, Message, Segment
from memoryapp.services.memory.boundary_check import confirm_boundaries
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.model_access import MemoryModel
from memoryapp.services.memory.profile import profile_rebuild
from memoryapp.services.titles import conversation_title_suggest
from tests import factories
from tests.support.long_messages import CHINESE, LONG_MESSAGES, ByteTokenizer, utf8_bytes

pytestmark = pytest.mark.django_db

SPRING = datetime(2024, 4, 2, 9, 30, tzinfo=UTC)
# The longest fact the extraction schema lets through (`Sentence`), in Chinese.
LONG_FACT = CHINESE[:300]


@pytest.fixture(autouse=True)
def _llm_stages_on(settings: Any) -> None:
    settings.MEMORY_LLM = "on"
    settings.MEMORY_RETRY_BASE_SECONDS = 0


def fits(call: ScriptedCall, context_size: int) -> bool:
    """Whether the call's prompt, counted as the adapter counts it, left room for its reply."""
    content = sum(utf8_bytes(m["content"]) + TOKENS_PER_MESSAGE for m in call.messages)
    return content + TOKENS_PER_REPLY + call.max_tokens <= context_size


def digest() -> str:
    return json.dumps(
        {"title": "Pixel and Porto", "summary": "Alice has a dog.", "key": "Alice: dog, Porto"}
    )


def fact(text: str, source: int) -> dict[str, Any]:
    return {"text": text, "kind": "other", "subject": "alice", "time": None,
            "confidence": 0.9, "sources": [source]}  # fmt: skip


def extraction(*facts: dict[str, Any]) -> str:
    return json.dumps({"facts": list(facts)})


def decision(action: str) -> str:
    return json.dumps({"action": action, "target": None, "text": None, "reason": "test"})


def segment_with(owner: User, *lines: str) -> tuple[Segment, list[Message]]:
    chat = factories.conversation(owner)
    messages = [factories.message(chat, line, created_at=SPRING, speaker="alice") for line in lines]
    return factories.closed_segment(chat, messages), messages


def known_facts(owner: User, count: int) -> None:
    vector = embed_texts([LONG_FACT])[0].tolist()
    for n in range(count):
        Fact.objects.create(
            owner=owner,
            text=f"{n} {LONG_FACT}",
            confidence=0.5 + n / 100,
            embedding=vector,
            embedding_model=model_fingerprint(),
        )


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_segment_with_a_message_without_spaces_is_consolidated_with_its_facts(
    content: str,
) -> None:
    alice = factories.user("alice")
    segment, (dog, _, porto) = segment_with(
        alice, "I have a dog named Pixel.", content, "I live in Porto now."
    )
    backend = ByteTokenizer(
        [
            digest(),
            extraction(fact("Alice has a dog named Pixel.", 1), fact("Alice lives in Porto.", 3)),
            decision("add"),
        ]
    )

    with use_backend(backend):
        segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert (segment.job_status, segment.last_error) == (JobStatus.DONE, "")
    assert segment.summary_source == "llm" and segment.title == "Pixel and Porto"
    learned = {f.text: list(f.source_messages.all()) for f in Fact.objects.filter(owner=alice)}
    assert learned == {"Alice has a dog named Pixel.": [dog], "Alice lives in Porto.": [porto]}
    digest_call, extraction_call = backend.calls[:2]
    assert all(fits(call, 4096) for call in backend.calls)
    for call in (digest_call, extraction_call):
        prompt = call.messages[0]["content"]
        assert "I have a dog named Pixel." in prompt and "I live in Porto now." in prompt
        assert content[:20] in prompt  # the long message's start, cut
    assert "[3] 2024-04-02 alice: I live in Porto now." in extraction_call.messages[0]["content"]


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_without_memory_llm_stages_a_segment_with_a_message_without_spaces_is_consolidated(
    content: str, settings: Any
) -> None:
    settings.MEMORY_LLM = "off"
    segment, _ = segment_with(factories.user("alice"), "I have a dog named Pixel.", content)

    segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert segment.job_status == JobStatus.DONE and segment.summary_source == "extractive"
    # No run without spaces passes for a keyword (or, through them, for the title).
    assert "pixel" in segment.keywords and content[:30] not in segment.title
    assert all(len(word) <= 24 for word in segment.keywords)


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_a_conversation_starting_with_a_message_without_spaces_is_titled_by_the_model(
    content: str,
) -> None:
    chat = factories.conversation(factories.user("alice"))
    factories.message(chat, content)
    # A small context window, as LLM_CONTEXT_SIZE may set on a small machine.
    backend = ByteTokenizer(["A very long message"], context_size=1024)

    conversation_title_suggest(conversation=chat, llm=LLM(backend))

    chat.refresh_from_db()
    assert chat.title == "A very long message"
    (call,) = backend.calls
    assert fits(call, 1024) and content[:20] in call.messages[0]["content"]


@pytest.mark.parametrize("content", LONG_MESSAGES.values(), ids=LONG_MESSAGES.keys())
def test_the_boundary_check_reads_turns_without_spaces(content: str) -> None:
    vector = np.ones(384, dtype=np.float32) / np.sqrt(384)
    turns = [
        segmentation.Turn(text=content, embedding=vector, at=SPRING + timedelta(minutes=n))
        for n in range(5)
    ]
    backend = ByteTokenizer(['{"continues": true}'], context_size=2048)

    with use_backend(backend):
        confirmed = confirm_boundaries(turns, [False, False, False, True, False], offset=0)

    assert confirmed == [False] * 5  # the model was asked, and its veto taken
    (call,) = backend.calls
    assert fits(call, 2048)


def test_known_facts_without_spaces_are_weighed_against_a_new_fact() -> None:
    alice = factories.user("alice")
    known_facts(alice, 6)
    segment, _ = segment_with(alice, "I live in Porto now.")
    backend = ByteTokenizer(
        [digest(), extraction(fact("Alice lives in Porto.", 1)), decision("add")]
    )

    with use_backend(backend):
        segment_consolidate(segment_id=segment.pk)

    segment.refresh_from_db()
    assert (segment.job_status, segment.last_error) == (JobStatus.DONE, "")
    assert Fact.objects.filter(owner=alice, text="Alice lives in Porto.").exists()
    decision_call = backend.calls[-1]
    assert fits(decision_call, 4096)
    prompt = decision_call.messages[0]["content"]
    assert "NEW: Alice lives in Porto." in prompt and "1. " in prompt and "记忆" in prompt


def test_a_profile_from_many_long_facts_is_written_by_the_model() -> None:
    alice = factories.user("alice")
    known_facts(alice, 40)
    backend = ByteTokenizer([json.dumps({"summary": "Alice remembers a great deal."})])

    profile = profile_rebuild(owner=alice, model=MemoryModel(LLM(backend)))

    assert (profile.source, profile.summary) == ("llm", "Alice remembers a great deal.")
    (call,) = backend.calls
    assert fits(call, 4096)
    assert "39 记忆" in call.messages[0]["content"]  # the most confident fact is shown


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_a_segment_with_every_long_message_is_consolidated_by_the_real_model() -> None:
    alice = factories.user("alice")
    segment, _ = segment_with(
        alice, "I have a dog named Pixel.", *LONG_MESSAGES.values(), "I live in Porto now."
    )

    segment_consolidate(segment_id=segment.pk)
    profile = profile_rebuild(owner=alice)

    segment.refresh_from_db()
    # Done, or waiting to retry output that never validated: never a prompt too long.
    assert segment.job_status in (JobStatus.DONE, JobStatus.RETRY), segment.last_error
    assert "prompt" not in segment.last_error and segment.llm_calls >= 1
    assert profile.stale is False
