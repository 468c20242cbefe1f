"""Forgetting: a fact, a topic (segment), a conversation or everything of a person goes for
real, with what was derived from it, in one transaction under the person's memory lock.

What goes (`memory_forget`):
- the messages (none for a fact), their passages and vectors; a topic's messages go with it,
  and an answer goes with the question it answers (and so does its conversation's suggested
  title, when it was made from one of them);
- the segments (title, summary, key, keywords, vectors);
- facts whose every source is gone, whatever their status; a fact with sources elsewhere keeps
  only those (and loses a forgotten segment: `segment` becomes NULL), its text and journal kept;
- citations pointing at any of it (a kept fact's citation only drops the forgotten message
  ids), and proposals of the review inbox from those messages, topics or facts;
- the text inside the journal: every snapshot of a removed fact keeps its event, but its
  text-bearing fields become "[forgotten]", its vector and sources are dropped and it is
  marked `"forgotten": true` (`journal.changeset_undo` refuses to undo such events); the
  reasons of those events and of the changesets that quote a forgotten topic's title become
  "[forgotten]" wording too. Forgetting everything deletes the journal altogether, and the
  finished import jobs (so the same file can be imported again);
- the profile is rebuilt from the facts that remain (deterministically, at once; marked stale
  so the upkeep rewrites it with the model when memory's model stages are on).

A FORGET changeset records what happened in counts only. Its events are the changes to facts
that stayed (sources lost, a successor forgotten); it cannot be undone.

A fact superseded by a forgotten one points at that fact's nearest successor that stays; when
there is none it is current again (active, its end and retirement cleared): what it said was
replaced only by what was forgotten, so as far as memory knows, it is true again. A retracted
fact pointing at a forgotten one just loses the pointer. Both are journaled (UPDATE events).

`conversation_memory_forget` is the same for what was learned from a conversation whose
messages stay as chat history (`private`, no vectors, no segment): incognito switched on later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from memoryapp.models import (
    Citation,
    Conversation,
    Fact,
    FactProposal,
    FactSource,
    ImportJob,
    JobStatus,
    MemoryChangeset,
    MemoryEvent,
    Message,
    Passage,
    Segment,
)
from memoryapp.services.answer_control import answer_stop_request
from memoryapp.services.memory.ingestion import ingestion_lock
from memoryapp.services.memory.journal import Journal, Snapshot, fact_snapshot
from memoryapp.services.memory.locks import owner_lock
from memoryapp.services.memory.profile import profile_refresh
from memoryapp.services.titles import title_source

logger = logging.getLogger(__name__)

FORGOTTEN = "[forgotten]"
# What a consolidation changeset's reason ("Learned from “<title>”") becomes.
FORGOTTEN_TOPIC_REASON = "Learned from [forgotten]"
# Changesets whose reason quotes the fact they changed (corrections.py, review.py).
QUOTING_SOURCES = (MemoryChangeset.Source.USER, MemoryChangeset.Source.REVIEW)
Kind = Literal["fact", "segment", "conversation", "all"]
KINDS: tuple[Kind, ...] = ("fact", "segment", "conversation", "all")
# How a FORGET changeset names what was forgotten.
WHAT = {
    "fact": "a fact",
    "segment": "a topic",
    "conversation": "a conversation",
    "all": "everything",
    "incognito": "what was learned from a conversation made incognito",
}


@dataclass(frozen=True)
class ForgetTarget:
    """What to forget: one fact, segment or conversation by id, or everything ("all")."""

    kind: Kind
    id: UUID | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Cannot forget a {self.kind!r}: it is one of {', '.join(KINDS)}.")
        if (self.id is None) != (self.kind == "all"):
            raise ValueError("Forgetting everything takes no id; anything else takes one.")


@dataclass
class ForgetPreview:
    """How much goes (or went): rows of each kind, and the facts that stay but lose some of
    their sources (`facts_losing_a_source`)."""

    target: ForgetTarget
    messages: int = 0
    segments: int = 0
    passages: int = 0
    facts: int = 0
    citations: int = 0
    conversations: int = 0
    facts_losing_a_source: list[Fact] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "messages": self.messages,
            "segments": self.segments,
            "passages": self.passages,
            "facts": self.facts,
            "citations": self.citations,
        }

    def summary(self) -> str:
        """The counts in words, e.g. "3 messages, 1 topic, 2 passages, 1 fact, 0 citations"."""
        names = {"segments": ("topic", "topics")}
        parts = []
        for name, count in self.counts.items():
            one, many = names.get(name, (name[:-1], name))
            parts.append(f"{count} {one if count == 1 else many}")
        return ", ".join(parts)


@dataclass
class _Scope:
    """The rows a forget touches, found inside its transaction."""

    owner: User
    target: ForgetTarget
    # Messages that leave memory (deleted, or made private by `conversation_memory_forget`).
    messages: QuerySet[Message]
    message_ids: list[UUID]
    segment_ids: list[UUID]
    conversation_ids: list[UUID]
    fact_ids: list[UUID]  # facts removed
    losing_ids: list[UUID]  # facts that stay and lose sources or their segment
    successor_ids: list[UUID]  # facts that stay and are superseded by a removed one
    delete_messages: bool

    @property
    def everything(self) -> bool:
        return self.target.kind == "all"

    @property
    def removed(self) -> frozenset[str]:
        return frozenset(map(str, self.fact_ids))


def _id(target: ForgetTarget) -> UUID:
    if target.id is None:
        raise ValueError("Forgetting everything takes no id; anything else takes one.")
    return target.id


def _message_scope(owner: User, target: ForgetTarget) -> QuerySet[Message]:
    mine = Message.objects.filter(owner=owner)
    if target.kind == "conversation":
        return mine.filter(conversation_id=_id(target))
    if target.kind == "segment":
        # A question's answer goes with it (`reply_to` cascades), wherever it was put.
        return mine.filter(Q(segment_id=_id(target)) | Q(reply_to__segment_id=_id(target)))
    if target.kind == "all":
        return mine
    return mine.none()


def _check_target(owner: User, target: ForgetTarget) -> None:
    """Raise the model's DoesNotExist when the target is not the owner's."""
    missing = f"No {target.kind} {target.id} of this person."
    if target.kind == "fact" and not Fact.objects.filter(pk=_id(target), owner=owner).exists():
        raise Fact.DoesNotExist(missing)
    if (
        target.kind == "segment"
        and not Segment.objects.filter(pk=_id(target), owner=owner).exists()
    ):
        raise Segment.DoesNotExist(missing)
    if (
        target.kind == "conversation"
        and not Conversation.objects.filter(pk=_id(target), owner=owner).exists()
    ):
        raise Conversation.DoesNotExist(missing)


def _scope(owner: User, target: ForgetTarget, *, delete_messages: bool = True) -> _Scope:
    _check_target(owner, target)
    messages = _message_scope(owner, target)
    message_ids = list(messages.values_list("pk", flat=True))
    segments = Segment.objects.filter(owner=owner)
    if target.kind == "conversation":
        segments = segments.filter(conversation_id=_id(target))
    elif target.kind == "segment":
        segments = segments.filter(pk=_id(target))
    elif target.kind == "fact":
        segments = segments.none()
    segment_ids = list(segments.values_list("pk", flat=True))
    conversations = Conversation.objects.filter(owner=owner)
    if target.kind == "conversation" and delete_messages:
        conversations = conversations.filter(pk=_id(target))
    elif target.kind != "all":
        conversations = conversations.none()
    facts = Fact.objects.filter(owner=owner)
    fact_ids: list[UUID]
    losing_ids: list[UUID]
    if target.kind == "fact":
        fact_ids, losing_ids = [_id(target)], []
    elif target.kind == "all":
        fact_ids, losing_ids = list(facts.values_list("pk", flat=True)), []
    else:
        from_scope = FactSource.objects.filter(owner=owner, message_id__in=messages.values("pk"))
        touched = facts.filter(
            Q(pk__in=from_scope.values("fact_id")) | Q(segment_id__in=segment_ids)
        )
        elsewhere = FactSource.objects.filter(fact=OuterRef("pk")).exclude(
            message_id__in=messages.values("pk")
        )
        fact_ids = list(touched.exclude(Exists(elsewhere)).values_list("pk", flat=True))
        losing_ids = list(touched.filter(Exists(elsewhere)).values_list("pk", flat=True))
    successor_ids = (
        []
        if target.kind == "all"
        else list(
            facts.filter(superseded_by_id__in=fact_ids)
            .exclude(pk__in=fact_ids)
            .values_list("pk", flat=True)
        )
    )
    return _Scope(
        owner=owner,
        target=target,
        messages=messages,
        message_ids=message_ids,
        segment_ids=segment_ids,
        conversation_ids=list(conversations.values_list("pk", flat=True)),
        fact_ids=fact_ids,
        losing_ids=losing_ids,
        successor_ids=successor_ids,
        delete_messages=delete_messages,
    )


def _citations(scope: _Scope) -> QuerySet[Citation]:
    """Citations that go: of a removed answer, or pointing at a removed segment, fact or
    message. A kept fact's citation stays (its forgotten message ids are dropped)."""
    mine = Citation.objects.filter(owner=scope.owner)
    if scope.everything:
        return mine
    points = Q(segment_id__in=scope.segment_ids) | Q(fact_id__in=scope.fact_ids)
    if scope.message_ids:
        kept_fact = Q(kind="fact", fact__isnull=False) & ~Q(fact_id__in=scope.fact_ids)
        points |= Q(message_ids__overlap=scope.message_ids) & ~kept_fact
        if scope.delete_messages:
            points |= Q(answer_id__in=scope.messages.values("pk"))
    return mine.filter(points)


def _preview(scope: _Scope) -> ForgetPreview:
    losing = Fact.objects.filter(
        owner=scope.owner,
        pk__in=scope.losing_ids,
        factsource__message_id__in=scope.messages.values("pk"),
    ).distinct()
    return ForgetPreview(
        target=scope.target,
        messages=len(scope.message_ids) if scope.delete_messages else 0,
        segments=len(scope.segment_ids),
        passages=Passage.objects.filter(
            owner=scope.owner, message_id__in=scope.messages.values("pk")
        ).count(),
        facts=len(scope.fact_ids),
        citations=_citations(scope).count(),
        conversations=len(scope.conversation_ids),
        facts_losing_a_source=list(losing.order_by("-recorded_at", "pk")),
    )


def forget_preview(*, owner: User, target: ForgetTarget) -> ForgetPreview:
    """What `memory_forget` would remove, changing nothing. Raises the target model's
    DoesNotExist when the target is not the owner's (another person's id included)."""
    return _preview(_scope(owner, target))


def memory_forget(*, owner: User, target: ForgetTarget) -> ForgetPreview:
    """Forget the target for real (see the module's docstring) in one transaction, under the
    owner's memory lock; returns what went. Raises like `forget_preview`, or MemoryBusy when
    the lock stays taken; a conversation, topic or everything also stops the answers still
    being written in it."""
    with owner_lock(owner.pk, busy="nothing was forgotten"):
        _stop_answers(owner, target)
        with transaction.atomic():
            _lock_conversations(owner, target)
            scope = _scope(owner, target)
            went = _preview(scope)
            _apply(scope, went)
    return went


def conversation_memory_forget(*, conversation: Conversation) -> ForgetPreview:
    """Forget everything learned from the conversation (segments, passages, message vectors,
    facts only it taught, citations to it, journal text, proposals from it) while its
    messages stay as chat history, marked private so memory never takes them in again.
    Returns what went (`messages` is 0: none is deleted)."""
    owner = conversation.owner
    target = ForgetTarget("conversation", conversation.pk)
    with owner_lock(owner.pk, busy="nothing was forgotten"), transaction.atomic():
        _lock_conversations(owner, target)
        scope = _scope(owner, target, delete_messages=False)
        went = _preview(scope)
        _apply(scope, went)
    return went


def _stop_answers(owner: User, target: ForgetTarget) -> None:
    if target.kind not in ("conversation", "all", "segment"):
        return
    writing = _message_scope(owner, target).filter(
        status__in=[Message.Status.PENDING, Message.Status.STREAMING]
    )
    for answer in writing:
        answer_stop_request(answer=answer)


def _lock_conversations(owner: User, target: ForgetTarget) -> None:
    """Ingestion of the conversation waits for the forget (`ingestion_lock`), and then finds
    its plan out of date."""
    if target.kind == "conversation":
        conversation_id: UUID | None = _id(target)
    elif target.kind == "segment":
        conversation_id = (
            Segment.objects.filter(owner=owner, pk=_id(target))
            .values_list("conversation_id", flat=True)
            .first()
        )
    else:
        return
    if conversation_id is not None:
        ingestion_lock(conversation_id=conversation_id)


# --- Doing it ----------------------------------------------------------------------------


def _apply(scope: _Scope, went: ForgetPreview) -> None:
    owner = scope.owner
    what = "incognito" if not scope.delete_messages else scope.target.kind
    journal = Journal(
        owner=owner,
        source=MemoryChangeset.Source.FORGET,
        reason=f"Forgot {WHAT[what]}: {went.summary()}.",
    )
    _keep_facts_valid(scope, journal)
    _citations_clear(scope)
    FactProposal.objects.filter(owner=owner).filter(_proposals_of(scope)).delete()
    if scope.everything:
        MemoryEvent.objects.filter(owner=owner).delete()
        MemoryChangeset.objects.filter(owner=owner).delete()
        # Finished imports: else the same file, imported again, is "imported already".
        ImportJob.objects.filter(
            owner=owner, job_status__in=[JobStatus.DONE, JobStatus.FAILED]
        ).delete()
    else:
        _journal_scrub(scope)
    # Everything of a person is taken by owner: lists of ids could exceed a statement's
    # parameters.
    facts, segments = Fact.objects.filter(owner=owner), Segment.objects.filter(owner=owner)
    conversations = Conversation.objects.filter(owner=owner)
    if not scope.everything:
        facts = facts.filter(pk__in=scope.fact_ids)
        segments = segments.filter(pk__in=scope.segment_ids)
        conversations = conversations.filter(pk__in=scope.conversation_ids)
    _facts_delete(facts)
    if scope.target.kind == "segment":
        _suggested_title_clear(scope)
    if scope.delete_messages:
        _messages_delete(scope)
    else:
        Passage.objects.filter(owner=owner, message_id__in=scope.messages.values("pk")).delete()
        scope.messages.update(
            private=True, segment=None, embedding=None, embedding_model="", passages_model=""
        )
    segments.delete()
    conversations.delete()
    _admin_log_scrub(scope)
    changeset = journal.commit()
    if changeset is None:
        journal.changeset.save()
    profile_refresh(owner=owner)


def _suggested_title_clear(scope: _Scope) -> None:
    """A topic's forget takes its conversation's suggested title along when the title was
    made from one of the topic's messages; a title the person gave stays."""
    segments = Segment.objects.filter(owner=scope.owner, pk__in=scope.segment_ids)
    conversation_id = segments.values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        return
    source = title_source(conversation_id=conversation_id, owner_id=scope.owner.pk)
    if source is not None and source.pk in scope.message_ids:
        Conversation.objects.filter(
            owner=scope.owner, pk=conversation_id, title_is_custom=False
        ).update(title="")


def _admin_log_scrub(scope: _Scope) -> None:
    """The admin's log names a conversation it changed or deleted by its title."""
    if not scope.conversation_ids:
        return
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Conversation),
        object_id__in=[str(pk) for pk in scope.conversation_ids],
    ).update(object_repr=FORGOTTEN)


def _keep_facts_valid(scope: _Scope, journal: Journal) -> None:
    """Facts that stay lose their forgotten sources and segment, and those superseded by a
    removed fact are pointed at its nearest successor that stays or made current again; each
    change is journaled."""
    owner = scope.owner
    changed = Fact.objects.filter(owner=owner, pk__in=[*scope.losing_ids, *scope.successor_ids])
    before = {fact.pk: fact_snapshot(fact) for fact in changed}
    if not before:
        return
    FactSource.objects.filter(
        owner=owner, fact_id__in=scope.losing_ids, message_id__in=scope.messages.values("pk")
    ).delete()
    Fact.objects.filter(
        owner=owner, pk__in=scope.losing_ids, segment_id__in=scope.segment_ids
    ).update(segment=None)
    successor_of: dict[UUID, UUID | None] = dict(
        Fact.objects.filter(owner=owner, pk__in=scope.fact_ids).values_list(
            "pk", "superseded_by_id"
        )
    )
    for fact in Fact.objects.filter(owner=owner, pk__in=scope.successor_ids):
        _successor_forgotten(fact, successor_of)
    for fact in Fact.objects.filter(owner=owner, pk__in=list(before)):
        if fact.pk in scope.successor_ids:
            reason = "its successor was forgotten"
        else:
            reason = "some of its sources were forgotten"
        journal.record(
            fact=fact, action=MemoryEvent.Action.UPDATE, before=before[fact.pk], reason=reason
        )


def _facts_delete(doomed: QuerySet[Fact]) -> None:
    """Delete the facts, each before the fact that superseded it: the database restricts the
    deletion of a successor at once (`fact_successor_restrict`), even in one statement."""
    while True:
        first = doomed.exclude(Exists(Fact.objects.filter(superseded_by=OuterRef("pk"))))
        if not first.exists():
            break
        first.delete()
    if doomed.exists():  # a cycle of successors, which consolidation never makes
        doomed.update(superseded_by=None, status=Fact.Status.RETRACTED, retired_at=timezone.now())
        doomed.delete()


def _successor_forgotten(fact: Fact, successor_of: dict[UUID, UUID | None]) -> None:
    successor = fact.superseded_by_id
    seen: set[UUID] = set()
    while successor is not None and successor in successor_of and successor not in seen:
        seen.add(successor)
        successor = successor_of[successor]
    fact.superseded_by_id = successor
    if successor is None and fact.status == Fact.Status.SUPERSEDED:
        fact.status = Fact.Status.ACTIVE
        fact.valid_to = None
        fact.retired_at = None
    fact.updated_at = timezone.now()
    fact.save(update_fields=["superseded_by", "status", "valid_to", "retired_at", "updated_at"])


def _citations_clear(scope: _Scope) -> None:
    _citations(scope).delete()
    if scope.everything or not scope.message_ids:
        return
    gone = set(scope.message_ids)
    kept = Citation.objects.filter(
        owner=scope.owner, kind="fact", message_ids__overlap=scope.message_ids
    )
    rows = list(kept)
    for citation in rows:
        citation.message_ids = [m for m in citation.message_ids if m not in gone]
    Citation.objects.bulk_update(rows, ["message_ids"])


def _proposals_of(scope: _Scope) -> Q:
    if scope.everything:
        return Q()
    # An accepted proposal says the fact it made (its changeset's events are that fact's).
    of = (
        Q(segment_id__in=scope.segment_ids)
        | Q(target_id__in=scope.fact_ids)
        | Q(changeset__events__fact_id__in=scope.fact_ids)
    )
    if scope.message_ids:
        of |= Q(source_message_ids__overlap=scope.message_ids)
    return of


def _text_fields() -> list[str]:
    """The fact's columns a person's words can be in (snapshots hold every column)."""
    return [
        f.name
        for f in Fact._meta.concrete_fields
        if isinstance(f, models.CharField | models.TextField)
        and not f.choices
        and f.name != "embedding_model"
    ]


def forgotten_snapshot(snapshot: Snapshot) -> Snapshot:
    """The snapshot without anything that was said: texts replaced, vector and sources
    dropped, marked so that undo refuses it."""
    scrubbed: dict[str, Any] = dict(snapshot)
    for name in _text_fields():
        if scrubbed.get(name):
            scrubbed[name] = FORGOTTEN
    if "embedding" in scrubbed:
        scrubbed["embedding"] = None
    scrubbed["sources"] = []
    scrubbed["forgotten"] = True
    return scrubbed


def _journal_scrub(scope: _Scope) -> None:
    """Replace the text of every snapshot of a removed fact, or of a fact deleted earlier
    that was learned only from forgotten messages, and the reasons that may quote them."""
    owner = scope.owner
    removed = scope.removed
    gone_messages = {str(m) for m in scope.message_ids}
    candidates = Q(fact_id__in=scope.fact_ids)
    if removed:
        candidates |= Q(before__id__in=sorted(removed)) | Q(after__id__in=sorted(removed))
    if gone_messages:
        candidates |= Q(before__sources__has_any_keys=sorted(gone_messages)) | Q(
            after__sources__has_any_keys=sorted(gone_messages)
        )
    topic_changesets = MemoryChangeset.objects.filter(owner=owner, segment_id__in=scope.segment_ids)
    candidates |= Q(changeset__in=topic_changesets)
    events = list(MemoryEvent.objects.filter(owner=owner).filter(candidates))
    existing = _existing_facts(owner, events, removed)
    known_messages = _existing_messages(owner, events, gone_messages)

    def forgotten(snapshot: Snapshot | None) -> bool:
        if not snapshot or snapshot.get("forgotten"):
            return False
        if str(snapshot.get("id")) in removed:
            return True
        sources = set(snapshot.get("sources") or ())
        # A fact deleted earlier (undone) that only forgotten messages taught.
        return (
            str(snapshot.get("id")) not in existing
            and bool(sources & gone_messages)
            and not (sources - gone_messages) & known_messages
        )

    topic_ids = set(topic_changesets.values_list("pk", flat=True))
    changed = []
    quoting_facts: set[UUID] = set()
    for event in events:
        of_removed = str(event.fact_id) in removed
        scrub = [
            forgotten(snapshot) or (of_removed and not _forgotten_already(snapshot))
            for snapshot in (event.before, event.after)
        ]
        if scrub[0]:
            event.before = forgotten_snapshot(event.before or {})
        if scrub[1]:
            event.after = forgotten_snapshot(event.after or {})
        if (any(scrub) or event.changeset_id in topic_ids) and event.reason:
            event.reason = FORGOTTEN
        if any(scrub):
            quoting_facts.add(event.changeset_id)
        changed.append(event)
    MemoryEvent.objects.bulk_update(changed, ["before", "after", "reason"])
    # The person's own changesets quote the fact they changed ("You edited “…”").
    MemoryChangeset.objects.filter(
        owner=owner, pk__in=quoting_facts, source__in=QUOTING_SOURCES
    ).exclude(reason="").update(reason=FORGOTTEN)
    titles = Segment.objects.filter(owner=owner, pk__in=scope.segment_ids).values_list(
        "title", flat=True
    )
    quoting = [f"Learned from “{title}”" for title in titles if title]
    MemoryChangeset.objects.filter(owner=owner).filter(
        Q(pk__in=topic_ids) | Q(reason__in=quoting)
    ).exclude(reason="").update(reason=FORGOTTEN_TOPIC_REASON)


def _forgotten_already(snapshot: Snapshot | None) -> bool:
    """None (no fact) or scrubbed already: nothing to scrub."""
    return not snapshot or bool(snapshot.get("forgotten"))


def _snapshots(events: list[MemoryEvent]) -> list[Snapshot]:
    return [s for e in events for s in (e.before, e.after) if s]


def _existing_facts(owner: User, events: list[MemoryEvent], removed: frozenset[str]) -> set[str]:
    ids = {str(s.get("id")) for s in _snapshots(events) if s.get("id")} - removed
    found = Fact.objects.filter(owner=owner, pk__in=sorted(ids)).values_list("pk", flat=True)
    return {str(pk) for pk in found}


def _existing_messages(owner: User, events: list[MemoryEvent], gone: set[str]) -> set[str]:
    ids = {m for s in _snapshots(events) for m in s.get("sources") or ()} - gone
    found = Message.objects.filter(owner=owner, pk__in=sorted(ids)).values_list("pk", flat=True)
    return {str(pk) for pk in found}


def _messages_delete(scope: _Scope) -> None:
    """Answers first: a question's deletion would cascade to them one by one."""
    scope.messages.filter(reply_to__isnull=False).delete()
    scope.messages.delete()
