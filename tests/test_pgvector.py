"""The database has pgvector, and HNSW indexes answer nearest-neighbour queries."""

from __future__ import annotations

import random

import pytest
from django.db import connection

from memoryapp.embeddings import EMBEDDING_DIM

pytestmark = pytest.mark.django_db


def _vector_literal(values: list[float]) -> str:
    return "[" + ",".join(f"{v:.6f}" for v in values) + "]"


def _random_unit_vectors(count: int, seed: int) -> list[list[float]]:
    rng = random.Random(seed)
    vectors = []
    for _ in range(count):
        raw = [rng.gauss(0, 1) for _ in range(EMBEDDING_DIM)]
        norm = sum(v * v for v in raw) ** 0.5
        vectors.append([v / norm for v in raw])
    return vectors


def test_migrations_enable_pgvector_and_leave_no_unused_extension() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        names = {row[0] for row in cursor.fetchall()}
    assert "vector" in names
    assert "pg_trgm" not in names


def test_hnsw_index_returns_nearest_neighbours() -> None:
    vectors = _random_unit_vectors(500, seed=7)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE probe (id int PRIMARY KEY, embedding vector({EMBEDDING_DIM}))"
        )
        cursor.executemany(
            "INSERT INTO probe (id, embedding) VALUES (%s, %s::vector)",
            [(i, _vector_literal(v)) for i, v in enumerate(vectors)],
        )
        cursor.execute("CREATE INDEX probe_hnsw ON probe USING hnsw (embedding vector_cosine_ops)")
        cursor.execute("ANALYZE probe")
        # The planner may prefer a scan on 500 rows; the point is that the index can serve it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL hnsw.ef_search = 100")
        query = _vector_literal(vectors[42])
        sql = "SELECT id FROM probe ORDER BY embedding <=> %s::vector LIMIT 5"
        cursor.execute("EXPLAIN " + sql, [query])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(sql, [query])
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute("SET LOCAL enable_seqscan = on")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(sql, [query])
        exact_ids = [row[0] for row in cursor.fetchall()]

    assert "probe_hnsw" in plan
    assert ids[0] == 42
    assert ids == exact_ids
