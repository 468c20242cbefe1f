"""Facts: extracted from a closed segment with a JSON schema, then consolidated against the
facts already known (add, merge into a duplicate, supersede a contradicted one, or ignore).

The model only ever sees short integer ids (message [3], candidate fact 2), never UUIDs, and
everything it returns is validated twice: by the JSON schema, then against the ids it was
shown. Decisions are planned first (model calls, no writes) and applied in one transaction.

The person's corrections win: a fact they marked wrong is not learned again from the same
messages, one they edited is not reworded or replaced by a re-extraction of them, and a
change that would reword or replace an edited fact, or that the model is unsure of, goes to
the review inbox (`FactProposal`) instead of being applied; a proposal they rejected is not
made again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal
from uuid import UUID

import dateparser
import numpy as np
import pydantic
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import F
from django.utils import timezone
from pgvector.django import CosineDistance

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.llm.prompting import Shown, prompt_within, render_prompt
from memoryapp.llm.schemas import Sentence, Title
from memoryapp.models import (
    Fact,
    FactProposal,
    FactSource,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Segment,
)
from memoryapp.models.conversation import SEARCH_CONFIG
from memoryapp.retrieval.time_hints import dateparser_settings
from memoryapp.services.memory.journal import Journal, fact_snapshot
from memoryapp.services.memory.model_access import MemoryModel
from memoryapp.services.memory.transcript import (
    TranscriptPart,
    context_first,
    memory_turns,
    speaker_of,
    transcript_parts,
)

logger = logging.getLogger(__name__)

CANDIDATES_PER_FACT = 6
# Above this cosine similarity a new fact is the same statement: merged without asking.
SAME_FACT_SIMILARITY = 0.97
# A new fact sharing a message with a fact the person corrected is that fact again when this
# similar to it, or when it is its nearest known fact and at least USER_CORRECTED_NEAREST.
USER_CORRECTED_SIMILARITY = 0.9
USER_CORRECTED_NEAREST = 0.7
# A proposal this similar to one pending or rejected, for the same fact and from some of the
# same messages, is the same proposal.
SAME_PROPOSAL_SIMILARITY = 0.9
EXTRACTION_MAX_TOKENS = 700
DECISION_MAX_TOKENS = 160

FactKind = Literal[
    "identity", "location", "work", "relationship", "preference",
    "possession", "health", "event", "plan", "other",
]  # fmt: skip


class ExtractedFact(pydantic.BaseModel):
    text: Sentence
    kind: FactKind
    subject: Title
    time: Title | None = None
    confidence: float = pydantic.Field(ge=0, le=1)
    sources: list[int] = pydantic.Field(min_length=1, max_length=8)


class Extraction(pydantic.BaseModel):
    facts: list[ExtractedFact] = pydantic.Field(max_length=12)


class Decision(pydantic.BaseModel):
    action: Literal["add", "merge", "supersede", "ignore"]
    target: int | None = None
    text: Sentence | None = None
    reason: Sentence


@dataclass
class NewFact:
    """A validated extracted fact, tied to real messages and times."""

    text: str
    kind: str
    subject: str
    confidence: float
    valid_from: datetime | None
    said_at: datetime
    source_ids: list[UUID]
    embedding: np.ndarray = field(repr=False)


@dataclass
class Candidate:
    """An existing fact, or one planned earlier in the same run, shown to the model."""

    text: str
    embedding: np.ndarray = field(repr=False)
    fact_id: UUID | None = None  # existing fact
    planned_index: int | None = None  # index into the plan's new facts
    user_edited: bool = False  # the person edited it (`Fact.user_edited_at`)


@dataclass
class Step:
    action: Literal["add", "merge", "supersede", "ignore"]
    fact: NewFact
    reason: str
    target: Candidate | None = None
    merged_text: str | None = None
    # Sent to the review inbox, and why (`FactProposal.Why`), instead of applied.
    review: str | None = None
    # A merge into a fact the person edited: it only gains the new sources.
    sources_only: bool = False

    @property
    def rewords(self) -> bool:
        """A merge that would change its target's text."""
        text = " ".join((self.merged_text or "").split())
        return (
            self.action == "merge"
            and bool(text)
            and (self.target is None or text != self.target.text)
        )


# --- Extraction ------------------------------------------------------------------------------


def resolve_time(expression: str | None, said_at: datetime) -> datetime | None:
    """A time expression ("last May", "2 weeks ago", "in 2019") as the start of its day,
    resolved against when the message was said; None when it is missing or not a time."""
    if not expression or not expression.strip():
        return None
    parsed = dateparser.parse(expression, languages=["en"], settings=dateparser_settings(said_at))
    # Facts are dated to the day; dateparser carries the base's time of day along.
    return parsed.replace(hour=0, minute=0, second=0, microsecond=0) if parsed else None


def _transcript(parts: list[TranscriptPart], shown: Shown) -> str:
    """People's turns numbered from 1 in the order shown (the numbers a fact's sources refer
    to), each after the assistant's words it responds to, which carry no number and so can
    be no source."""
    lines, number = [], 0
    for index, text in shown:
        part = parts[index]
        if part.is_context:
            lines.append(f"    ({speaker_of(part.message)}: {text})")
            continue
        number += 1
        lines.append(
            f"[{number}] {part.message.created_at:%Y-%m-%d} {speaker_of(part.message)}: {text}"
        )
    return "\n".join(lines)


def facts_extract(
    *, segment: Segment, messages: list[Message], model: MemoryModel
) -> list[NewFact]:
    """The facts the segment taught about its owner, validated against what people said in
    it (an assistant's turn is never a fact's source). A segment too long for the model's
    context is shown cut: long turns to their start, and if need be without the assistant's
    words, then without the oldest turns (`MemoryModel.fit`)."""
    parts = transcript_parts(memory_turns(messages))
    if not parts:
        return []
    user = segment.owner.get_username()

    def render(shown: Shown) -> str:
        return render_prompt(
            "fact_extraction.txt", {"transcript": _transcript(parts, shown), "user": user}
        )

    prompt = prompt_within(
        model.active,
        [part.text for part in parts],
        render=render,
        max_tokens=EXTRACTION_MAX_TOKENS,
        droppable=context_first(parts),
    )
    extraction = model.json(
        [{"role": "user", "content": prompt.text}], Extraction, max_tokens=EXTRACTION_MAX_TOKENS
    )
    numbered = [parts[index] for index in prompt.kept if not parts[index].is_context]
    return _validated(extraction, [part.message for part in numbered])


def _validated(extraction: Extraction, messages: list[Message]) -> list[NewFact]:
    found: list[NewFact] = []
    seen: set[str] = set()
    for item in extraction.facts:
        sources = [messages[n - 1] for n in dict.fromkeys(item.sources) if 1 <= n <= len(messages)]
        text = " ".join(item.text.split())
        if not sources or text.lower() in seen:
            logger.info("dropped extracted fact %r: no valid source or repeated", item.text)
            continue
        seen.add(text.lower())
        said_at = max(message.created_at for message in sources)
        found.append(
            NewFact(
                text=text,
                kind=item.kind,
                subject=item.subject.strip() or "user",
                confidence=item.confidence,
                valid_from=resolve_time(item.time, said_at),
                said_at=said_at,
                source_ids=[message.pk for message in sources],
                embedding=np.zeros(0),
            )
        )
    if found:
        vectors = embed_texts([fact.text for fact in found])
        for fact, vector in zip(found, vectors, strict=True):
            fact.embedding = vector
    return found


# --- Planning ----------------------------------------------------------------------------------


def _existing_candidates(owner: User, fact: NewFact) -> list[Candidate]:
    """The owner's active facts nearest to `fact`: dense and lexical neighbours."""
    active = Fact.objects.filter(owner=owner, status=Fact.Status.ACTIVE)
    dense = active.exclude(embedding=None).order_by(
        CosineDistance("embedding", fact.embedding.tolist())
    )[:CANDIDATES_PER_FACT]
    query = SearchQuery(fact.text, config=SEARCH_CONFIG, search_type="plain")
    lexical = (
        active.filter(search_vector=query)
        .annotate(rank=SearchRank(F("search_vector"), query))
        .order_by("-rank")[: CANDIDATES_PER_FACT // 2]
    )
    by_id = {found.pk: found for found in [*dense, *lexical]}
    return [
        Candidate(
            text=found.text,
            embedding=np.asarray(found.embedding),
            fact_id=found.pk,
            user_edited=found.user_edited_at is not None,
        )
        for found in by_id.values()
        if found.embedding is not None
    ]


@dataclass
class Corrected:
    """A fact the person edited or marked wrong, with the messages it was learned from."""

    fact_id: UUID
    text: str
    retracted: bool
    embedding: np.ndarray = field(repr=False)
    source_ids: set[UUID] = field(default_factory=set)


def _corrected_by_user(owner: User, facts: list[NewFact]) -> list[Corrected]:
    """The owner's current or retracted facts that they corrected and that were learned from
    any message the new facts come from."""
    message_ids = {message_id for fact in facts for message_id in fact.source_ids}
    corrected = Fact.objects.filter(
        owner=owner,
        user_edited_at__isnull=False,
        status__in=[Fact.Status.ACTIVE, Fact.Status.RETRACTED],
    ).exclude(embedding=None)
    sources = FactSource.objects.filter(
        owner=owner, message_id__in=message_ids, fact__in=corrected
    ).values_list("fact_id", "message_id")
    by_fact: dict[UUID, set[UUID]] = {}
    for fact_id, message_id in sources:
        by_fact.setdefault(fact_id, set()).add(message_id)
    if not by_fact:
        return []
    return [
        Corrected(
            fact_id=found.pk,
            text=found.text,
            retracted=found.status == Fact.Status.RETRACTED,
            embedding=np.asarray(found.embedding),
            source_ids=by_fact[found.pk],
        )
        for found in corrected.filter(pk__in=by_fact).only("id", "text", "status", "embedding")
    ]


def _corrected_match(
    fact: NewFact, corrected: list[Corrected], known: list[Candidate]
) -> Corrected | None:
    """The corrected fact `fact` restates, learned again from some of the same messages."""
    sources = set(fact.source_ids)
    scored = sorted(
        (
            (float(np.dot(found.embedding, fact.embedding)), found)
            for found in corrected
            if found.source_ids & sources
        ),
        key=lambda pair: -pair[0],
    )
    if not scored:
        return None
    best, found = scored[0]
    if best >= USER_CORRECTED_SIMILARITY:
        return found
    others = [
        float(np.dot(candidate.embedding, fact.embedding))
        for candidate in known
        if candidate.fact_id != found.fact_id
    ]
    return found if best >= USER_CORRECTED_NEAREST and best > max(others, default=0.0) else None


def _routed(step: Step) -> Step:
    """The step, sent to review when it would reword or replace a fact the person edited or
    when the model is unsure of a change; a merge into an edited fact only adds sources."""
    target = step.target
    if target is not None and target.user_edited and step.action in ("merge", "supersede"):
        if step.action == "supersede" or step.rewords:
            step.review = FactProposal.Why.USER_EDITED
        else:
            step.sources_only = True
    elif step.fact.confidence < settings.MEMORY_REVIEW_CONFIDENCE and (
        step.action in ("add", "supersede") or step.rewords
    ):
        step.review = FactProposal.Why.UNSURE
    return step


def _nearest(candidates: list[Candidate], fact: NewFact) -> list[tuple[float, Candidate]]:
    scored = [(float(np.dot(c.embedding, fact.embedding)), c) for c in candidates]
    return sorted(scored, key=lambda pair: -pair[0])[:CANDIDATES_PER_FACT]


def _decide(
    fact: NewFact, nearest: list[Candidate], model: MemoryModel
) -> tuple[Decision, Candidate | None]:
    """What the model decides to do with `fact`, given the known facts `nearest` to it (most
    similar first; the least similar left out when they do not all fit its context)."""

    def render(parts: Shown) -> str:
        [(_, new_fact), *candidates] = parts
        return render_prompt(
            "fact_consolidation.txt",
            {
                "new_fact": new_fact,
                "said_on": f"{fact.said_at:%Y-%m-%d}",
                "candidates": [text for _, text in candidates],
            },
        )

    prompt = prompt_within(
        model.active,
        [fact.text, *(c.text for c in nearest)],
        render=render,
        max_tokens=DECISION_MAX_TOKENS,
        droppable=range(len(nearest), 0, -1),
    )
    shown = [nearest[index - 1] for index in prompt.kept[1:]]
    decision = model.json(
        [{"role": "user", "content": prompt.text}], Decision, max_tokens=DECISION_MAX_TOKENS
    )
    if decision.action in ("merge", "supersede"):
        if decision.target is None or not 1 <= decision.target <= len(shown):
            logger.info("decision %s names no shown fact; adding instead", decision.action)
            return Decision(action="add", reason="model named no valid fact"), None
        return decision, shown[decision.target - 1]
    return decision, None


def facts_plan(*, owner: User, facts: list[NewFact], model: MemoryModel) -> list[Step]:
    """What to do with each new fact. Facts planned earlier in the run count as known."""
    planned: list[Candidate] = []
    steps: list[Step] = []
    corrected = _corrected_by_user(owner, facts) if facts else []
    for fact in facts:
        shown = [pair[1] for pair in _nearest(_existing_candidates(owner, fact) + planned, fact)]
        best = float(np.dot(shown[0].embedding, fact.embedding)) if shown else 0.0
        again = _corrected_match(fact, corrected, shown)
        if again is not None:
            reason = "you marked it wrong" if again.retracted else "you corrected it"
            step = Step(action="ignore", fact=fact, reason=f"learned again, but {reason}")
        elif not shown:
            step = Step(action="add", fact=fact, reason="nothing similar is known")
        elif best >= SAME_FACT_SIMILARITY:
            step = Step(action="merge", fact=fact, target=shown[0], reason="same statement")
        else:
            decision, target = _decide(fact, shown, model)
            step = Step(
                action=decision.action,
                fact=fact,
                target=target,
                merged_text=decision.text,
                reason=decision.reason,
            )
        step = _routed(step)
        if step.review is None and _proposed_before(owner, step):
            # Still the person's to decide, or decided: a surer model does not overrule them.
            step = Step(action="ignore", fact=fact, reason="pending your review, or rejected")
        if step.action in ("add", "supersede") and step.review is None:
            planned.append(
                Candidate(text=fact.text, embedding=fact.embedding, planned_index=len(steps))
            )
        steps.append(step)
    return steps


# --- Applying ----------------------------------------------------------------------------------


def _create(owner: User, fact: NewFact, segment: Segment | None) -> Fact:
    created = Fact.objects.create(
        owner=owner,
        text=fact.text,
        kind=fact.kind,
        subject=fact.subject,
        confidence=fact.confidence,
        valid_from=fact.valid_from,
        segment=segment,
        embedding=fact.embedding.tolist(),
        embedding_model=model_fingerprint(),
    )
    _add_sources(created, fact.source_ids)
    return created


def _add_sources(fact: Fact, message_ids: list[UUID]) -> None:
    FactSource.objects.bulk_create(
        [FactSource(fact=fact, message_id=m, owner_id=fact.owner_id) for m in message_ids],
        ignore_conflicts=True,
    )


def _target_fact(step: Step, created: dict[int, Fact], owner: User) -> Fact | None:
    """The fact a step points at, if it is still active (it may have been replaced)."""
    if step.target is None:
        return None
    if step.target.planned_index is not None:
        found = created.get(step.target.planned_index)
    else:
        found = Fact.objects.filter(pk=str(step.target.fact_id), owner=owner).first()
    return found if found is not None and found.status == Fact.Status.ACTIVE else None


def facts_apply(
    *,
    owner: User,
    segment: Segment | None,
    steps: list[Step],
    journal: Journal | None = None,
) -> MemoryChangeset | None:
    """Write the planned steps as one changeset (by consolidation of `segment`, unless
    `journal` says otherwise), and the steps sent to review as proposals, unless the same
    was proposed already and is pending or was rejected. Call inside a transaction."""
    journal = journal or Journal(
        owner=owner,
        source=MemoryChangeset.Source.CONSOLIDATION,
        segment=segment,
        reason=f"Learned from “{segment}”",
    )
    created: dict[int, Fact] = {}
    for index, step in enumerate(steps):
        target = _target_fact(step, created, owner)
        action = step.action if (target or step.action in ("add", "ignore")) else "add"
        if action == "ignore":
            continue
        if step.review is not None:
            _propose(owner, segment, step, step.review, action, target)
            continue
        if action == "merge" and target is not None:
            _merge(journal, target, step)
            continue
        new = _create(owner, step.fact, segment)
        created[index] = new
        journal.record(fact=new, action=MemoryEvent.Action.ADD, before=None, reason=step.reason)
        if action == "supersede" and target is not None:
            _supersede(journal, target, new, step)
    return journal.commit()


def _proposed_before(owner: User, step: Step) -> bool:
    """Whether a change about to be applied (not sent to review) is one waiting for the
    person's review, or one they rejected."""
    if not (step.action in ("add", "supersede") or step.rewords):
        return False
    target = step.target
    if target is not None and target.fact_id is None:  # a fact planned in this run
        return False
    return _same_proposal(owner, step, target.fact_id if target else None)


def _same_proposal(owner: User, step: Step, target_id: UUID | None) -> bool:
    """Whether this change is pending review already, or the person rejected it: the same
    fact changed by the same statement from some of the same messages."""
    earlier = FactProposal.objects.filter(
        owner=owner,
        status__in=[FactProposal.Status.PENDING, FactProposal.Status.REJECTED],
        target_id=target_id,
        source_message_ids__overlap=step.fact.source_ids,
    ).only("text", "embedding")
    text = step.fact.text.casefold()
    return any(
        proposal.text.casefold() == text
        or (
            proposal.embedding is not None
            and float(np.dot(np.asarray(proposal.embedding), step.fact.embedding))
            >= SAME_PROPOSAL_SIMILARITY
        )
        for proposal in earlier
    )


def _propose(
    owner: User, segment: Segment | None, step: Step, why: str, action: str, target: Fact | None
) -> FactProposal | None:
    if _same_proposal(owner, step, target.pk if target else None):
        logger.info("not proposing %r again for %s", step.fact.text, target)
        return None
    fact = step.fact
    return FactProposal.objects.create(
        owner=owner,
        segment=segment,
        action=action,
        why=why,
        target=target,
        text=fact.text,
        kind=fact.kind,
        subject=fact.subject,
        confidence=fact.confidence,
        valid_from=fact.valid_from,
        said_at=fact.said_at,
        merged_text=" ".join((step.merged_text or "").split()) if action == "merge" else "",
        source_message_ids=fact.source_ids,
        embedding=fact.embedding.tolist(),
        reason=step.reason,
    )


def _merge(journal: Journal, target: Fact, step: Step) -> None:
    before = fact_snapshot(target)
    if step.sources_only:
        known = set(FactSource.objects.filter(fact=target).values_list("message_id", flat=True))
        new_sources = [m for m in step.fact.source_ids if m not in known]
        if new_sources:
            _add_sources(target, new_sources)
            journal.record(
                fact=target, action=MemoryEvent.Action.MERGE, before=before, reason=step.reason
            )
        return
    if step.merged_text and step.merged_text.strip():
        target.text = " ".join(step.merged_text.split())
        target.embedding = embed_texts([target.text])[0].tolist()
    target.confidence = max(target.confidence, step.fact.confidence)
    if target.valid_from is None and step.fact.valid_from is not None:
        target.valid_from = step.fact.valid_from
    target.updated_at = timezone.now()
    target.save()
    _add_sources(target, step.fact.source_ids)
    journal.record(fact=target, action=MemoryEvent.Action.MERGE, before=before, reason=step.reason)


def _supersede(journal: Journal, old: Fact, new: Fact, step: Step) -> None:
    before = fact_snapshot(old)
    now = timezone.now()
    old.status = Fact.Status.SUPERSEDED
    old.superseded_by = new
    # It stopped being true when the new fact became true (else: when that was said).
    end = new.valid_from or step.fact.said_at
    old.valid_to = max(end, old.valid_from) if old.valid_from else end
    old.retired_at = now
    old.updated_at = now
    old.save()
    journal.record(fact=old, action=MemoryEvent.Action.SUPERSEDE, before=before, reason=step.reason)
