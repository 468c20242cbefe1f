"""Ranked candidate lists for one owner: dense (pgvector) and lexical (Postgres full text).

Every query filters by owner in SQL. For the dense lists, a filtered HNSW scan loses results
once the index returns other users' rows first (pgvector's post-filtering), so queries are
routed by the owner's size: small owners get an exact scan of their own rows (the ORDER BY
expression is written so the HNSW index cannot serve it), large ones an HNSW scan with
`hnsw.iterative_scan`, which keeps scanning until enough of their rows are found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection, transaction

# Above this many rows of one owner in a table, dense queries use the HNSW index.
EXACT_SCAN_MAX_ROWS = 10_000
HNSW_EF_SEARCH = 400
LIST_LENGTH = 40

Kind = Literal["segment", "fact", "message"]


@dataclass(frozen=True)
class Hit:
    kind: Kind
    id: str
    similarity: float  # cosine similarity for dense hits, text rank for lexical ones


@dataclass(frozen=True)
class Table:
    kind: Kind
    name: str
    where: str  # extra SQL condition on the table's own columns


SEGMENTS = Table("segment", "memoryapp_segment", "status = 'closed'")
FACTS_CURRENT = Table("fact", "memoryapp_fact", "status = 'active'")
FACTS_ALL = Table("fact", "memoryapp_fact", "status IN ('active', 'superseded')")
# Messages not yet covered by a consolidated segment (open segments, pending consolidation).
FRESH_MESSAGES = Table(
    "message",
    "memoryapp_message",
    "content <> '' AND NOT EXISTS (SELECT 1 FROM memoryapp_segment s WHERE s.id = segment_id "
    "AND s.key_embedding IS NOT NULL)",
)


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"


def _owner_rows(table: Table, owner_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table.name} WHERE owner_id = %s",  # noqa: S608 - fixed names
            [owner_id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def dense(
    table: Table,
    column: str,
    *,
    owner_id: int,
    query: Sequence[float],
    limit: int = LIST_LENGTH,
    exclude: Sequence[str] = (),
) -> list[Hit]:
    """The owner's rows nearest to `query` by cosine distance on `column`."""
    vector = _vector(query)
    condition = f"owner_id = %s AND {column} IS NOT NULL AND {table.where}"
    params: list[Any] = [owner_id]
    if exclude:
        condition += " AND NOT (id = ANY(%s::uuid[]))"
        params.append(list(exclude))
    exact = _owner_rows(table, owner_id) <= EXACT_SCAN_MAX_ROWS
    # "+ 0" keeps the planner off the HNSW index: an exact scan over this owner's rows.
    order = f"({column} <=> %s::vector) + 0" if exact else f"{column} <=> %s::vector"
    sql = (
        f"SELECT id::text, 1 - ({column} <=> %s::vector) FROM {table.name} "  # noqa: S608
        f"WHERE {condition} ORDER BY {order} LIMIT %s"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if not exact:
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}")
        cursor.execute(sql, [vector, *params, vector, limit])
        rows = cursor.fetchall()
    hits = [Hit(table.kind, row[0], float(row[1])) for row in rows]
    # relaxed_order may return neighbours slightly out of order.
    return sorted(hits, key=lambda hit: -hit.similarity)


def lexical(
    table: Table,
    *,
    owner_id: int,
    question: str,
    limit: int = LIST_LENGTH,
    exclude: Sequence[str] = (),
) -> list[Hit]:
    """The owner's rows matching any word of the question, best full-text rank first."""
    condition = f"owner_id = %s AND {table.where} AND search_vector @@ q.query"
    params: list[Any] = [owner_id]
    if exclude:
        condition += " AND NOT (id = ANY(%s::uuid[]))"
        params.append(list(exclude))
    # Any word may match (OR), ranked by cover density: a question is not a conjunction.
    sql = (
        f"SELECT id::text, ts_rank_cd(search_vector, q.query) FROM {table.name}, "  # noqa: S608
        "(SELECT NULLIF(replace(plainto_tsquery('english', %s)::text, '&', '|'), '')::tsquery "
        f"AS query) q WHERE {condition} ORDER BY 2 DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [question, *params, limit])
        rows = cursor.fetchall()
    return [Hit(table.kind, row[0], float(row[1])) for row in rows]


def reciprocal_rank_fusion(
    lists: Sequence[Sequence[Hit]], k: int = 60
) -> dict[tuple[Kind, str], float]:
    """Sum of 1/(k + rank) over the lists each unit appears in."""
    scores: dict[tuple[Kind, str], float] = {}
    for hits in lists:
        for rank, hit in enumerate(hits, start=1):
            key = (hit.kind, hit.id)
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores
