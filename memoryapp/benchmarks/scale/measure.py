"""Timing the app's dense query path against an exact scan, and its recall@10; and timing
the app's full-text query on the same owners.

The app's path is `search.dense` itself, called as retrieval calls it for segments (the
default list length), so what is measured includes everything the app does per query (the
owner's row count that picks the route, the transaction, the session settings, the text form
of the vector); recall@10 is that of its first 10 hits. The exact scan is the query of the
app's small-owner route, which no HNSW index can serve, for every owner: its top 10 is the
truth recall is measured against.

The full-text path is `search.lexical` on the segments, as retrieval calls it, with a
question of six words of one of the pool's texts (so rows match, as a question's words
would), among words every question has.

The app's paths run once over all queries to warm the caches, then once timed; the exact
scans run after them, once. They are kept apart because an exact scan of a large owner reads
its whole share of the table and would evict what the app's next query needs, which the
app's own traffic never does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from django.db import connection

from memoryapp.benchmarks.scale.population import class_label
from memoryapp.benchmarks.scale.rows import Owner
from memoryapp.benchmarks.scale.texts import TextPool
from memoryapp.benchmarks.scale.vectors import query_near
from memoryapp.retrieval import search

TOP_K = 10
COLUMN = "key_embedding"
EXACT_SQL = (
    f"SELECT id::text, ({COLUMN} <=> %s::vector) + 0 AS distance "  # noqa: S608 - fixed names
    f"FROM {search.SEGMENTS.name} "
    f"WHERE owner_id = %s AND {COLUMN} IS NOT NULL AND {search.SEGMENTS.where} "
    "ORDER BY distance LIMIT %s"
)


@dataclass(frozen=True)
class Query:
    """One query vector for one owner, with the owner's size and class."""

    owner_id: int
    owner_rows: int
    size_class: str
    vector: list[float]
    question: str  # for the full-text path


@dataclass(frozen=True)
class Outcome:
    """One query's latency on the app's dense and full-text paths and on the exact scan, and
    the app's recall@10 against the exact scan."""

    query: Query
    app_ms: float
    lexical_ms: float
    exact_ms: float
    recall: float


QUESTION_WORDS = 6


def sample_queries(
    owners: Sequence[Owner], count: int, pool: TextPool, rng: np.random.Generator
) -> list[Query]:
    """`count` queries spread evenly over the size classes present, each near a topic of an
    owner drawn at random within its class, with a question for the full-text path."""
    by_class: dict[str, list[Owner]] = {}
    for owner in owners:
        by_class.setdefault(class_label(owner.rows), []).append(owner)
    classes = sorted(by_class)
    queries = []
    for i in range(count):
        members = by_class[classes[i % len(classes)]]
        owner = members[int(rng.integers(len(members)))]
        vector = query_near(owner.topics, rng)[0]
        label = class_label(owner.rows)
        question = _question(pool, rng)
        queries.append(Query(owner.user_id, owner.rows, label, vector.tolist(), question))
    return queries


def _question(pool: TextPool, rng: np.random.Generator) -> str:
    words = pool.keys[int(rng.integers(len(pool.keys)))].rstrip(".").split()
    picked = rng.choice(len(words), size=min(QUESTION_WORDS, len(words)), replace=False)
    return "What did I say about " + " ".join(words[i] for i in sorted(picked)) + "?"


def _vector_text(values: Sequence[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"  # as search.dense sends it


def app_top(query: Query) -> tuple[list[str], float]:
    """The app's top ids for the query and the milliseconds the call took. The call asks for
    the app's list length, as retrieval does; recall is measured on its first TOP_K."""
    begin = time.perf_counter()
    hits = search.dense(search.SEGMENTS, COLUMN, owner_id=query.owner_id, query=query.vector)
    elapsed = (time.perf_counter() - begin) * 1000
    return [hit.id for hit in hits[:TOP_K]], elapsed


def app_lexical(query: Query) -> float:
    """Milliseconds the app's full-text query on the segments took for the question."""
    begin = time.perf_counter()
    search.lexical(search.SEGMENTS, question=query.question, owner_id=query.owner_id)
    return (time.perf_counter() - begin) * 1000


def exact_top(query: Query) -> tuple[list[str], float]:
    """The true top ids (an exact scan of the owner's rows) and the milliseconds it took."""
    vector = _vector_text(query.vector)
    begin = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(EXACT_SQL, [vector, query.owner_id, TOP_K])
        rows = cursor.fetchall()
    elapsed = (time.perf_counter() - begin) * 1000
    return [row[0] for row in rows], elapsed


def recall(found: Sequence[str], truth: Sequence[str]) -> float:
    """Share of the true top ids that were found (1.0 when there is nothing to find)."""
    return len(set(found) & set(truth)) / len(truth) if truth else 1.0


def run_queries(queries: Sequence[Query], write: Callable[[str], None]) -> list[Outcome]:
    """Warm up on the app's paths, time them, then time the exact scans (see the module's
    doc)."""
    begin = time.monotonic()
    for query in queries:
        app_top(query)
        app_lexical(query)
    write(f"  warmed up on {len(queries)} queries in {time.monotonic() - begin:.1f} s")
    begin = time.monotonic()
    app = [app_top(query) for query in queries]
    write(f"  app's dense path timed in {time.monotonic() - begin:.1f} s ({load_average()})")
    begin = time.monotonic()
    lexical = [app_lexical(query) for query in queries]
    write(f"  app's full-text path timed in {time.monotonic() - begin:.1f} s ({load_average()})")
    begin = time.monotonic()
    exact = [exact_top(query) for query in queries]
    write(f"  exact scans timed in {time.monotonic() - begin:.1f} s ({load_average()})")
    return [
        Outcome(query, app_ms, lexical_ms, exact_ms, recall(found, truth))
        for query, (found, app_ms), lexical_ms, (truth, exact_ms) in zip(
            queries, app, lexical, exact, strict=True
        )
    ]


def load_average() -> str:
    """The last minute's load average, to judge how busy the machine was."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
