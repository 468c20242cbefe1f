"""How the ranked lists become one score per candidate turn and fact.

Turns (messages) are what the context is made of, so they are scored from every granularity
that can point at them (MemGAS' multi-granularity idea):

- their own lists: dense similarity (the better of the whole turn's and its best
  sentence's, so one remark inside a long turn can be found) and full-text rank, fused by
  reciprocal rank, the dense list weighing more;
- their segment's lists (retrieval key, summary, full text): a turn inside a segment about
  the question's topic gains the segment's fused score;
- their neighbours: an answer gains part of the score of the question just before it (a
  turn with a "?"), and, less, a question part of its answer's, because a remembered thing
  is often spread over a question and its answer; statements lend nothing, so a long
  exchange does not drag in every follow-up around a match;
- the person the question is about: when it names exactly one of the speakers, that
  speaker's turns gain, because what a question asks about a person is usually said by that
  person; a question in the first person ("what did I ...") is about the user, whose own
  turns gain the same way;
- the time the question names: turns from that period gain.

Facts are scored by the fusion of their own two lists alone, so a fact outranks the turns
it came from only when it matches the question better than they do. The weights were chosen on the
aggregates of the LoCoMo and LongMemEval development splits (`memory_eval`), never on single
questions: LoCoMo's short turns need their neighbours, LongMemEval's long ones do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

from memoryapp.models import Message
from memoryapp.retrieval.search import Hit
from memoryapp.retrieval.time_hints import Period
from memoryapp.retrieval.tuning import (  # what chose each value: see tuning.py
    FOCUS_BOOST,
    NEIGHBOUR_WEIGHT,
    NEXT_SHARE,
    PREVIOUS_SHARE,
    RRF_K,
    SEGMENT_WEIGHT,
    TIME_BOOST,
)


def fused(
    lists: Sequence[Sequence[Hit]], weights: Sequence[float] | None = None
) -> dict[str, float]:
    """Reciprocal-rank fusion: the sum of weight / (RRF_K + rank) over the lists each id is
    in; every list weighs 1 unless `weights` (one per list) says otherwise."""
    k = RRF_K
    scores: dict[str, float] = {}
    for hits, weight in zip(lists, weights or [1.0] * len(lists), strict=True):
        for rank, hit in enumerate(hits, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (k + rank)
    return scores


def best_of(lists: Iterable[Sequence[Hit]], limit: int) -> list[Hit]:
    """One list from several of the same kind of hit and the same scale: each id once, at
    its best similarity, best first (ties by id), cut to `limit`."""
    best: dict[str, Hit] = {}
    for hits in lists:
        for hit in hits:
            if hit.id not in best or hit.similarity > best[hit.id].similarity:
                best[hit.id] = hit
    return sorted(best.values(), key=lambda hit: (-hit.similarity, hit.id))[:limit]


_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Focus:
    """Whose turns the question is about: a named speaker, or the user (role)."""

    speaker: str = ""
    role: str = ""

    def matches(self, message: Message) -> bool:
        if self.speaker:
            return message.speaker == self.speaker
        return message.role == self.role


def question_focus(question: str, speakers: Iterable[str]) -> Focus | None:
    """The one speaker the question names (whole word, any case); else the user when the
    question is in the first person; else None."""
    named = {
        speaker
        for speaker in speakers
        if speaker and re.search(rf"\b{re.escape(speaker)}\b", question, re.IGNORECASE)
    }
    if len(named) == 1:
        return Focus(speaker=named.pop())
    if not named and _FIRST_PERSON.search(question):
        return Focus(role=Message.Role.USER)
    return None


def without_names(question: str, speakers: Iterable[str]) -> str:
    """The question with the speakers' names removed: for the dense query, where a name
    would pull in every turn that mentions that person instead of what is asked about them."""
    names = sorted((re.escape(s) for s in speakers if s), key=len, reverse=True)
    if not names:
        return question
    stripped = re.sub(rf"\b(?:{'|'.join(names)})(?:'s)?\b", " ", question, flags=re.IGNORECASE)
    return " ".join(stripped.split()) or question


@dataclass(frozen=True)
class TurnEvidence:
    """What the lists said about the turns: fused scores by message id and by segment id."""

    turns: Mapping[str, float]
    segments: Mapping[str, float]


def score_turns(
    messages: Sequence[Message],
    evidence: TurnEvidence,
    *,
    focus: Focus | None,
    period: Period | None,
) -> dict[UUID, float]:
    """A score for each of `messages` (the listed turns and their neighbours)."""
    own = {
        m.pk: evidence.turns.get(str(m.pk), 0.0)
        + SEGMENT_WEIGHT * evidence.segments.get(str(m.segment_id), 0.0)
        for m in messages
    }
    position = {(m.conversation_id, m.sequence): m.pk for m in messages}
    asks = {m.pk for m in messages if "?" in m.content}
    scores = {}
    for m in messages:
        before = position.get((m.conversation_id, m.sequence - 1))
        after = position.get((m.conversation_id, m.sequence + 1))
        lent = PREVIOUS_SHARE * own.get(before, 0.0) if before and before in asks else 0.0
        lent += NEXT_SHARE * own.get(after, 0.0) if after and m.pk in asks else 0.0
        scores[m.pk] = own[m.pk] + NEIGHBOUR_WEIGHT * lent
    best = max(scores.values(), default=0.0)
    for m in messages:
        if focus is not None and focus.matches(m):
            scores[m.pk] += FOCUS_BOOST * best
        if period is not None and period.overlaps(m.created_at, None):
            scores[m.pk] += TIME_BOOST * best
    return scores
