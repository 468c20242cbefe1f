"""A person's whole memory as one versioned JSON document (schema: README, "Export format").

Everything is read through the owner, rows come in a fixed order (time, then id) so two
exports of the same data differ only in `exported_at`, and no vector leaves the database:
an import rebuilds them.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections import defaultdict
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from memoryapp.models import (
    Citation,
    Conversation,
    Fact,
    FactProposal,
    FactSource,
    MemberSettings,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Profile,
    Segment,
)

FORMAT = "memoryapp-export"
VERSION = 1

Row = dict[str, Any]

CONVERSATION_FIELDS = (
    "id", "title", "title_is_custom", "incognito", "external_id", "created_at", "updated_at",
)  # fmt: skip
MESSAGE_FIELDS = (
    "id", "conversation_id", "sequence", "role", "speaker", "by_person", "private", "content",
    "status",
    "created_at", "finished_at", "finish_reason", "reply_to_id", "error", "note", "model_name",
    "token_count", "external_id", "segment_id",
)  # fmt: skip
CITATION_FIELDS = (
    "answer_id", "number", "kind", "segment_id", "fact_id", "message_ids", "rank", "score",
    "cited",
)  # fmt: skip
SEGMENT_FIELDS = (
    "id", "conversation_id", "status", "first_sequence", "last_sequence", "start_at", "end_at",
    "message_count", "created_at", "closed_at", "consolidated_at", "title", "summary",
    "retrieval_key", "keywords", "summary_source", "text_version", "job_status",
)  # fmt: skip
FACT_FIELDS = (
    "id", "kind", "subject", "text", "status", "confidence", "valid_from", "valid_to",
    "recorded_at", "retired_at", "updated_at", "user_edited_at", "superseded_by_id", "segment_id",
)  # fmt: skip
PROPOSAL_FIELDS = (
    "id", "segment_id", "action", "why", "target_id", "text", "kind", "subject", "confidence",
    "valid_from", "said_at", "merged_text", "source_message_ids", "reason", "status",
    "created_at", "decided_at", "changeset_id",
)  # fmt: skip
CHANGESET_FIELDS = ("id", "source", "segment_id", "reason", "created_at", "undone_by_id")
EVENT_FIELDS = (
    "id", "changeset_id", "fact_id", "action", "reason", "created_at", "before", "after",
)  # fmt: skip
PROFILE_FIELDS = ("summary", "fact_count", "source", "stale", "updated_at")
# Fact snapshots in the journal carry the fact's vector; the export never does.
SNAPSHOT_VECTORS = ("embedding",)


def _plain(value: Any) -> Any:
    """`value` as JSON data: ISO 8601 times (with their offset), UUIDs as strings."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _rows(queryset: Any, fields: tuple[str, ...]) -> list[Row]:
    """The rows' `fields`; only those columns are read, so never a vector."""
    return [{field: _plain(row[field]) for field in fields} for row in queryset.values(*fields)]


def _snapshot(snapshot: Row | None) -> Row | None:
    if snapshot is None:
        return None
    return {key: value for key, value in snapshot.items() if key not in SNAPSHOT_VECTORS}


def memory_export_text(*, owner: User) -> str:
    """`memory_export` as the JSON text every way out writes (page, admin, command)."""
    return json.dumps(memory_export(owner=owner), ensure_ascii=False, indent=2) + "\n"


def memory_export_filename(*, owner: User) -> str:
    return f"memory-{owner.get_username()}-{timezone.now():%Y-%m-%d}.json"


def memory_export(*, owner: User) -> Row:
    """The owner's conversations with their messages (and the memory each answer was given),
    segments, facts with their sources and history, the review inbox's proposals (pending
    ones and decided ones: a rejection is remembered), changesets, profile and settings."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": timezone.now().isoformat(),
        "user": {"username": owner.get_username(), "date_joined": _plain(owner.date_joined)},
        "settings": _settings(owner),
        "conversations": _conversations(owner),
        "segments": _segments(owner),
        "facts": _facts(owner),
        "proposals": _rows(
            FactProposal.objects.filter(owner=owner).order_by("created_at", "id"), PROPOSAL_FIELDS
        ),
        "changesets": _changesets(owner),
        "profile": _profile(owner),
    }


def _settings(owner: User) -> Row:
    found = MemberSettings.objects.filter(user=owner).first()
    defaults = found if found is not None else MemberSettings()
    return {
        "admin_may_inspect": defaults.admin_may_inspect,
        "memory_paused": defaults.memory_paused,
    }


def _conversations(owner: User) -> list[Row]:
    messages: defaultdict[str, list[Row]] = defaultdict(list)
    citations = _citations(owner)
    for message in _rows(
        Message.objects.filter(owner=owner).order_by("conversation_id", "sequence"),
        MESSAGE_FIELDS,
    ):
        if message["role"] == Message.Role.ASSISTANT:
            message["citations"] = citations.get(message["id"], [])
        messages[message.pop("conversation_id")].append(message)
    conversations = _rows(
        Conversation.objects.filter(owner=owner).order_by("created_at", "id"), CONVERSATION_FIELDS
    )
    for conversation in conversations:
        conversation["messages"] = messages[conversation["id"]]
    return conversations


def _citations(owner: User) -> dict[str, list[Row]]:
    """The memory units each answer was given, by answer id, in their numbered order."""
    found: defaultdict[str, list[Row]] = defaultdict(list)
    for citation in _rows(
        Citation.objects.filter(owner=owner).order_by("answer_id", "number"), CITATION_FIELDS
    ):
        found[citation.pop("answer_id")].append(citation)
    return found


def _segments(owner: User) -> list[Row]:
    """Segments, each with the ids of its first and last message."""
    by_place = {
        (str(conversation_id), sequence): str(message_id)
        for conversation_id, sequence, message_id in Message.objects.filter(
            owner=owner
        ).values_list("conversation_id", "sequence", "id")
    }
    segments = _rows(
        Segment.objects.filter(owner=owner).order_by("created_at", "id"), SEGMENT_FIELDS
    )
    for segment in segments:
        place = segment["conversation_id"]
        segment["start_message_id"] = by_place.get((place, segment["first_sequence"]))
        segment["end_message_id"] = by_place.get((place, segment["last_sequence"]))
    return segments


def _facts(owner: User) -> list[Row]:
    """Facts with their source messages (in the order they were said) and their journal."""
    sources: defaultdict[str, list[str]] = defaultdict(list)
    for fact_id, message_id in (
        FactSource.objects.filter(owner=owner)
        .order_by("message__created_at", "message__conversation_id", "message__sequence")
        .values_list("fact_id", "message_id")
    ):
        sources[str(fact_id)].append(str(message_id))
    history = defaultdict(list)
    for event in _events(owner, attached=True):
        history[event["fact_id"]].append(event)
    facts = _rows(Fact.objects.filter(owner=owner).order_by("recorded_at", "id"), FACT_FIELDS)
    for fact in facts:
        fact["sources"] = sources[fact["id"]]
        fact["history"] = history[fact["id"]]
    return facts


def _events(owner: User, *, attached: bool) -> list[Row]:
    """The owner's journal events whose fact still exists (`attached`) or was deleted."""
    events = _rows(
        MemoryEvent.objects.filter(owner=owner, fact__isnull=not attached).order_by(
            "created_at", "id"
        ),
        EVENT_FIELDS,
    )
    for event in events:
        event["before"] = _snapshot(event["before"])
        event["after"] = _snapshot(event["after"])
    return events


def _changesets(owner: User) -> list[Row]:
    """Changesets with the ids of their events (the events are in their facts' history, or
    here, as `detached_events`, when their fact no longer exists)."""
    event_ids: defaultdict[str, list[int]] = defaultdict(list)
    for changeset_id, event_id in (
        MemoryEvent.objects.filter(owner=owner)
        .order_by("created_at", "id")
        .values_list("changeset_id", "id")
    ):
        event_ids[str(changeset_id)].append(event_id)
    detached = defaultdict(list)
    for event in _events(owner, attached=False):
        detached[event["changeset_id"]].append(event)
    changesets = _rows(
        MemoryChangeset.objects.filter(owner=owner).order_by("created_at", "id"),
        CHANGESET_FIELDS,
    )
    for changeset in changesets:
        changeset["event_ids"] = event_ids[changeset["id"]]
        changeset["detached_events"] = detached[changeset["id"]]
    return changesets


def _profile(owner: User) -> Row | None:
    rows = _rows(Profile.objects.filter(owner=owner), PROFILE_FIELDS)
    return rows[0] if rows else None
