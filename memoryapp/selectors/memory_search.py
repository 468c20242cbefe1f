"""Search over a person's memory: the units the chat would put in an answer's context for a
question, each with the messages it came from. One function for the Memory page's search
and the `memory_search` command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from memoryapp.models import Message
from memoryapp.retrieval import (
    ContextUnit,
    chat_memory_units,
    is_overview_question,
    overview_units,
)

# A question to the chat may be long; a search is a few words.
SEARCH_MAX_CHARS = 500


@dataclass(frozen=True)
class FoundUnit:
    """One numbered unit of context, with its source messages (the owner's, oldest first)."""

    unit: ContextUnit
    sources: list[Message] = field(default_factory=list)

    @property
    def conversation_ids(self) -> list[UUID]:
        return list(dict.fromkeys(message.conversation_id for message in self.sources))


def memory_search_query(query: str) -> str:
    """The query to search for, or a ValidationError saying what is wrong with it."""
    query = query.strip()
    if not query:
        raise ValidationError("Type what to look for in your memory.")
    if len(query) > SEARCH_MAX_CHARS:
        raise ValidationError(
            f"This search has {len(query):,} characters; the limit is {SEARCH_MAX_CHARS:,}. "
            "Search for a few words."
        )
    return query


def memory_search(*, owner: User, query: str, now: datetime | None = None) -> list[FoundUnit]:
    """What the chat would give an answer to `query` asked `now` (default: now), in number
    order: the chat's own retrieval within its budget (`retrieval.chat_memory_units`), or, for
    "what do you know about me?", the key facts the chat answers that with. Only the owner's
    memory; raises ValidationError for an empty or over-long query."""
    query = memory_search_query(query)
    units = (
        overview_units(owner=owner)
        if is_overview_question(query)
        else chat_memory_units(owner=owner, question=query, now=now or timezone.now())
    )
    ids = {message_id for unit in units for message_id in unit.message_ids}
    messages = Message.objects.filter(owner_id=owner.pk, pk__in=ids).defer(
        "embedding", "search_vector"
    )
    by_id = {message.pk: message for message in messages}
    return [
        FoundUnit(
            unit=unit,
            sources=sorted(
                (by_id[m] for m in unit.message_ids if m in by_id),
                key=lambda message: (message.created_at, message.sequence),
            ),
        )
        for unit in units
    ]
