"""Reads behind the admin's inspection pages: a memory's nearest memories, always of the
same owner, and the jobs that failed, of the owners the viewer may see
(`selectors.accounts.admin_visible_owner_ids`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet

from memoryapp.models import Fact, ImportJob, JobStatus, Segment
from memoryapp.retrieval.search import Table, dense

NEAREST_LIMIT = 10
FAILED_LIMIT = 100

# Every row with a vector, whatever its status: the admin looks at retired facts too.
_FACTS = Table("fact", "memoryapp_fact", "TRUE")
_SEGMENTS = Table("segment", "memoryapp_segment", "TRUE")
# Columns a neighbour's or a failed job's row is never shown with.
_FACT_HEAVY = ("embedding", "search_vector")
_VECTORS_AND_TEXTS = (
    "key_embedding", "summary_embedding", "search_vector", "summary", "retrieval_key",
)  # fmt: skip
_SEGMENT_HEAVY = (*_VECTORS_AND_TEXTS, "raw_output", "last_error")

RowT = TypeVar("RowT", bound=Model)


@dataclass(frozen=True)
class Neighbour(Generic[RowT]):
    row: RowT
    distance: float  # cosine distance: 0 the same direction, 1 unrelated, 2 opposite


def _neighbours(
    queryset: QuerySet[RowT], table: Table, column: str, *, of: Model, owner_id: int, limit: int
) -> list[Neighbour[RowT]]:
    vector = getattr(of, column)
    if vector is None:
        return []
    # The retrieval's own nearest-neighbour query: it filters by owner in SQL and, on an
    # owner large enough for the HNSW index, keeps scanning until it has the owner's rows
    # (a plain ORDER BY distance LIMIT through the index would lose them to other people's).
    hits = dense(
        table, column, owner_id=owner_id, query=list(vector), limit=limit, exclude=[str(of.pk)]
    )
    rows = {str(row.pk): row for row in queryset.filter(pk__in=[hit.id for hit in hits])}
    return [Neighbour(rows[hit.id], 1 - hit.similarity) for hit in hits if hit.id in rows]


def fact_neighbours(*, fact: Fact, limit: int = NEAREST_LIMIT) -> list[Neighbour[Fact]]:
    """The facts of the fact's owner nearest to it (cosine distance of their embeddings, any
    status), nearest first; none while it has no embedding."""
    facts = Fact.objects.filter(owner_id=fact.owner_id).defer(*_FACT_HEAVY)
    return _neighbours(facts, _FACTS, "embedding", of=fact, owner_id=fact.owner_id, limit=limit)


def segment_neighbours(*, segment: Segment, limit: int = NEAREST_LIMIT) -> list[Neighbour[Segment]]:
    """The segments of the segment's owner nearest to it by their retrieval keys' embeddings,
    nearest first; none while it has no key embedding."""
    segments = (
        Segment.objects.filter(owner_id=segment.owner_id)
        .select_related("conversation")
        .defer(*_SEGMENT_HEAVY, "conversation__search_vector")
    )
    return _neighbours(
        segments, _SEGMENTS, "key_embedding", of=segment, owner_id=segment.owner_id, limit=limit
    )


def failed_segments(*, owner_ids: Collection[int]) -> QuerySet[Segment]:
    """The consolidations of these owners parked after their attempts, newest first."""
    return (
        Segment.objects.filter(owner_id__in=owner_ids, job_status=JobStatus.FAILED)
        .select_related("owner", "conversation")
        .defer(*_VECTORS_AND_TEXTS, "conversation__search_vector")
        .order_by("-closed_at", "pk")
    )


def failed_import_jobs(*, owner_ids: Collection[int]) -> QuerySet[ImportJob]:
    """The imports of these owners that failed, newest first."""
    return (
        ImportJob.objects.filter(owner_id__in=owner_ids, job_status=JobStatus.FAILED)
        .select_related("owner")
        .order_by("-created_at", "pk")
    )
