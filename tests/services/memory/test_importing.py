"""Importing a memoryapp export document: everything restored with new ids and every
reference remapped, vectors rebuilt, a round trip that loses nothing; a document that is not
a valid export, or an account with history (unless merging), refused with nothing written."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.utils import timezone

from memoryapp.embeddings import EMBEDDING_DIM
from memoryapp.models import (
    Conversation,
    Fact,
    FactProposal,
    FactSource,
    JobStatus,
    MemberSettings,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Profile,
    Segment,
)
from memoryapp.services.memory.export import memory_export
from memoryapp.services.memory.import_files import json_parse
from memoryapp.services.memory.importing import (
    memory_document_import,
    memory_document_read,
)
from memoryapp.services.memory.journal import fact_snapshot
from tests import factories
from tests.support.household import OWNED_MODELS, PersonData

pytestmark = pytest.mark.django_db

Document = dict[str, Any]
OWNED: list[type[Model]] = [*OWNED_MODELS, FactProposal]
# Keys whose values are ids, besides any string that is a UUID.
ID_KEYS = {"event_ids", "message_ids", "source_message_ids", "sources", "superseded_by", "segment"}


def _is_id_key(key: str | None) -> bool:
    if key is None:
        return False
    return key == "id" or key in ID_KEYS or (key.endswith("_id") and key != "external_id")


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def normalised(document: Document) -> Document:
    """The document without its time of export and account, every id replaced by the order
    in which it first appears: two exports of the same memory under other ids compare equal."""
    tokens: dict[tuple[type, Any], str] = {}

    def token(value: Any) -> str:
        return tokens.setdefault((type(value), value), f"<id {len(tokens)}>")

    def walk(value: Any, key: str | None = None) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(item, key) for item in value]
        if value is not None and (_is_id_key(key) or _is_uuid(value)):
            return token(value)
        return value

    kept = {k: v for k, v in document.items() if k not in ("exported_at", "user")}
    result: Document = walk(kept)
    return result


def _ids(document: Document) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif _is_uuid(value):
            found.add(value)

    walk(document)
    return found


def rich_memory(owner: User, data: PersonData) -> None:
    """Beside the household's rows: an incognito conversation of private messages, an
    imported one, a failed and a stopped answer, a message not ingested yet, a segment with
    its text and one pending, a fact the person edited, full journal snapshots (one of a fact
    deleted since), an undone changeset, the review inbox (pending, rejected, accepted), a
    citation of a message forgotten since, and settings."""
    now = timezone.now()
    incognito = factories.conversation(owner, title="kept out of memory")
    Conversation.objects.filter(pk=incognito.pk).update(incognito=True)
    factories.exchange(incognito, "A secret for nobody.", "Understood.", private=True)
    Message.objects.filter(conversation=incognito).update(private=True)
    imported = factories.conversation(owner, title="from ChatGPT")
    Conversation.objects.filter(pk=imported.pk).update(external_id="chatgpt-conversation-1")
    question, answer = factories.exchange(
        imported,
        "I grow tomatoes on my balcony. The cherry ones do best.",
        "Cherry tomatoes like sun.",
        model_name="gpt-4o",
        external_id="node-2",
    )
    failed = factories.message(
        imported, "", role=Message.Role.ASSISTANT, status=Message.Status.FAILED, error="boom"
    )
    stopped = factories.message(
        imported, "Half an an", role=Message.Role.ASSISTANT, status=Message.Status.STOPPED
    )
    later = factories.message(imported, "Also basil, which I never remember to water.")
    segment = factories.closed_segment(imported, [question, answer, failed, stopped])
    Segment.objects.filter(pk=segment.pk).update(
        title="Balcony tomatoes",
        summary="They grow cherry tomatoes on the balcony.",
        retrieval_key="grow tomatoes balcony cherry",
        keywords=["tomatoes", "balcony"],
        summary_source="extractive",
        text_version=2,
        job_status=JobStatus.DONE,
        consolidated_at=now,
    )
    pending_segment = factories.closed_segment(data.conversation, [data.question, data.answer])
    Message.objects.filter(pk__in=[data.question.pk, data.answer.pk]).update(
        segment=pending_segment
    )
    Segment.objects.filter(pk=data.segment.pk).delete()
    tomato = Fact.objects.create(
        owner=owner,
        text="Grows cherry tomatoes on the balcony.",
        kind=Fact.Kind.POSSESSION,
        segment=segment,
        confidence=0.9,
        valid_from=now - timedelta(days=30),
        user_edited_at=now,
        embedding=[0.2] * EMBEDDING_DIM,
    )
    FactSource.objects.create(fact=tomato, message=question, owner=owner)
    consolidation = MemoryChangeset.objects.create(
        owner=owner, source=MemoryChangeset.Source.CONSOLIDATION, segment=segment
    )
    MemoryEvent.objects.create(
        changeset=consolidation,
        owner=owner,
        fact=tomato,
        action=MemoryEvent.Action.ADD,
        after=fact_snapshot(tomato),
        reason="learned",
    )
    gone = Fact.objects.create(owner=owner, text="Grows basil.", segment=segment)
    FactSource.objects.create(fact=gone, message=later, owner=owner)
    gone_snapshot = fact_snapshot(gone)
    gone.delete()
    undo = MemoryChangeset.objects.create(owner=owner, source=MemoryChangeset.Source.UNDO)
    MemoryEvent.objects.create(
        changeset=undo, owner=owner, action=MemoryEvent.Action.RETRACT, before=gone_snapshot
    )
    MemoryChangeset.objects.filter(pk=consolidation.pk).update(undone_by=undo)
    review = MemoryChangeset.objects.create(owner=owner, source=MemoryChangeset.Source.REVIEW)
    for status, action, target in (
        (FactProposal.Status.PENDING, FactProposal.Action.ADD, None),
        (FactProposal.Status.REJECTED, FactProposal.Action.SUPERSEDE, tomato),
        (FactProposal.Status.ACCEPTED, FactProposal.Action.MERGE, data.fact),
    ):
        FactProposal.objects.create(
            owner=owner,
            segment=segment,
            action=action,
            why=FactProposal.Why.UNSURE,
            target=target,
            text=f"A {status} proposal.",
            confidence=0.4,
            said_at=question.created_at,
            source_message_ids=[question.pk],
            status=status,
            decided_at=None if status == FactProposal.Status.PENDING else now,
            changeset=review if status == FactProposal.Status.ACCEPTED else None,
        )
    factories.citation(
        data.answer, 2, [uuid.uuid4(), question.pk], kind="fact", fact=tomato, cited=True
    )
    MemberSettings.objects.create(user=owner, admin_may_inspect=True, memory_paused=True)


@pytest.fixture
def rich(alice: User, alices: PersonData) -> Document:
    rich_memory(alice, alices)
    return memory_export(owner=alice)


def _owned(owner: User) -> dict[str, int]:
    counts = {m.__name__: m._default_manager.filter(owner=owner).count() for m in OWNED}
    counts["settings"] = MemberSettings.objects.filter(user=owner).count()
    return counts


def test_a_round_trip_gives_the_same_document_apart_from_ids(rich: Document) -> None:
    carol = factories.user("carol")

    memory_document_import(owner=carol, document=copy.deepcopy(rich))

    again = memory_export(owner=carol)
    assert normalised(again) == normalised(rich)
    assert not _ids(again) & _ids(rich)  # every id is new
    assert len(again["conversations"]) == 3 and len(again["proposals"]) == 3


def test_the_journal_snapshots_are_remapped_too(rich: Document) -> None:
    carol = factories.user("carol")

    memory_document_import(owner=carol, document=rich)

    tomato = Fact.objects.get(owner=carol, text__startswith="Grows cherry")
    event = tomato.events.get()
    assert event.after is not None
    assert event.after["id"] == str(tomato.pk)
    assert event.after["segment"] == str(tomato.segment_id)
    assert event.after["sources"] == [
        str(m) for m in tomato.source_messages.values_list("pk", flat=True)
    ]
    assert "embedding" not in event.after
    [detached] = MemoryEvent.objects.filter(owner=carol, fact=None)
    assert detached.before is not None
    [source] = detached.before["sources"]
    assert Message.objects.get(pk=source, owner=carol).content.startswith("Also basil")
    assert detached.changeset.undoes.source == MemoryChangeset.Source.CONSOLIDATION


def test_vectors_are_rebuilt(rich: Document) -> None:
    carol = factories.user("carol")

    memory_document_import(owner=carol, document=rich)

    ingested = Message.objects.filter(owner=carol, segment__isnull=False, status="done")
    assert ingested.exists() and not ingested.filter(embedding=None).exists()
    assert not ingested.exclude(embedding_model=ingested[0].embedding_model).exists()
    question = Message.objects.get(owner=carol, content__startswith="I grow tomatoes")
    assert sorted(question.passages.values_list("position", flat=True)) == [0, 1]
    assert not Message.objects.filter(owner=carol, segment=None).exclude(embedding=None).exists()
    segment = Segment.objects.get(owner=carol, title="Balcony tomatoes")
    assert segment.key_embedding is not None and segment.summary_embedding is not None
    assert not Fact.objects.filter(owner=carol, embedding=None).exists()
    assert not FactProposal.objects.filter(owner=carol, embedding=None).exists()
    # The same text gets the same vector as the pipeline's.
    tomato = Fact.objects.get(owner=carol, text__startswith="Grows cherry")
    assert tomato.embedding is not None and len(tomato.embedding) == EMBEDDING_DIM


def test_settings_profile_and_the_review_inbox_are_restored(rich: Document) -> None:
    carol = factories.user("carol")

    outcome = memory_document_import(owner=carol, document=rich)

    settings = MemberSettings.objects.get(user=carol)
    assert (settings.admin_may_inspect, settings.memory_paused) == (True, True)
    assert Profile.objects.get(owner=carol).summary == "alicemark keeps bees."
    statuses = set(FactProposal.objects.filter(owner=carol).values_list("status", flat=True))
    assert statuses == {"pending", "rejected", "accepted"}
    rejected = FactProposal.objects.get(owner=carol, status="rejected")
    assert rejected.target is not None and rejected.target.owner == carol
    assert (outcome.conversations, outcome.proposals, outcome.changesets) == (3, 3, 4)


def test_what_was_waiting_is_queued_again(rich: Document) -> None:
    carol = factories.user("carol")

    memory_document_import(owner=carol, document=rich)

    pending = Segment.objects.get(owner=carol, title="")
    assert (pending.status, pending.job_status) == (Segment.Status.CLOSED, JobStatus.PENDING)
    waiting = Message.objects.get(owner=carol, content__startswith="Also basil")
    assert (waiting.segment_id, waiting.embedding) == (None, None)


def test_an_answer_being_written_when_exported_is_not_answered_again(
    alice: User, alices: PersonData
) -> None:
    document = memory_export(owner=alice)
    [conversation] = document["conversations"]
    conversation["messages"][1].update(status="streaming")
    document["segments"][0]["job_status"] = "running"
    carol = factories.user("carol")

    memory_document_import(owner=carol, document=document)

    answer = Message.objects.get(owner=carol, role="assistant")
    assert answer.status == Message.Status.STOPPED
    segment = Segment.objects.get(owner=carol)
    assert (segment.job_status, segment.claim) == (JobStatus.PENDING, None)


def test_progress_is_reported_in_conversations(rich: Document) -> None:
    reports: list[tuple[int, int]] = []

    memory_document_import(
        owner=factories.user("carol"), document=rich, progress=lambda *r: reports.append(r)
    )

    assert reports[0] == (0, 3)
    assert reports[-1] == (3, 3)


def test_an_account_with_history_is_refused_unless_merging(
    alice: User, bob: User, bobs: PersonData, rich: Document
) -> None:
    before = _owned(bob)

    with pytest.raises(ValidationError, match="already has conversations or memories"):
        memory_document_import(owner=bob, document=rich)
    assert _owned(bob) == before

    memory_document_import(owner=bob, document=rich, merge=True)

    assert Conversation.objects.filter(owner=bob).count() == 1 + 3
    assert Profile.objects.get(owner=bob).summary == bobs.profile.summary  # their own, stale
    assert Profile.objects.get(owner=bob).stale
    assert not MemberSettings.objects.get_or_create(user=bob)[0].memory_paused


def test_merging_refuses_conversations_imported_already(alice: User, rich: Document) -> None:
    before = _owned(alice)

    with pytest.raises(ValidationError, match="1 of the export's conversations were imported"):
        memory_document_import(owner=alice, document=rich, merge=True)
    assert _owned(alice) == before


def test_nobody_elses_rows_change(alice: User, bob: User, bobs: PersonData, rich: Document) -> None:
    bobs_before = memory_export(owner=bob)

    memory_document_import(owner=factories.user("carol"), document=rich)

    assert normalised(memory_export(owner=alice)) == normalised(rich)
    assert memory_export(owner=bob)["conversations"] == bobs_before["conversations"]
    assert memory_export(owner=bob)["facts"] == bobs_before["facts"]


def _set(path: str, value: Any) -> Callable[[Document], None]:
    """A change to the document at `path` (dots and list indexes); `...` deletes the key."""

    def change(document: Document) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value

    return change


BROKEN = [
    (_set("format", "chatgpt"), 'its format is "chatgpt", not "memoryapp-export"'),
    (_set("version", 2), "version 2; this memoryapp reads version 1"),
    (_set("conversations.0.title", ...), r"conversations\[0\]\.title: Field required"),
    (
        _set("conversations.0.messages.0.created_at", "yesterday"),
        r"conversations\[0\]\.messages\[0\]\.created_at: Input should be a valid datetime",
    ),
    (_set("conversations.0.incognito", "yes"), r"conversations\[0\]\.incognito"),
    (_set("facts.0.confidence", "0.5"), r"facts\[0\]\.confidence"),
    (_set("facts.0.colour", "blue"), r"facts\[0\]\.colour: Extra inputs are not permitted"),
    (_set("segments", None), "segments: Input should be a valid (list|array)"),
    (
        _set("conversations.0.messages.1.reply_to_id", str(uuid.uuid4())),
        r"reply_to_id: no message of this conversation has it",
    ),
    (_set("facts.1.superseded_by_id", str(uuid.uuid4())), r"superseded_by_id: no such fact"),
    (_set("facts.0.sources", [str(uuid.uuid4())]), r"facts\[0\]\.sources: no message"),
    (_set("facts.0.status", "retracted"), "breaks a rule of the database.*fact_retired_has_time"),
    (
        _set("conversations.0.messages.0.token_count", 2**40),
        "breaks a rule of the database.*out of range",
    ),
]


@pytest.mark.parametrize(("change", "match"), BROKEN)
def test_a_broken_document_is_refused_with_nothing_written(
    alice: User, alices: PersonData, change: Callable[[Document], None], match: str
) -> None:
    document = memory_export(owner=alice)
    document["facts"].sort(key=lambda f: f["status"] != "active")  # the active one first
    change(document)
    carol = factories.user("carol")

    with pytest.raises(ValidationError, match=match):
        memory_document_import(owner=carol, document=document)

    assert set(_owned(carol).values()) == {0}


def test_json_of_another_kind_is_refused(alice: User) -> None:
    with pytest.raises(ValidationError, match=r"ChatGPT conversations\.json, not a memoryapp"):
        memory_document_import(owner=alice, document=[{"mapping": {}}])
    with pytest.raises(ValidationError, match="not a memoryapp export: it is not an object"):
        memory_document_import(owner=alice, document="hello")


def test_reading_a_file_says_what_is_wrong_with_it(tmp_path: Path, rich: Document) -> None:
    path = tmp_path / "memory.json"
    text = json.dumps(rich)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValidationError, match=r"not valid JSON .*truncated"):
        memory_document_read(path=path)
    path.write_text(text)
    assert memory_document_read(path=path) == rich
    with path.open("wb") as sparse:
        sparse.truncate(200 * 1024 * 1024)
    with pytest.raises(ValidationError, match="The file is 200 MB"):
        memory_document_read(path=path)


@pytest.mark.parametrize(
    "cut",
    [
        '{"format": "memoryapp-export", "user": {"username": "ali',  # inside a string
        '{"format": "memoryapp-export", "settings": {"memory_paused": fal',  # in a literal
        '{"format": "memoryapp-export", "version": 1',  # between values
    ],
)
def test_a_file_cut_anywhere_is_said_to_be_truncated(cut: str) -> None:
    with pytest.raises(ValidationError, match=r"ends too early: is the file truncated\?"):
        json_parse(cut.encode(), "The file")


def test_a_document_with_a_nul_character_is_refused_with_where(
    tmp_path: Path, rich: Document
) -> None:
    rich["facts"][0]["text"] = "Alice\u0000keeps bees."
    path = tmp_path / "memory.json"
    path.write_text(json.dumps(rich))

    with pytest.raises(ValidationError, match=r"NUL character .* at facts\[0\]\.text"):
        memory_document_read(path=path)
