"""The memory journal: every change to a fact is a MemoryEvent with the fact's state before
and after, grouped in a MemoryChangeset that can be undone as a whole."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from pgvector.django import VectorField

from memoryapp.models import Fact, FactSource, MemoryChangeset, MemoryEvent, Segment

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


def fact_snapshot(fact: Fact) -> Snapshot:
    """The fact's state as JSON-serialisable data, enough to restore every column exactly
    (vector and model stamp included), with its source messages."""
    snapshot: Snapshot = {
        field.name: _dump(field, getattr(fact, field.attname)) for field in _columns()
    }
    snapshot["sources"] = sorted(
        str(message_id)
        for message_id in FactSource.objects.filter(fact=fact).values_list("message_id", flat=True)
    )
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


def _current(fact_id: str, owner: User) -> Snapshot | None:
    fact = Fact.objects.filter(pk=fact_id, owner=owner).first()
    return fact_snapshot(fact) if fact else None


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


@transaction.atomic
def changeset_undo(*, changeset: MemoryChangeset, owner: User) -> MemoryChangeset:
    """Put every fact the changeset touched back as it was before it, as a new changeset.

    Refuses (ValidationError) when the changeset was undone already or when a later change
    touched the same facts: undoing it would silently throw that later change away.
    """
    changeset = MemoryChangeset.objects.select_for_update().get(pk=changeset.pk, owner=owner)
    if changeset.undone_by_id:
        raise ValidationError("These changes were undone already.")
    events = list(changeset.events.order_by("-id"))
    for event in events:
        fact_id = (event.after or event.before or {})["id"]
        if not _unchanged(_current(fact_id, owner), event.after):
            raise ValidationError("Later changes touched the same memories; undo those first.")
    undo = Journal(
        owner=owner, source=MemoryChangeset.Source.UNDO, reason=f"Undo of {changeset.pk}"
    )
    for event in events:
        fact_id = (event.after or event.before or {})["id"]
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
    return undone
