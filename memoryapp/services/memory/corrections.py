"""The person's own corrections of their memory: edit a fact's text or validity dates, or mark
it wrong (retracted). Each is a changeset by the user, can be undone like any other, and
stamps `Fact.user_edited_at`, which consolidation respects (`facts.facts_plan`)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from memoryapp.embeddings import embed_texts, model_fingerprint
from memoryapp.llm.schemas import SENTENCE_MAX_CHARS, SENTENCE_MIN_CHARS
from memoryapp.models import Fact, MemoryChangeset, MemoryEvent
from memoryapp.services.memory.journal import Journal, fact_snapshot
from memoryapp.services.memory.locks import owner_lock
from memoryapp.services.memory.profile import profile_refresh


class _Unset:
    """A date argument that was not given (None is a valid value: no date)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()

NOT_CURRENT = "Only a current fact can be changed; this one is no longer current."


def fact_text_clean(text: str) -> str:
    """The fact as the person wrote it, on one line; ValidationError when it is too short or
    too long for a fact (the bounds of an extracted one)."""
    cleaned = " ".join(text.split())
    if len(cleaned) < SENTENCE_MIN_CHARS:
        raise ValidationError(
            f"Write the fact in at least {SENTENCE_MIN_CHARS} characters.", code="too_short"
        )
    if len(cleaned) > SENTENCE_MAX_CHARS:
        raise ValidationError(
            f"A fact is at most {SENTENCE_MAX_CHARS} characters; this one has {len(cleaned)}.",
            code="too_long",
        )
    return cleaned


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        raise ValidationError(f"The {name} date needs a time zone.", code="naive")
    return value


def _committed(journal: Journal) -> MemoryChangeset:
    changeset = journal.commit()
    if changeset is None:
        raise RuntimeError("a correction recorded no event")
    return changeset


def _current_fact(owner: User, fact: Fact) -> Fact:
    found = Fact.objects.select_for_update().filter(pk=fact.pk, owner=owner).first()
    if found is None:
        raise ValidationError("This fact is not in your memory.", code="not_found")
    if found.status != Fact.Status.ACTIVE:
        raise ValidationError(NOT_CURRENT, code="not_current")
    return found


def fact_edit(
    *,
    owner: User,
    fact: Fact,
    text: str | None = None,
    valid_from: datetime | _Unset | None = UNSET,
    valid_to: datetime | _Unset | None = UNSET,
) -> MemoryChangeset:
    """Change a current fact's text (re-embedded) and/or validity dates, as one changeset by
    the user. Arguments left out keep their value; a date given as None clears it.

    Raises ValidationError, changing nothing, for a fact that is not the owner's or not
    current, a text out of a fact's bounds, a naive date, an end before the start, or an
    edit that changes nothing.
    """
    new_text = None if text is None else fact_text_clean(text)
    new_from = valid_from if isinstance(valid_from, _Unset) else _aware(valid_from, "start")
    new_to = valid_to if isinstance(valid_to, _Unset) else _aware(valid_to, "end")
    # Embedding takes a while: done before the lock, for the text as the person wrote it.
    vector = embed_texts([new_text])[0].tolist() if new_text is not None else None
    with owner_lock(owner.pk, busy="nothing was changed"), transaction.atomic():
        current = _current_fact(owner, fact)
        before = fact_snapshot(current)
        changed = False
        if new_text is not None and new_text != current.text:
            current.text = new_text
            current.embedding = vector
            current.embedding_model = model_fingerprint()
            changed = True
        if not isinstance(new_from, _Unset) and new_from != current.valid_from:
            current.valid_from = new_from
            changed = True
        if not isinstance(new_to, _Unset) and new_to != current.valid_to:
            current.valid_to = new_to
            changed = True
        if not changed:
            raise ValidationError("Nothing to change: the fact already says that.", code="same")
        if current.valid_from and current.valid_to and current.valid_to < current.valid_from:
            raise ValidationError("The end date is before the start date.", code="valid_time_order")
        now = timezone.now()
        current.user_edited_at = now
        current.updated_at = now
        current.save()
        journal = Journal(
            owner=owner, source=MemoryChangeset.Source.USER, reason=f"You edited “{current.text}”"
        )
        journal.record(
            fact=current, action=MemoryEvent.Action.UPDATE, before=before, reason="edited by you"
        )
        changeset = _committed(journal)
        profile_refresh(owner=owner)
    return changeset


def fact_retract(*, owner: User, fact: Fact, reason: str = "") -> MemoryChangeset:
    """Mark a current fact wrong: retracted (kept, as every retired fact is, with the time it
    was withdrawn), as one changeset by the user. Consolidation does not learn it again from
    the same messages. ValidationError for a fact that is not the owner's or not current."""
    with owner_lock(owner.pk, busy="nothing was changed"), transaction.atomic():
        current = _current_fact(owner, fact)
        before = fact_snapshot(current)
        now = timezone.now()
        current.status = Fact.Status.RETRACTED
        current.retired_at = now
        current.user_edited_at = now
        current.updated_at = now
        current.save()
        journal = Journal(
            owner=owner,
            source=MemoryChangeset.Source.USER,
            reason=f"You marked “{current.text}” wrong",
        )
        journal.record(
            fact=current,
            action=MemoryEvent.Action.RETRACT,
            before=before,
            reason=reason.strip() or "marked wrong by you",
        )
        changeset = _committed(journal)
        profile_refresh(owner=owner)
    return changeset
