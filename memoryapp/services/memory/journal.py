"""The memory journal: every change to a fact is a MemoryEvent with the fact's state before
and after, grouped in a MemoryChangeset that can be undone as a whole."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from pgvector.django import VectorField

from memoryapp.models import Fact, FactSource, MemoryChangeset, MemoryEvent, Segment
from memoryapp.services.memory.locks import owner_lock
from memoryapp.services.memory.profile import profile_refresh

Snapshot = dict[str, Any]


def _columns() -> list[Field[Any, Any]]:
    """The fact's columns a snapshot holds: all of them but the owner (undo is scoped to
    it) and generated ones (the database derives those)."""
    return [
        field
        for field in Fact._meta.concrete_fields
        if field.name != "owner" and not isinstance(field, models.GeneratedField)
    ]


def _dump(field: Field[Any, Any], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(field, models.DateTimeField):
        return value.isoformat()
    if isinstance(field, VectorField):
        # As the column stores it (float32), which JSON numbers carry exactly.
        return np.asarray(value, dtype=np.float32).tolist()
    if isinstance(field, models.UUIDField | models.ForeignKey):
        return str(value)
    return value


def _load(field: Field[Any, Any], value: Any) -> Any:
    if value is not None and isinstance(field, models.DateTimeField):
        return parse_datetime(value)
    return value


def fact_snapshot(fact: Fact, sources: Iterable[UUID] | None = None) -> Snapshot:
    """The fact's state as JSON-serialisable data, enough to restore every column exactly
    (vector and model stamp included), with its source messages (`sources` when the caller
    fetched them already)."""
    snapshot: Snapshot = {
        field.name: _dump(field, getattr(fact, field.attname)) for field in _columns()
    }
    if sources is None:
        sources = FactSource.objects.filter(fact=fact).values_list("message_id", flat=True)
    snapshot["sources"] = sorted(str(message_id) for message_id in sources)
    return snapshot


class Journal:
    """Collects the events of one changeset; `commit()` stores them (if any)."""

    def __init__(
        self,
        *,
        owner: User,
        source: MemoryChangeset.Source,
        segment: Segment | None = None,
        reason: str = "",
    ) -> None:
        self.changeset = MemoryChangeset(owner=owner, source=source, segment=segment, reason=reason)
        self.events: list[MemoryEvent] = []

    def record(
        self, *, fact: Fact, action: MemoryEvent.Action, before: Snapshot | None, reason: str = ""
    ) -> None:
        """Record a change already applied to `fact` (call after saving it)."""
        self.events.append(
            MemoryEvent(
                changeset=self.changeset,
                owner=self.changeset.owner,
                fact=fact,
                action=action,
                before=before,
                after=fact_snapshot(fact),
                reason=reason,
            )
        )

    def record_deleted(self, *, before: Snapshot, reason: str = "") -> None:
        self.events.append(
            MemoryEvent(
                changeset=self.changeset,
                owner=self.changeset.owner,
                fact=None,
                action=MemoryEvent.Action.RETRACT,
                before=before,
                after=None,
                reason=reason,
            )
        )

    def commit(self) -> MemoryChangeset | None:
        if not self.events:
            return None
        self.changeset.save()
        for event in self.events:
            event.changeset = self.changeset
        MemoryEvent.objects.bulk_create(self.events)
        return self.changeset


def _unchanged(current: Snapshot | None, recorded: Snapshot | None) -> bool:
    """Whether the fact is still as the event left it. Events recorded before snapshots
    held every column are compared on the columns they hold."""
    if current is None or recorded is None:
        return current == recorded
    return all(current.get(name) == value for name, value in recorded.items())


def _restore(snapshot_id: str, snapshot: Snapshot | None, owner: User) -> Fact | None:
    """Make the fact exactly `snapshot` (None: make it not exist)."""
    if snapshot is None:
        Fact.objects.filter(pk=snapshot_id, owner=owner).delete()
        return None
    fields: dict[str, Any] = {
        field.attname: _load(field, snapshot[field.name])
        for field in _columns()
        if field.name in snapshot and not field.primary_key
    }
    if "embedding" not in snapshot:
        # A snapshot from before vectors were kept: the current vector belongs to another
        # text; a cleared model stamp makes the upkeep embed this one again.
        fields["embedding_model"] = ""
    fields.setdefault("updated_at", timezone.now())
    fact, _ = Fact.objects.update_or_create(pk=snapshot_id, owner=owner, defaults=fields)
    FactSource.objects.filter(fact=fact).exclude(message_id__in=snapshot["sources"]).delete()
    FactSource.objects.bulk_create(
        [FactSource(fact=fact, message_id=uuid.UUID(m), owner=owner) for m in snapshot["sources"]],
        ignore_conflicts=True,
    )
    return fact


def _event_fact_id(event: MemoryEvent) -> str | None:
    """The fact the event changed: as its snapshots say (also once the fact is deleted), or
    for an event without snapshot ids (written by hand), its link."""
    fact_id = (event.after or event.before or {}).get("id") or event.fact_id
    return str(fact_id) if fact_id else None


def _forgotten(event: MemoryEvent) -> bool:
    return any(snapshot and snapshot.get("forgotten") for snapshot in (event.before, event.after))


def undo_refusals(*, owner: User, changesets: Sequence[MemoryChangeset]) -> dict[UUID, str | None]:
    """Why `changeset_undo` would refuse each of the owner's `changesets` now (None: it would
    undo it), in three queries whatever their number: undone already, a forget or a change
    to facts forgotten since, nothing to undo, or a later change touched the same facts
    (undoing would silently throw that change away)."""
    refusals: dict[UUID, str | None] = {}
    events: dict[UUID, list[MemoryEvent]] = {changeset.pk: [] for changeset in changesets}
    open_ids = [changeset.pk for changeset in changesets if not changeset.undone_by_id]
    for event in MemoryEvent.objects.filter(owner=owner, changeset__in=open_ids).only(
        "changeset_id", "fact_id", "before", "after"
    ):
        events[event.changeset_id].append(event)
    fact_ids = {_event_fact_id(event) for found in events.values() for event in found} - {None}
    facts = {str(fact.pk): fact for fact in Fact.objects.filter(owner=owner, pk__in=fact_ids)}
    sources: dict[str, list[UUID]] = {fact_id: [] for fact_id in facts}
    for fact_id, message_id in FactSource.objects.filter(fact__in=list(facts.values())).values_list(
        "fact_id", "message_id"
    ):
        sources[str(fact_id)].append(message_id)
    current = {fact_id: fact_snapshot(fact, sources[fact_id]) for fact_id, fact in facts.items()}
    for changeset in changesets:
        if changeset.undone_by_id:
            refusals[changeset.pk] = "These changes were undone already."
        elif changeset.source == MemoryChangeset.Source.FORGET:
            refusals[changeset.pk] = "What was forgotten cannot be brought back."
        elif any(_forgotten(event) for event in events[changeset.pk]):
            # Its text is gone (`forget.forgotten_snapshot`): undo would restore "[forgotten]".
            refusals[changeset.pk] = "Some of these memories were forgotten since."
        elif not events[changeset.pk]:
            refusals[changeset.pk] = "There is nothing to undo."
        elif not all(
            _unchanged(current.get(_event_fact_id(event) or ""), event.after)
            for event in events[changeset.pk]
        ):
            refusals[changeset.pk] = "Later changes touched the same memories; undo those first."
        else:
            refusals[changeset.pk] = None
    return refusals


def changeset_undo(*, changeset: MemoryChangeset, owner: User) -> MemoryChangeset:
    """Put every fact the changeset touched back as it was before it, as a new changeset,
    under the owner's memory lock (a forget or a consolidation under way is waited for).

    Refuses (ValidationError, `undo_refusals`) when the changeset was undone already or when
    a later change touched the same facts: undoing it would silently throw that later change
    away. Raises MemoryBusy when the memory lock stays taken.
    """
    with owner_lock(owner.pk, busy="nothing was undone"), transaction.atomic():
        return _undo(changeset, owner)


def _undo(changeset: MemoryChangeset, owner: User) -> MemoryChangeset:
    changeset = MemoryChangeset.objects.select_for_update().get(pk=changeset.pk, owner=owner)
    refusal = undo_refusals(owner=owner, changesets=[changeset])[changeset.pk]
    if refusal is not None:
        raise ValidationError(refusal)
    events = list(changeset.events.order_by("-id"))
    undo = Journal(
        owner=owner, source=MemoryChangeset.Source.UNDO, reason=f"Undo of {changeset.pk}"
    )
    for event in events:
        fact_id = _event_fact_id(event)
        if fact_id is None:
            raise ValidationError("These changes do not say which memories they touched.")
        restored = _restore(fact_id, event.before, owner)
        if restored is None:
            undo.record_deleted(before=event.after or {}, reason="undo")
        else:
            undo.record(
                fact=restored, action=MemoryEvent.Action.RESTORE, before=event.after, reason="undo"
            )
    undone = undo.commit()
    if undone is None:
        raise ValidationError("There is nothing to undo.")
    changeset.undone_by = undone
    changeset.save(update_fields=["undone_by"])
    profile_refresh(owner=owner)
    return undone
