"""Search over a person's memory: the units the chat would put in an answer's context for a
question, each with the messages it came from. One function for the Memory page's search
and the `memory_search` command."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from django.utils import timezone

from memoryapp.models import Message
from memoryapp.retrieval import (
    ContextUnit,
    chat_memory_units,
    is_overview_question,
    overview_units,
)
from memoryapp.selectors.memory_page import source_messages

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
    ProhibitNullCharactersValidator()(query)  # no text in Postgres holds one
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
    groups = source_messages(owner=owner, groups=[unit.message_ids for unit in units])
    return [
        FoundUnit(unit=unit, sources=sources) for unit, sources in zip(units, groups, strict=True)
    ]
