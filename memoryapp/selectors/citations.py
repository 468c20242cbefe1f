"""The memory an answer used: every unit that was put in its context (the "Memory used" list)
and the ones it cited by [n] (the chips), each linking to where it was said."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.db.models.functions import Left
from django.urls import reverse

from memoryapp.models import Citation, Message

# A unit's label: the first words of its source turn, or of its fact.
LABEL_WORDS = 8
FACT_LABEL_WORDS = 14
# The tooltip: the start of that text.
TITLE_CHARS = 200
# Characters read of each source message (labels and tooltips need no more).
_HEAD_CHARS = 400


@dataclass(frozen=True)
class MemoryUnit:
    """One unit an answer had in its context, as shown under the answer."""

    number: int
    kind: str  # segment, fact or message
    cited: bool  # the answer refers to it as [number]
    label: str  # the first words of the source user turn, or the fact's text
    said_at: datetime | None  # when its source turn was said
    href: str  # its source messages in their conversation, highlighted; "" when gone
    title: str  # a longer excerpt, for the tooltip


@dataclass(frozen=True)
class AnswerMemory:
    units: list[MemoryUnit] = field(default_factory=list)

    @property
    def cited(self) -> list[MemoryUnit]:
        """The units the answer cited that can still be opened: its chips."""
        return [unit for unit in self.units if unit.cited and unit.href]


def answer_memory(*, owner_id: int, answers: Iterable[Message]) -> dict[UUID, AnswerMemory]:
    """The memory used by each of the owner's finished answers among `answers`, by answer id,
    units in number order. Two queries for any number of answers; other owners' answers,
    citations, facts and messages never appear."""
    ids = [
        answer.pk
        for answer in answers
        if answer.owner_id == owner_id
        and answer.role == Message.Role.ASSISTANT
        and answer.is_finished
    ]
    if not ids:
        return {}
    citations = list(
        Citation.objects.filter(owner_id=owner_id, answer_id__in=ids)
        .select_related("fact")
        .order_by("answer_id", "number")
    )
    sources = _sources(owner_id, {m for citation in citations for m in citation.message_ids})
    memory: dict[UUID, AnswerMemory] = {}
    for citation in citations:
        memory.setdefault(citation.answer_id, AnswerMemory()).units.append(
            _unit(citation, owner_id, sources)
        )
    return memory


def _sources(owner_id: int, ids: set[UUID]) -> dict[UUID, Message]:
    if not ids:
        return {}
    messages = (
        Message.objects.filter(owner_id=owner_id, pk__in=ids)
        .only("id", "conversation_id", "role", "created_at", "sequence")
        .annotate(head=Left("content", _HEAD_CHARS))
    )
    return {message.pk: message for message in messages}


def _unit(citation: Citation, owner_id: int, sources: dict[UUID, Message]) -> MemoryUnit:
    found = sorted(
        (sources[m] for m in citation.message_ids if m in sources),
        key=lambda m: (m.created_at, m.sequence),
    )
    fact = citation.fact if citation.fact and citation.fact.owner_id == owner_id else None
    users = [m for m in found if m.role == Message.Role.USER]
    source = users[0] if users else found[0] if found else None
    if fact is not None:
        text, words = fact.text, FACT_LABEL_WORDS
    elif source is not None:
        text, words = _head(source), LABEL_WORDS
    else:
        text, words = "", 0
    return MemoryUnit(
        number=citation.number,
        kind=citation.kind,
        cited=citation.cited,
        label=first_words(text, words) if text else "No longer in memory",
        said_at=source.created_at if source else fact.recorded_at if fact else None,
        href=_href(source, found) if source else "",
        title=" ".join(text.split())[:TITLE_CHARS],
    )


def _head(message: Message) -> str:
    head: str = getattr(message, "head", "")
    return head


def _href(source: Message, found: Sequence[Message]) -> str:
    """The source's conversation with the unit's messages in it highlighted, the source first
    (the page scrolls to it)."""
    url = reverse("conversation", kwargs={"conversation_id": source.conversation_id})
    same = [m for m in found if m.conversation_id == source.conversation_id and m != source]
    highlight = ",".join(str(m.pk) for m in [source, *same])
    return f"{url}?highlight={highlight}#msg-{source.pk}"


def first_words(text: str, count: int) -> str:
    """The first `count` words of `text` on one line, with an ellipsis when it goes on."""
    words = text.split()
    if len(words) <= count:
        return " ".join(words)
    return " ".join(words[:count]).rstrip(",;:.") + "…"
