"""Claiming a row that carries its own job (`models.JobState`: a segment's consolidation, an
import): one conditional UPDATE, so of two workers given the same job only one runs it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import F, Q, QuerySet

from memoryapp.models import JobStatus


def job_claim(rows: QuerySet[Any], *, claim: UUID, now: datetime) -> bool:
    """Claim the job of the one row of `rows` if it is waiting (pending, or due for a retry):
    running, one more attempt, in flight since `now`, held by `claim`. True when this call
    took it."""
    return jobs_claim(rows, claim=claim, now=now) == 1


def jobs_claim(rows: QuerySet[Any], *, claim: UUID, now: datetime) -> int:
    """Claim the jobs of those of `rows` that are waiting, as `job_claim` does one, all
    held by `claim`; returns how many this call took."""
    taken = (
        rows.filter(job_status__in=[JobStatus.PENDING, JobStatus.RETRY])
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .update(
            job_status=JobStatus.RUNNING,
            attempts=F("attempts") + 1,
            in_flight_since=now,
            claim=claim,
        )
    )
    return int(taken)
