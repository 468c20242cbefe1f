"""The review inbox: changes consolidation proposed instead of applying them (`FactProposal`),
accepted by the person (applied as a changeset, as consolidation would have applied them) or
rejected (kept, so the same change is not proposed again)."""

from __future__ import annotations

import numpy as np
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from memoryapp.embeddings import embed_texts
from memoryapp.models import Fact, FactProposal, MemoryChangeset, Message
from memoryapp.services.memory.facts import Candidate, NewFact, Step, facts_apply
from memoryapp.services.memory.journal import Journal
from memoryapp.services.memory.locks import owner_lock
from memoryapp.services.memory.profile import profile_refresh

TARGET_GONE = (
    "The fact this would change is no longer current (it was changed or removed since): "
    "reject this proposal instead."
)


def _pending(owner: User, proposal: FactProposal) -> FactProposal:
    found = (
        FactProposal.objects.select_for_update(of=("self",))
        .filter(pk=proposal.pk, owner=owner)
        .select_related("target", "segment")
        .first()
    )
    if found is None:
        raise ValidationError("This proposal is not in your review inbox.", code="not_found")
    if found.status != FactProposal.Status.PENDING:
        raise ValidationError(
            f"This proposal was {found.get_status_display().lower()} already.", code="decided"
        )
    return found


def _step(proposal: FactProposal, target: Fact | None, sources: list[Message]) -> Step:
    embedding = (
        np.asarray(proposal.embedding, dtype=np.float32)
        if proposal.embedding is not None
        else embed_texts([proposal.text])[0]
    )
    fact = NewFact(
        text=proposal.text,
        kind=proposal.kind,
        subject=proposal.subject,
        confidence=proposal.confidence,
        valid_from=proposal.valid_from,
        said_at=proposal.said_at,
        source_ids=[message.pk for message in sources],
        embedding=embedding,
    )
    candidate = None
    if target is not None:
        candidate = Candidate(
            text=target.text, embedding=np.asarray(target.embedding), fact_id=target.pk
        )
    return Step(
        action=proposal.action,  # type: ignore[arg-type]  # the same choices
        fact=fact,
        reason=proposal.reason or "accepted by you",
        target=candidate,
        merged_text=proposal.merged_text or None,
    )


def proposal_accept(*, owner: User, proposal: FactProposal) -> MemoryChangeset:
    """Apply a pending proposal as a changeset of the review (consolidation's own apply), and
    mark it accepted. ValidationError, changing nothing, when it is not the owner's pending
    proposal, when the fact it would merge into or supersede is no longer current, or when
    every message it was learned from is gone."""
    with owner_lock(owner.pk, busy="nothing was changed"), transaction.atomic():
        current = _pending(owner, proposal)
        target = current.target
        if current.action != FactProposal.Action.ADD and (
            target is None or target.status != Fact.Status.ACTIVE
        ):
            raise ValidationError(TARGET_GONE, code="target_gone")
        sources = list(
            Message.objects.filter(owner=owner, pk__in=current.source_message_ids).only("pk")
        )
        if not sources:
            raise ValidationError(
                "The messages this was learned from are gone: reject it instead.",
                code="sources_gone",
            )
        journal = Journal(
            owner=owner,
            source=MemoryChangeset.Source.REVIEW,
            segment=current.segment,
            reason=f"You accepted “{current.text}”",
        )
        changeset = facts_apply(
            owner=owner,
            segment=current.segment,
            steps=[_step(current, target, sources)],
            journal=journal,
        )
        if changeset is None:  # a merge that changed nothing; applying it is still a decision
            raise ValidationError("This would change nothing: reject it instead.", code="noop")
        current.status = FactProposal.Status.ACCEPTED
        current.decided_at = timezone.now()
        current.changeset = changeset
        current.save(update_fields=["status", "decided_at", "changeset"])
        profile_refresh(owner=owner)
    return changeset


def proposal_reject(*, owner: User, proposal: FactProposal) -> FactProposal:
    """Drop a pending proposal, keeping it as rejected so consolidation does not propose the
    same change again. ValidationError when it is not the owner's pending proposal."""
    with transaction.atomic():
        current = _pending(owner, proposal)
        current.status = FactProposal.Status.REJECTED
        current.decided_at = timezone.now()
        current.save(update_fields=["status", "decided_at"])
    return current
