"""Reads of memory, always scoped to the owner."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import User
from django.shortcuts import get_object_or_404

from memoryapp.models import MemoryChangeset


def changeset_get(*, owner: User, changeset_id: UUID) -> MemoryChangeset:
    """The owner's changeset, or 404 (also for another user's id)."""
    return get_object_or_404(MemoryChangeset, pk=changeset_id, owner=owner)
