"""Reads behind the forget pages: what a person asks to forget, found only among their own."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404

from memoryapp.models import Fact, Segment


def fact_get(*, owner: User, fact_id: UUID) -> Fact:
    """The owner's fact, or 404 (also for another person's id)."""
    return get_object_or_404(Fact, pk=fact_id, owner=owner)


def segment_get(*, owner: User, segment_id: UUID) -> Segment:
    """The owner's topic (segment) with its conversation, or 404 (also for another's id)."""
    return get_object_or_404(
        Segment.objects.select_related("conversation"), pk=segment_id, owner=owner
    )
