"""Filling the scratch database: owners, their conversations and closed, consolidated segments.

Segments go in with one binary COPY per stage (`rows.py` makes the rows). Before the COPY the
HNSW and GIN indexes are dropped (maintaining them row by row is far slower than building
them once); afterwards they are created again from the very definitions the migrations gave
them, then the table is vacuumed and analysed, as autovacuum would do for a table that has
settled. Rows of a stage's owners are interleaved at random, as if they had all been talking
at the same time: each owner's rows are scattered over the table. The B-tree indexes,
including the covering ones the exact scan reads an owner's vectors from (migration 0005),
are kept up to date row by row during the COPY, as the app's inserts keep them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from memoryapp.benchmarks.scale.rows import (
    SEGMENT_COLUMNS,
    Owner,
    row_plan,
    segment_rows,
)
from memoryapp.benchmarks.scale.texts import TextPool
from memoryapp.benchmarks.scale.vectors import TopicSpace, units_around

Write = Callable[[str], None]

# For the index builds only; STACK.md measured 1M x 384 in about 2 GB of graph.
MAINTENANCE_WORK_MEM = "4GB"
CHUNK_ROWS = 20_000
ROWS_PER_CONVERSATION = 100
TABLE = "memoryapp_segment"
# Load-only settings of the scratch server (none of them changes how a query is planned or
# run): no fsync, fewer checkpoints. Query-time settings stay those of the app's embedded
# server (shared_buffers 128MB, work_mem 4MB, ...).
LOAD_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}


@dataclass(frozen=True)
class LoadTiming:
    """Seconds spent on one stage's load; `total` includes creating the owners."""

    rows: int
    copy_seconds: float
    index_seconds: dict[str, float]
    vacuum_seconds: float
    total: float


def tune_for_loading(conn: psycopg.Connection[Any]) -> None:
    for name, value in LOAD_SETTINGS.items():
        conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")  # fixed names and values
    conn.execute("SELECT pg_reload_conf()")


def create_owners(
    conn: psycopg.Connection[Any],
    sizes: Sequence[int],
    space: TopicSpace,
    rng: np.random.Generator,
) -> list[Owner]:
    """Users for owners of the given sizes, each with conversations to hold its segments."""
    first = conn.execute("SELECT count(*) FROM auth_user").fetchone()
    start = int(first[0]) if first else 0
    names = [f"bench-{start + i:06d}" for i in range(len(sizes))]
    rows = conn.execute(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
        "email, is_staff, is_active, date_joined) SELECT '!', false, name, '', '', '', false, "
        "true, now() FROM unnest(%s::text[]) AS name RETURNING username, id",
        [names],
    ).fetchall()
    ids = dict(rows)
    owners = [
        Owner(ids[name], size, space.owner_topics(size, rng))
        for name, size in zip(names, sizes, strict=True)
    ]
    _create_conversations(conn, owners)
    return owners


def _create_conversations(conn: psycopg.Connection[Any], owners: Sequence[Owner]) -> None:
    owner_ids = [
        owner.user_id for owner in owners for _ in range(-(-owner.rows // ROWS_PER_CONVERSATION))
    ]
    by_id = {owner.user_id: owner for owner in owners}
    rows = conn.execute(
        "INSERT INTO memoryapp_conversation (id, owner_id, title, title_is_custom, created_at, "
        "updated_at) SELECT gen_random_uuid(), owner, 'Benchmark conversation', false, now(), "
        "now() FROM unnest(%s::int[]) AS owner RETURNING id, owner_id",
        [owner_ids],
    ).fetchall()
    for conversation_id, owner_id in rows:
        by_id[owner_id].conversations.append(conversation_id)


def copy_segments(
    conn: psycopg.Connection[Any],
    owners: Sequence[Owner],
    pool: TextPool,
    rng: np.random.Generator,
    write: Write,
) -> int:
    """Insert all the owners' segments with one binary COPY; returns the number of rows."""
    owner_of_row, centroid_of_row, centroids = row_plan(owners, rng)
    total, begin = len(owner_of_row), time.monotonic()
    columns = ", ".join(name for name, _ in SEGMENT_COLUMNS)
    next_report = total // 4
    with conn.cursor() as cursor:
        sql = f"COPY {TABLE} ({columns}) FROM STDIN (FORMAT BINARY)"
        with cursor.copy(sql) as copy:  # fixed names
            copy.set_types([kind for _, kind in SEGMENT_COLUMNS])
            for start in range(0, total, CHUNK_ROWS):
                chunk = slice(start, start + CHUNK_ROWS)
                keys, summaries = units_around(centroids[centroid_of_row[chunk]], rng)
                for row in segment_rows(owners, owner_of_row[chunk], keys, summaries, pool, rng):
                    copy.write_row(row)
                done = min(start + CHUNK_ROWS, total)
                if done >= next_report and done < total:
                    write(f"  copied {done:,}/{total:,} rows ({time.monotonic() - begin:.0f} s)")
                    next_report += total // 4
    return total


def rebuildable_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the segment table's HNSW and GIN indexes, as migrated."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
        "AND (indexdef LIKE '%% USING hnsw %%' OR indexdef LIKE '%% USING gin %%') "
        "ORDER BY indexname",
        [TABLE],
    ).fetchall()
    return [(str(name), str(definition)) for name, definition in rows]


def drop_indexes(conn: psycopg.Connection[Any], indexes: Sequence[tuple[str, str]]) -> None:
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')  # names read from the catalogue


def build_indexes(
    conn: psycopg.Connection[Any], indexes: Sequence[tuple[str, str]], write: Write
) -> dict[str, float]:
    """Create the indexes again from their definitions; seconds per index."""
    conn.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    seconds: dict[str, float] = {}
    for name, definition in indexes:
        begin = time.monotonic()
        conn.execute(definition)  # read from the catalogue
        seconds[name] = time.monotonic() - begin
        size = conn.execute("SELECT pg_size_pretty(pg_relation_size(%s::regclass))", [name])
        row = size.fetchone()
        write(f"  built {name} in {seconds[name]:.1f} s ({row[0] if row else '?'})")
    conn.execute("RESET maintenance_work_mem")
    return seconds


def vacuum_analyze(conn: psycopg.Connection[Any]) -> float:
    begin = time.monotonic()
    conn.execute(f"VACUUM (ANALYZE) {TABLE}, memoryapp_conversation, auth_user")
    return time.monotonic() - begin


def describe_sizes(conn: psycopg.Connection[Any]) -> str:
    """The segment table's heap, TOAST and index sizes (what the caches have to hold)."""
    row = conn.execute(
        "SELECT pg_size_pretty(pg_relation_size(c.oid)), "
        "pg_size_pretty(pg_total_relation_size(c.reltoastrelid)), "
        "pg_size_pretty(pg_indexes_size(c.oid)) FROM pg_class c WHERE c.relname = %s",
        [TABLE],
    ).fetchone()
    heap, toast, indexes = row if row else ("?", "?", "?")
    return f"heap {heap}, TOAST {toast}, indexes {indexes}"


def load_stage(
    conn: psycopg.Connection[Any],
    sizes: Sequence[int],
    space: TopicSpace,
    pool: TextPool,
    rng: np.random.Generator,
    write: Write,
) -> tuple[list[Owner], LoadTiming]:
    """Add owners of the given sizes and their segments, then bring the table's indexes and
    statistics up to date. `conn` must be in autocommit mode (VACUUM needs it)."""
    begin = time.monotonic()
    owners = create_owners(conn, sizes, space, rng)
    indexes = rebuildable_indexes(conn)
    drop_indexes(conn, indexes)
    copy_begin = time.monotonic()
    rows = copy_segments(conn, owners, pool, rng, write)
    copy_seconds = time.monotonic() - copy_begin
    write(f"  copied {rows:,} rows in {copy_seconds:.1f} s")
    index_seconds = build_indexes(conn, indexes, write)
    vacuum_seconds = vacuum_analyze(conn)
    write(f"  vacuumed and analysed in {vacuum_seconds:.1f} s; {describe_sizes(conn)}")
    timing = LoadTiming(rows, copy_seconds, index_seconds, vacuum_seconds, time.monotonic() - begin)
    return owners, timing
