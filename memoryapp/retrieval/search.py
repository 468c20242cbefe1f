"""Ranked candidate lists for one owner: dense (pgvector) and lexical (Postgres full text).

Every query filters by owner in SQL. For the dense lists, a filtered HNSW scan loses results
once the index returns other users' rows first (pgvector's post-filtering), so queries are
routed by the owner's size: owners of up to EXACT_SCAN_MAX_ROWS rows in the table get an
exact scan of their own rows (the ORDER BY expression is written so the HNSW index cannot
serve it), larger ones an HNSW scan with `hnsw.iterative_scan`, which keeps scanning until
enough of their rows are found.

The exact scan reads the owner's vectors from a covering B-tree per embedding column,
`(owner_id) INCLUDE (id, [status,] <column>)` (migration 0005; for passages
`(owner_id) INCLUDE (message_id, embedding)`, migration 0007): an owner's rows arrive
scattered over the table as everyone talks, but the index keeps each owner's vectors
together (Postgres maintains it on every insert), so the scan is an index-only scan of about
one page per four rows instead of a random heap page per row.

Passages (the sentences of a long turn, embedded one by one) rank turns: a turn is as near
as its nearest passage.

The full-text lists use GIN indexes on (owner_id, search_vector) (migration 0006), so a
word's matches are looked up among the owner's rows only, not among everyone's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from django.db import connection, transaction

from memoryapp.models.conversation import MEMORY_SQL, SEARCH_CONFIG
from memoryapp.retrieval.tuning import EXACT_SCAN_MAX_ROWS, HNSW_EF_SEARCH

# Above EXACT_SCAN_MAX_ROWS rows of one owner in a table, dense queries use the HNSW index,
# read with HNSW_EF_SEARCH (what chose each: tuning.py).
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
# People's remembered turns (`Message.is_memory`): never an assistant's words on their own,
# nor an answer being written, failed or stopped empty.
MESSAGES = Table("message", "memoryapp_message", MEMORY_SQL)
# Passages exist only for people's remembered turns (`services.memory.passages`).
PASSAGES = "memoryapp_passage"
# A turn may have several passages near a query: the HNSW route reads this many per turn
# wanted, and again as many times more while that gives too few turns.
PASSAGES_READ_PER_TURN = 4
_PASSAGES_OF_OWNER = (
    f"FROM {PASSAGES} WHERE owner_id = %(owner)s AND NOT (message_id = ANY(%(exclude)s::uuid[]))"
)
# Exact: every passage of the owner from the covering index, the best per turn in SQL (an
# order by an aggregate, which the HNSW index cannot serve).
_PASSAGES_BEST_PER_TURN = (
    "SELECT message_id::text, min(embedding <=> %(query)s::vector) AS distance "
    + _PASSAGES_OF_OWNER
    + " GROUP BY message_id ORDER BY distance, message_id LIMIT %(limit)s"
)
# Through the HNSW index: the nearest passages, the best per turn taken in Python.
_PASSAGES_NEAREST = (
    "SELECT message_id::text, embedding <=> %(query)s::vector AS distance "
    + _PASSAGES_OF_OWNER
    + " ORDER BY distance LIMIT %(limit)s"
)


def _vector(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"


def _owner_rows(table: str, owner_id: int) -> int:
    """The owner's rows in `table`, counted up to EXACT_SCAN_MAX_ROWS + 1: enough to pick the
    route, at the same small cost for every owner (a full count reads a large owner's whole
    index range on every query)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} "  # noqa: S608 - fixed names
            "WHERE owner_id = %s LIMIT %s) AS owner_rows",
            [owner_id, EXACT_SCAN_MAX_ROWS + 1],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


# Each retrieval would count the owner's rows in four tables (a quarter of its queries) to
# choose the same routes again: an owner crosses EXACT_SCAN_MAX_ROWS once in a lifetime, and
# either route returns the right rows, so a choice is reused for ROUTE_SECONDS.
ROUTE_SECONDS = 300.0
_routes: dict[tuple[str, int], tuple[float, bool]] = {}
_totals: dict[tuple[str, int], tuple[float, int]] = {}


def exact_route(table: str, owner_id: int) -> bool:
    """Whether the owner's dense queries on `table` scan their rows exactly (at most
    EXACT_SCAN_MAX_ROWS of them) rather than go through the HNSW index."""
    now = time.monotonic()
    known = _routes.get((table, owner_id))
    if known is not None and known[0] > now:
        return known[1]
    exact = _owner_rows(table, owner_id) <= EXACT_SCAN_MAX_ROWS
    _routes[(table, owner_id)] = (now + ROUTE_SECONDS, exact)
    return exact


def routes_forget() -> None:
    """Forget every route chosen and every total counted (tests)."""
    _routes.clear()
    _totals.clear()


def _nearest_rows(
    sql: str, params: Sequence[Any] | dict[str, Any], *, through_hnsw: bool
) -> list[tuple[str, float]]:
    """The rows of a nearest-neighbour query; through the HNSW index, it keeps scanning (in
    relaxed order) until it has found enough of the owner's rows."""
    with transaction.atomic(), connection.cursor() as cursor:
        if through_hnsw:
            cursor.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            cursor.execute(f"SET LOCAL hnsw.ef_search = {HNSW_EF_SEARCH}")
        cursor.execute(sql, params)
        rows: list[tuple[str, float]] = cursor.fetchall()
    return rows


def dense(
    table: Table,
    column: str,
    *,
    owner_id: int,
    query: Sequence[float],
    limit: int = LIST_LENGTH,
    exclude: Sequence[str] = (),
) -> list[Hit]:
    """The owner's rows nearest to `query` by cosine distance on `column`, nearest first."""
    condition = f"owner_id = %s AND {column} IS NOT NULL AND {table.where}"
    params: list[Any] = [owner_id]
    if exclude:
        condition += " AND NOT (id = ANY(%s::uuid[]))"
        params.append(list(exclude))
    exact = exact_route(table.name, owner_id)
    # "+ 0" keeps the planner off the HNSW index: an exact scan over this owner's rows, where
    # ties are broken by id (the HNSW index can only serve an order by distance alone).
    distance = f"({column} <=> %s::vector)" + (" + 0" if exact else "")
    order = "distance, id" if exact else "distance"
    sql = (
        f"SELECT id::text, {distance} AS distance FROM {table.name} "  # noqa: S608
        f"WHERE {condition} ORDER BY {order} LIMIT %s"
    )
    rows = _nearest_rows(sql, [_vector(query), *params, limit], through_hnsw=not exact)
    # relaxed_order may return neighbours slightly out of order.
    ordered = sorted(rows, key=lambda row: (row[1], row[0]))
    return [Hit(table.kind, id_, 1 - float(distance)) for id_, distance in ordered]


def dense_passages(
    *,
    owner_id: int,
    query: Sequence[float],
    limit: int = LIST_LENGTH,
    exclude: Sequence[str] = (),
) -> list[Hit]:
    """The owner's turns whose best passage is nearest to `query`, nearest first; a hit's id
    is the turn's (message) id and its similarity that of its best passage."""
    params = {"query": _vector(query), "owner": owner_id, "exclude": list(exclude)}
    if exact_route(PASSAGES, owner_id):
        rows = _nearest_rows(
            _PASSAGES_BEST_PER_TURN, {**params, "limit": limit}, through_hnsw=False
        )
        return [Hit("message", id_, 1 - float(distance)) for id_, distance in rows]
    read = limit * PASSAGES_READ_PER_TURN
    while True:
        rows = _nearest_rows(_PASSAGES_NEAREST, {**params, "limit": read}, through_hnsw=True)
        best: dict[str, float] = {}
        for message_id, distance in rows:
            best[message_id] = min(float(distance), best.get(message_id, math.inf))
        if len(best) >= limit or len(rows) < read:  # enough turns, or all the owner has
            break
        read *= PASSAGES_READ_PER_TURN
    ordered = sorted(best.items(), key=lambda item: (item[1], item[0]))[:limit]
    return [Hit("message", id_, 1 - distance) for id_, distance in ordered]


def _owner_total(table: str, owner_id: int) -> int:
    """All the owner's rows in `table` (an index-only count), reused for ROUTE_SECONDS like
    the routes: it only scales the words' inverse document frequencies."""
    now = time.monotonic()
    known = _totals.get((table, owner_id))
    if known is not None and known[0] > now:
        return known[1]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table} WHERE owner_id = %s",  # noqa: S608 - fixed names
            [owner_id],
        )
        row = cursor.fetchone()
    total = int(row[0]) if row else 0
    _totals[(table, owner_id)] = (now + ROUTE_SECONDS, total)
    return total


def lexical(
    table: Table,
    *,
    owner_id: int,
    question: str,
    limit: int = LIST_LENGTH,
    exclude: Sequence[str] = (),
) -> list[Hit]:
    """The owner's rows matching any word of the question, by a BM25-like full-text score.

    Each of the question's lexemes counts with its inverse document frequency among the
    owner's rows (so a name said everywhere weighs less than a rare word) times Postgres'
    length-normalised rank of that lexeme in the row. A question is not a conjunction: a row
    matching any lexeme is a candidate. Every match is read once (its rank, and its lexeme's
    document frequency, come from the same pass), from the owner's rows only. The number of
    documents is all the owner's rows (`_owner_total`), not only those the search may return:
    the difference is negligible, counting those would read the heap.
    """
    sql = f"""
        WITH terms AS (
            SELECT term, quote_literal(lexeme)::tsquery AS query
            FROM unnest(tsvector_to_array(to_tsvector('{SEARCH_CONFIG}', %(question)s)))
                WITH ORDINALITY AS words (lexeme, term)
        ),
        matches AS MATERIALIZED (
            SELECT r.id, t.term, ts_rank(r.search_vector, t.query, 1) AS rank
            FROM terms t CROSS JOIN LATERAL (
                SELECT id, search_vector FROM {table.name}
                WHERE owner_id = %(owner)s AND {table.where}
                    AND NOT (id = ANY(%(exclude)s::uuid[])) AND search_vector @@ t.query
            ) r
        ),
        weighted AS (
            SELECT term, ln(1 + (%(total)s - count(*) + 0.5) / (count(*) + 0.5)) AS idf
            FROM matches GROUP BY term
        )
        SELECT m.id::text, sum(w.idf * m.rank) AS score
        FROM matches m JOIN weighted w USING (term)
        GROUP BY m.id ORDER BY score DESC, m.id LIMIT %(limit)s
    """  # noqa: S608 - fixed table names and conditions
    params: dict[str, Any] = {
        "owner": owner_id,
        "exclude": list(exclude),
        "question": question,
        "limit": limit,
        "total": _owner_total(table.name, owner_id),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return [Hit(table.kind, row[0], float(row[1])) for row in found]
