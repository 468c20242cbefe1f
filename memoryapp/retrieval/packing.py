"""Packing: scored turns and facts, best first, fitted into a token budget as numbered units.

A turn is shown as "speaker: text" with its text compacted (`compact_turn`: filler and short
conversational questions removed, SeCom's denoising applied at read time). Turns of the same
segment and day form one unit under one date header, in conversation order, so overlapping
or adjacent pieces of the same exchange are one citable unit and the date is paid for once.
A fact is a unit of its own, with its validity, and is left out when the turns it came from
are all in the context already; once a fact is in, the turns it came from are not added.
Units are numbered by the rank of their best member, so the order is deterministic and the
best evidence comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.utils import timezone

from memoryapp.models import Fact, Message
from memoryapp.retrieval.tuning import REPLY_MAX_TOKENS, TURN_MAX_TOKENS
from memoryapp.services.memory.denoise import compact_turn
from memoryapp.services.memory.transcript import speaker_of
from memoryapp.text import count_tokens, head_within, sentences, stems

# Below this many tokens left, nothing useful fits any more.
MIN_USEFUL_TOKENS = 8
GAP = "…"


@dataclass(frozen=True)
class ContextUnit:
    """One numbered piece of memory in the prompt, with the messages it brings."""

    number: int
    kind: str  # "segment" | "fact" | "message"
    text: str
    message_ids: tuple[UUID, ...]
    score: float
    tokens: int
    ref_id: UUID  # the segment, the fact, or the best-ranked message


def day(moment: datetime) -> str:
    local = timezone.localtime(moment)
    return f"{local.day} {local:%B %Y}"


def turn_line(
    message: Message, question: frozenset[str] = frozenset(), *, text: str | None = None
) -> str:
    """ "speaker: text", compacted, and trimmed around the question's words when long (the
    assistant's words get less room than people's: they are context for them); `text`
    in place of the message's whole content (the part of an assistant's turn a person's
    reply responds to)."""
    speaker = speaker_of(message)
    text = compact_turn(message.content) if text is None else text
    limit = TURN_MAX_TOKENS if message.by_person else REPLY_MAX_TOKENS
    if count_tokens(text) > limit:
        text = _trimmed(text, question, limit - count_tokens(f"{speaker}:"))
    return f"{speaker}: {text}"


def _trimmed(text: str, question: frozenset[str], limit: int) -> str:
    """The sentences sharing most words with the question (earlier first among equals) that
    fit `limit` tokens, in their order, with a gap mark where sentences were left out."""
    parts = sentences(text)
    overlap = [len(stems(part) & question) for part in parts]
    chosen: set[int] = set()
    used = 0
    for index in sorted(range(len(parts)), key=lambda i: (-overlap[i], i)):
        cost = count_tokens(parts[index]) + 1  # and a gap mark
        if used + cost <= limit - 1:  # room for a last gap mark
            chosen.add(index)
            used += cost
    if not chosen:  # every sentence is longer than the limit: the first words
        words: list[str] = []
        for word in text.split():
            if count_tokens(" ".join([*words, word])) >= limit:
                if not words:  # a first word over the limit (text without spaces): its start
                    words.append(head_within(word, limit - 1))
                break
            words.append(word)
        return " ".join([*words, GAP])
    shown: list[str] = []
    for index in range(len(parts)):
        if index in chosen:
            shown.append(parts[index])
        elif not shown or shown[-1] != GAP:
            shown.append(GAP)
    return " ".join(shown)


def fact_text(fact: Fact) -> str:
    if fact.status == Fact.Status.SUPERSEDED:
        until = day(fact.valid_to) if fact.valid_to else "some time"
        return f"Fact, no longer true since {until}: {fact.text}"
    since = f" (since {day(fact.valid_from)})" if fact.valid_from else ""
    return f"Fact{since}: {fact.text}"


@dataclass(frozen=True)
class Candidate:
    """A person's turn or a fact to pack, with its score; a turn may come with `context`, the
    assistant's turn before it, of which `context_text` is shown."""

    score: float
    message: Message | None = None
    fact: Fact | None = None
    fact_sources: tuple[UUID, ...] = ()
    context: Message | None = None
    context_text: str = ""


@dataclass
class _Unit:
    rank: int
    score: float
    kind: str
    ref_id: UUID
    header: str  # a turns unit's date, or a fact's whole text
    lines: list[tuple[int, str, UUID]] = field(default_factory=list)  # (sequence, text, id)
    sources: tuple[UUID, ...] = ()  # a fact's source messages

    def context_unit(self, number: int) -> ContextUnit:
        body = [line for _, line, _ in sorted(self.lines)]
        text = "\n".join([self.header, *body])
        ids = self.sources or tuple(message_id for _, _, message_id in sorted(self.lines))
        return ContextUnit(
            number=number,
            kind=self.kind,
            text=text,
            message_ids=ids,
            score=self.score,
            tokens=count_tokens(text),
            ref_id=self.ref_id,
        )


def _group_of(message: Message) -> tuple[UUID, str]:
    return (message.segment_id or message.conversation_id, day(message.created_at))


def pack(
    candidates: Sequence[Candidate],
    budget: int,
    seen: set[UUID],
    question: frozenset[str] = frozenset(),
) -> list[ContextUnit]:
    """Candidates (best first) while they fit `budget`; messages in `seen` (already in the
    prompt) are never repeated, and nothing is given twice. `question` holds the question's
    `stems`, which long turns are trimmed around."""
    groups: dict[tuple[UUID, str], _Unit] = {}
    units: list[_Unit] = []
    left = budget
    for rank, candidate in enumerate(candidates):
        if left < MIN_USEFUL_TOKENS:
            break
        if candidate.fact is not None:
            if candidate.fact_sources and set(candidate.fact_sources) <= seen:
                continue  # what the fact says is in the context already, in full
            text = fact_text(candidate.fact)
            cost = count_tokens(text)
            if cost <= left:
                fact_id, sources = candidate.fact.pk, candidate.fact_sources
                units.append(_Unit(rank, candidate.score, "fact", fact_id, text, sources=sources))
                seen.update(candidate.fact_sources)
                left -= cost
            continue
        message = candidate.message
        if message is None or message.pk in seen or not message.content.strip():
            continue
        lines = [(message.sequence, turn_line(message, question), message.pk)]
        context = candidate.context
        if context is not None and context.pk not in seen:
            text = turn_line(context, question, text=candidate.context_text)
            lines.insert(0, (context.sequence, text, context.pk))
        key = _group_of(message)
        group = groups.get(key)
        header = f"[{key[1]}]"
        cost = sum(count_tokens(line) for _, line, _ in lines)
        cost += 0 if group else count_tokens(header)
        if cost > left:
            continue
        if group is None:
            kind = "segment" if message.segment_id else "message"
            group = _Unit(rank, candidate.score, kind, message.segment_id or message.pk, header)
            groups[key] = group
            units.append(group)
        group.lines.extend(lines)
        seen.update(message_id for _, _, message_id in lines)
        left -= cost
    return [unit.context_unit(number) for number, unit in enumerate(units, start=1)]
