"""Reads of the person's import jobs, always scoped to the owner."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from memoryapp.models import ImportJob

# The Memory page lists this many of the latest imports.
RECENT_IMPORTS = 5


def import_jobs_recent(*, owner: User) -> QuerySet[ImportJob]:
    """The owner's latest import jobs, newest first."""
    return ImportJob.objects.filter(owner=owner).order_by("-created_at")[:RECENT_IMPORTS]


def import_job_get(*, owner: User, job_id: UUID) -> ImportJob:
    """The owner's import job, or 404 (also for another person's id)."""
    return get_object_or_404(ImportJob, pk=job_id, owner=owner)
