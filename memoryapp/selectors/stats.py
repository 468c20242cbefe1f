"""Per-person memory statistics for `manage.py memory_stats`."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Q, Sum

from memoryapp.models import Fact, JobStatus, Message, Segment


@dataclass(frozen=True)
class MemoryStats:
    username: str
    messages: int
    segments: int
    open_segments: int
    consolidated: int
    failed_jobs: int
    active_facts: int
    superseded_facts: int
    llm_calls: int
    tokens: int

    def per_100_messages(self, value: int) -> float:
        return 100 * value / self.messages if self.messages else 0.0


def memory_stats() -> list[MemoryStats]:
    rows = []
    for user in User.objects.order_by("username"):
        segments = Segment.objects.filter(owner=user).aggregate(
            total=Count("pk"),
            open=Count("pk", filter=Q(status=Segment.Status.OPEN)),
            done=Count("pk", filter=Q(job_status=JobStatus.DONE)),
            failed=Count("pk", filter=Q(job_status=JobStatus.FAILED)),
            calls=Sum("llm_calls", default=0),
            prompt=Sum("prompt_tokens", default=0),
            completion=Sum("completion_tokens", default=0),
        )
        facts = Fact.objects.filter(owner=user).aggregate(
            active=Count("pk", filter=Q(status=Fact.Status.ACTIVE)),
            superseded=Count("pk", filter=Q(status=Fact.Status.SUPERSEDED)),
        )
        rows.append(
            MemoryStats(
                username=user.get_username(),
                messages=Message.objects.filter(owner=user).count(),
                segments=segments["total"],
                open_segments=segments["open"],
                consolidated=segments["done"],
                failed_jobs=segments["failed"],
                active_facts=facts["active"],
                superseded_facts=facts["superseded"],
                llm_calls=segments["calls"],
                tokens=segments["prompt"] + segments["completion"],
            )
        )
    return rows
