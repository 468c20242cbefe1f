"""The memoryapp export document as the import reads it: its schema (README, "Export format";
`memoryapp.services.memory.export` writes it) as pydantic models, and the checks that every
reference in it points at one of its rows."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar
from uuid import UUID

import pydantic
from django.core.exceptions import ValidationError

from memoryapp.models import (
    Fact,
    FactProposal,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Segment,
)
from memoryapp.services.memory import export
from memoryapp.services.memory.import_files import NOTHING_DONE, refusal, schema_problems

T = TypeVar("T")


class Row(pydantic.BaseModel):
    """A row of the document: every field of the README's "Export format", no other."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


Text = str
Short = Annotated[str, pydantic.StringConstraints(max_length=16)]
Keyword = Annotated[str, pydantic.StringConstraints(max_length=60)]
Id100 = Annotated[str, pydantic.StringConstraints(max_length=100)]
Name200 = Annotated[str, pydantic.StringConstraints(max_length=200)]
SmallCount = Annotated[int, pydantic.Field(ge=0, le=32767)]
Share = Annotated[float, pydantic.Field(ge=0, le=1)]
Time = pydantic.AwareDatetime
Count = pydantic.NonNegativeInt
Snapshot = dict[str, Any] | None


class _User(Row):
    username: str
    date_joined: Time


class _Settings(Row):
    admin_may_inspect: bool
    memory_paused: bool


class _Citation(Row):
    number: SmallCount
    kind: Short
    segment_id: UUID | None
    fact_id: UUID | None
    message_ids: list[UUID]
    rank: SmallCount
    score: float
    cited: bool


class MessageRow(Row):
    id: UUID
    sequence: Count
    role: Message.Role
    speaker: Id100
    by_person: bool
    private: bool
    content: Text
    status: Message.Status
    created_at: Time
    finished_at: Time | None
    finish_reason: Short
    reply_to_id: UUID | None
    error: Text
    note: Text
    model_name: Name200
    token_count: Count | None
    external_id: Id100
    segment_id: UUID | None
    citations: list[_Citation] = []


class _Conversation(Row):
    id: UUID
    title: Name200
    title_is_custom: bool
    incognito: bool
    external_id: Id100
    created_at: Time
    updated_at: Time
    messages: list[MessageRow]


class _Segment(Row):
    id: UUID
    conversation_id: UUID
    status: Segment.Status
    first_sequence: Count
    last_sequence: Count
    start_message_id: UUID | None
    end_message_id: UUID | None
    start_at: Time
    end_at: Time
    message_count: Count
    created_at: Time
    closed_at: Time | None
    consolidated_at: Time | None
    title: Name200
    summary: Text
    retrieval_key: Text
    keywords: list[Keyword]
    summary_source: Short
    text_version: SmallCount
    job_status: JobStatus


class _Event(Row):
    id: int
    changeset_id: UUID
    fact_id: UUID | None
    action: MemoryEvent.Action
    reason: Text
    created_at: Time
    before: Snapshot
    after: Snapshot


class _Fact(Row):
    id: UUID
    kind: Fact.Kind
    subject: Name200
    text: Text
    status: Fact.Status
    confidence: Share
    valid_from: Time | None
    valid_to: Time | None
    recorded_at: Time
    retired_at: Time | None
    updated_at: Time
    user_edited_at: Time | None
    superseded_by_id: UUID | None
    segment_id: UUID | None
    sources: list[UUID]
    history: list[_Event]


class _Proposal(Row):
    id: UUID
    segment_id: UUID | None
    action: FactProposal.Action
    why: FactProposal.Why
    target_id: UUID | None
    text: Text
    kind: Fact.Kind
    subject: Name200
    confidence: float
    valid_from: Time | None
    said_at: Time
    merged_text: Text
    source_message_ids: list[UUID]
    reason: Text
    status: FactProposal.Status
    created_at: Time
    decided_at: Time | None
    changeset_id: UUID | None


class _Changeset(Row):
    id: UUID
    source: MemoryChangeset.Source
    segment_id: UUID | None
    reason: Text
    created_at: Time
    undone_by_id: UUID | None
    event_ids: list[int]
    detached_events: list[_Event]


class _Profile(Row):
    summary: Text
    fact_count: Count
    source: Short
    stale: bool
    updated_at: Time


class Document(Row):
    format: Literal["memoryapp-export"]
    version: Literal[1]
    exported_at: Time
    user: _User
    settings: _Settings
    conversations: list[_Conversation]
    segments: list[_Segment]
    facts: list[_Fact]
    proposals: list[_Proposal]
    changesets: list[_Changeset]
    profile: _Profile | None


def _document_kind_check(document: Any) -> None:
    """A refusal that names the format, for a document of another format or version."""
    if isinstance(document, list):
        if document and isinstance(document[0], dict) and "mapping" in document[0]:
            raise ValidationError(
                "This is a ChatGPT conversations.json, not a memoryapp export: import it as "
                f"“ChatGPT data export”. {NOTHING_DONE}"
            )
        raise ValidationError(
            f"This is not a memoryapp export: it holds a JSON list, not an object. {NOTHING_DONE}"
        )
    if not isinstance(document, dict):
        raise ValidationError(
            f"This is not a memoryapp export: it is not an object. {NOTHING_DONE}"
        )
    found = document.get("format")
    if found != export.FORMAT:
        raise ValidationError(
            f"This is not a memoryapp export: its format is {json.dumps(found)}, not "
            f'"{export.FORMAT}". {NOTHING_DONE}'
        )
    if document.get("version") != export.VERSION:
        raise ValidationError(
            f"This memoryapp export is version {json.dumps(document.get('version'))}; this "
            f"memoryapp reads version {export.VERSION}. {NOTHING_DONE}"
        )


def memory_document_validate(document: Any) -> Document:
    """The document, checked whole: its format and version, every field's presence and type
    (README, "Export format"), and that every reference points at a row of the document.
    Raises ValidationError naming the first problems found."""
    _document_kind_check(document)
    try:
        # Strict, as JSON: "1" is not a number, nor 1 a boolean.
        parsed = Document.model_validate_json(json.dumps(document), strict=True)
    except pydantic.ValidationError as exc:
        raise refusal(
            "The memoryapp export does not follow its schema:", schema_problems(exc)
        ) from exc
    problems = _reference_problems(parsed)
    if problems:
        raise refusal("The memoryapp export does not hold together:", problems)
    return parsed


def _duplicates(ids: Iterable[T]) -> set[T]:
    seen: set[T] = set()
    twice: set[T] = set()
    for item in ids:
        (twice if item in seen else seen).add(item)
    return twice


def _reference_problems(doc: Document) -> list[str]:
    """Every reference that points at nothing of the document (or at a row it may not)."""
    problems: list[str] = []
    messages = {m.id: c.id for c in doc.conversations for m in c.messages}
    segments = {s.id: s.conversation_id for s in doc.segments}
    facts = {f.id for f in doc.facts}
    changesets = {c.id for c in doc.changesets}
    events: dict[int, UUID] = {}
    for event in [e for f in doc.facts for e in f.history] + [
        e for c in doc.changesets for e in c.detached_events
    ]:
        if event.id in events:
            problems.append(f"journal event {event.id} appears twice")
        events[event.id] = event.changeset_id
    everything = [c.id for c in doc.conversations] + list(messages) + list(segments)
    everything += [f.id for f in doc.facts] + [p.id for p in doc.proposals] + list(changesets)
    problems += [f"the id {twice} is used by two rows" for twice in _duplicates(everything)]
    if len(everything) != len(set(everything)):
        return problems
    conversations = {c.id for c in doc.conversations}
    for ci, conversation in enumerate(doc.conversations):
        for sequence in _duplicates(m.sequence for m in conversation.messages):
            problems.append(f"conversations[{ci}]: two messages have sequence {sequence}")
        for mi, message in enumerate(conversation.messages):
            where = f"conversations[{ci}].messages[{mi}]"
            if message.reply_to_id and messages.get(message.reply_to_id) != conversation.id:
                problems.append(f"{where}.reply_to_id: no message of this conversation has it")
            if message.segment_id and segments.get(message.segment_id) != conversation.id:
                problems.append(f"{where}.segment_id: no segment of this conversation has it")
            for ni, citation in enumerate(message.citations):
                if citation.segment_id and citation.segment_id not in segments:
                    problems.append(f"{where}.citations[{ni}].segment_id: no such segment")
                if citation.fact_id and citation.fact_id not in facts:
                    problems.append(f"{where}.citations[{ni}].fact_id: no such fact")
    for si, segment in enumerate(doc.segments):
        if segment.conversation_id not in conversations:
            problems.append(f"segments[{si}].conversation_id: no such conversation")
    for fi, fact in enumerate(doc.facts):
        if fact.superseded_by_id and fact.superseded_by_id not in facts:
            problems.append(f"facts[{fi}].superseded_by_id: no such fact")
        if fact.segment_id and fact.segment_id not in segments:
            problems.append(f"facts[{fi}].segment_id: no such segment")
        problems += [
            f"facts[{fi}].sources: no message {m}" for m in fact.sources if m not in messages
        ]
        for ei, event in enumerate(fact.history):
            if event.fact_id != fact.id:
                problems.append(f"facts[{fi}].history[{ei}].fact_id: not this fact's id")
            if event.changeset_id not in changesets:
                problems.append(f"facts[{fi}].history[{ei}].changeset_id: no such changeset")
    for pi, proposal in enumerate(doc.proposals):
        if proposal.target_id and proposal.target_id not in facts:
            problems.append(f"proposals[{pi}].target_id: no such fact")
        if proposal.segment_id and proposal.segment_id not in segments:
            problems.append(f"proposals[{pi}].segment_id: no such segment")
        if proposal.changeset_id and proposal.changeset_id not in changesets:
            problems.append(f"proposals[{pi}].changeset_id: no such changeset")
    for ci, changeset in enumerate(doc.changesets):
        if changeset.segment_id and changeset.segment_id not in segments:
            problems.append(f"changesets[{ci}].segment_id: no such segment")
        if changeset.undone_by_id and changeset.undone_by_id not in changesets:
            problems.append(f"changesets[{ci}].undone_by_id: no such changeset")
        for event_id in changeset.event_ids:
            if events.get(event_id) != changeset.id:
                problems.append(f"changesets[{ci}].event_ids: {event_id} is not its event")
        for ei, event in enumerate(changeset.detached_events):
            if event.fact_id is not None or event.changeset_id != changeset.id:
                problems.append(
                    f"changesets[{ci}].detached_events[{ei}]: not a detached event of it"
                )
    return problems
