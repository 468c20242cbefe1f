"""Filling the scratch database: owners, their conversations and closed, consolidated segments.

Segments go in with one binary COPY per stage, embeddings already in pgvector's binary
format. Before the COPY the HNSW and GIN indexes are dropped (maintaining them row by row is
far slower than building them once); afterwards they are created again from the very
definitions the migrations gave them, then the table is vacuumed and analysed, as autovacuum
would do for a table that has settled. Rows of a stage's owners are interleaved at random,
as if they had all been talking at the same time: each owner's rows are scattered over the
table, which is what an exact scan of one owner pays for.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format

from memoryapp.benchmarks.scale.texts import TextPool
from memoryapp.benchmarks.scale.vectors import Matrix, OwnerTopics, TopicSpace, units_around

Write = Callable[[str], None]

# For the index builds only; STACK.md measured 1M x 384 in about 2 GB of graph.
MAINTENANCE_WORK_MEM = "4GB"
CHUNK_ROWS = 20_000
ROWS_PER_CONVERSATION = 100
EMBEDDING_MODEL = "benchmark-synthetic-384"
TABLE = "memoryapp_segment"
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
TIME_SPAN_SECONDS = 2 * 365 * 24 * 3600
# Load-only settings of the scratch server (none of them changes how a query is planned or
# run): no fsync, fewer checkpoints. Query-time settings stay those of the app's embedded
# server (shared_buffers 128MB, work_mem 4MB, ...).
LOAD_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
}

SEGMENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "uuid"),
    ("owner_id", "int4"),
    ("conversation_id", "uuid"),
    ("status", "varchar"),
    ("first_sequence", "int4"),
    ("last_sequence", "int4"),
    ("message_count", "int4"),
    ("start_at", "timestamptz"),
    ("end_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("consolidated_at", "timestamptz"),
    ("title", "varchar"),
    ("summary", "text"),
    ("retrieval_key", "text"),
    ("keywords", "varchar[]"),
    ("summary_source", "varchar"),
    ("key_embedding", "vector"),
    ("summary_embedding", "vector"),
    ("embedding_model", "varchar"),
    ("job_status", "varchar"),
    ("attempts", "int2"),
    ("last_error", "text"),
    ("raw_output", "text"),
    ("llm_calls", "int4"),
    ("prompt_tokens", "int4"),
    ("completion_tokens", "int4"),
)


class VectorBytes(bytes):
    """A vector already in pgvector's binary wire format."""


class _VectorBytesDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Any) -> bytes:
        return bytes(obj)


def register_vector_bytes(conn: psycopg.Connection[Any]) -> None:
    """Let COPY write `VectorBytes` into vector columns as they are."""
    info = psycopg.types.TypeInfo.fetch(conn, "vector")
    if info is None:
        raise psycopg.ProgrammingError("the vector extension is not installed")
    info.register(conn)  # COPY's set_types finds the type by name
    dumper = type("VectorBytesDumper", (_VectorBytesDumper,), {"oid": info.oid})
    conn.adapters.register_dumper(VectorBytes, dumper)


def vector_bytes(vectors: Matrix) -> list[VectorBytes]:
    """Rows of `vectors` in pgvector's binary format: dimensions, a zero, big-endian floats."""
    header = np.array([vectors.shape[1], 0], dtype=">u2").tobytes()
    big_endian = vectors.astype(">f4")
    return [VectorBytes(header + row.tobytes()) for row in big_endian]


@dataclass
class Owner:
    """A benchmark user and what the generator needs to make its units and queries."""

    user_id: int
    rows: int
    topics: OwnerTopics
    conversations: list[uuid.UUID] = field(default_factory=list)


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


def _row_plan(
    owners: Sequence[Owner], rng: np.random.Generator
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], Matrix]:
    """Per row, in load order: its owner (index into `owners`) and its centroid (index into
    the returned matrix of all the owners' topic centroids)."""
    offsets = np.cumsum([0] + [len(owner.topics.weights) for owner in owners])
    owner_of_row = np.repeat(np.arange(len(owners)), [owner.rows for owner in owners])
    centroid_of_row = np.concatenate(
        [offsets[i] + owner.topics.pick(rng, owner.rows) for i, owner in enumerate(owners)]
    )
    order = rng.permutation(len(owner_of_row))
    centroids = np.concatenate([owner.topics.centroids for owner in owners])
    return owner_of_row[order], centroid_of_row[order], centroids


def _segment_rows(
    owners: Sequence[Owner],
    owner_of_row: npt.NDArray[np.int64],
    keys: Matrix,
    summaries: Matrix,
    pool: TextPool,
    rng: np.random.Generator,
) -> Iterator[tuple[Any, ...]]:
    """COPY rows for one chunk, in the order of SEGMENT_COLUMNS."""
    count = len(owner_of_row)
    starts = rng.integers(0, TIME_SPAN_SECONDS, count)
    messages = rng.integers(4, 41, count)
    texts = rng.integers(0, len(pool.keys), (count, 4))
    key_bytes, summary_bytes = vector_bytes(keys), vector_bytes(summaries)
    for i in range(count):
        owner = owners[owner_of_row[i]]
        start = EPOCH + timedelta(seconds=int(starts[i]))
        end = start + timedelta(minutes=int(messages[i]))
        first = int(rng.integers(0, 10_000))
        title, summary, key, keywords = texts[i]
        yield (
            uuid.UUID(bytes=rng.bytes(16), version=4),
            owner.user_id,
            owner.conversations[int(starts[i]) % len(owner.conversations)],
            "closed",
            first,
            first + int(messages[i]) - 1,
            int(messages[i]),
            start,
            end,
            end,
            start,
            end,
            pool.titles[title],
            pool.summaries[summary],
            pool.keys[key],
            pool.keywords[keywords],
            "extractive",
            key_bytes[i],
            summary_bytes[i],
            EMBEDDING_MODEL,
            "done",
            1,
            "",
            "",
            0,
            0,
            0,
        )


def copy_segments(
    conn: psycopg.Connection[Any],
    owners: Sequence[Owner],
    pool: TextPool,
    rng: np.random.Generator,
    write: Write,
) -> int:
    """Insert all the owners' segments with one binary COPY; returns the number of rows."""
    owner_of_row, centroid_of_row, centroids = _row_plan(owners, rng)
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
                for row in _segment_rows(owners, owner_of_row[chunk], keys, summaries, pool, rng):
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
    write(f"  vacuumed and analysed in {vacuum_seconds:.1f} s")
    timing = LoadTiming(rows, copy_seconds, index_seconds, vacuum_seconds, time.monotonic() - begin)
    return owners, timing
