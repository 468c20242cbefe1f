"""Filling the scratch database with owners' histories as the pipeline leaves them.

Users are inserted, then everyone's conversations in a random order, as if all the owners
had been talking over the same months: chunks of about CHUNK_MESSAGES messages, each written
with one binary COPY per table (conversations, segments, messages, passages, facts, fact
sources; `message_rows.py` makes the rows). The database checks every foreign key, the
composite ones that keep a message's segment and a passage's or a fact source's message the
owner's included, and generates every `search_vector`. Before the COPYs the HNSW and GIN
indexes of these tables are dropped; afterwards they are created again from the definitions
the migrations gave them and the tables vacuumed and analysed (as `loading.py` does for the
segments-only benchmark). B-tree indexes, the covering ones of the exact scans included, are
kept up to date row by row, as the app's inserts keep them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from memoryapp.benchmarks.scale.histories import Sources, replicated_history
from memoryapp.benchmarks.scale.loading import MAINTENANCE_WORK_MEM
from memoryapp.benchmarks.scale.message_population import OwnerSize
from memoryapp.benchmarks.scale.message_rows import (
    CONVERSATION_COLUMNS,
    FACT_COLUMNS,
    FACT_SOURCE_COLUMNS,
    MESSAGE_COLUMNS,
    PASSAGE_COLUMNS,
    SEGMENT_COLUMNS,
    MessageOwner,
    Rows,
    TextCache,
    conversation_rows,
    retimed,
    supersede,
)
from memoryapp.benchmarks.scale.vectors import TopicSpace

Write = Callable[[str], None]

CHUNK_MESSAGES = 20_000
# Table, its columns, the attribute of `Rows` holding its rows and the column of the owner.
TABLES: tuple[tuple[str, tuple[tuple[str, str], ...], str], ...] = (
    ("memoryapp_conversation", CONVERSATION_COLUMNS, "conversations"),
    ("memoryapp_segment", SEGMENT_COLUMNS, "segments"),
    ("memoryapp_message", MESSAGE_COLUMNS, "messages"),
    ("memoryapp_passage", PASSAGE_COLUMNS, "passages"),
    ("memoryapp_fact", FACT_COLUMNS, "facts"),
    ("memoryapp_factsource", FACT_SOURCE_COLUMNS, "sources"),
)
COUNTED = ("messages", "passages", "segments", "facts")


@dataclass(frozen=True)
class LoadTiming:
    rows: dict[str, int]
    copy_seconds: float
    index_seconds: dict[str, float]
    vacuum_seconds: float

    @property
    def index_total(self) -> float:
        return sum(self.index_seconds.values())


def create_owners(
    conn: psycopg.Connection[Any],
    sizes: Sequence[OwnerSize],
    sources: Sources,
    space: TopicSpace,
    rng: np.random.Generator,
) -> list[MessageOwner]:
    """A user per size, with its history (real turns, re-timed) and its topics."""
    first = conn.execute("SELECT count(*) FROM auth_user").fetchone()
    start = int(first[0]) if first else 0
    names = [f"bench-{start + i:06d}" for i in range(len(sizes))]
    ids = dict(
        conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) SELECT '!', false, name, '', '', '', "
            "false, true, now() FROM unnest(%s::text[]) AS name RETURNING username, id",
            [names],
        ).fetchall()
    )
    return [
        MessageOwner(
            user_id=ids[name],
            size=size,
            topics=space.owner_topics(size.messages, rng),
            history=retimed(replicated_history(sources, size.messages, rng), rng),
        )
        for name, size in zip(names, sizes, strict=True)
    ]


def copy_histories(
    conn: psycopg.Connection[Any],
    owners: Sequence[MessageOwner],
    rng: np.random.Generator,
    write: Write,
) -> dict[str, int]:
    """COPY every owner's conversations, interleaved at random, in chunks; counts each
    owner's rows (`MessageOwner.counts`) and returns the rows per table."""
    order = [(o, c) for o, owner in enumerate(owners) for c in range(len(owner.history))]
    shuffled = [order[int(i)] for i in rng.permutation(len(order))]
    total_messages = sum(owner.size.messages for owner in owners)
    cache = TextCache()
    totals: Counter[str] = Counter()
    begin, chunk, in_chunk, next_report = time.monotonic(), Rows(), 0, total_messages // 4
    for o, c in shuffled:
        conversation = owners[o].history[c]
        conversation_rows(owners[o], conversation, chunk, cache, rng)
        in_chunk += len(conversation.messages)
        if in_chunk >= CHUNK_MESSAGES:
            _copy_chunk(conn, chunk, owners, totals, rng)
            chunk, in_chunk = Rows(), 0
            if totals["messages"] >= next_report:
                elapsed = time.monotonic() - begin
                write(
                    f"  copied {totals['messages']:,}/{total_messages:,} messages ({elapsed:.0f} s)"
                )
                next_report += total_messages // 4
    _copy_chunk(conn, chunk, owners, totals, rng)
    return dict(totals)


def _copy_chunk(
    conn: psycopg.Connection[Any],
    chunk: Rows,
    owners: Sequence[MessageOwner],
    totals: Counter[str],
    rng: np.random.Generator,
) -> None:
    supersede(chunk, rng)
    by_id = {owner.user_id: owner for owner in owners}
    with conn.transaction(), conn.cursor() as cursor:
        for table, columns, attribute in TABLES:
            rows: list[tuple[Any, ...]] = getattr(chunk, attribute)
            if not rows:
                continue
            names = ", ".join(name for name, _ in columns)
            with cursor.copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([kind for _, kind in columns])
                for row in rows:
                    copy.write_row(row)
            totals[attribute] += len(rows)
    for attribute in COUNTED:
        owner_column = [name for name, _ in _columns(attribute)].index("owner_id")
        for owner_id, count in Counter(r[owner_column] for r in getattr(chunk, attribute)).items():
            counts = by_id[owner_id].counts
            counts[attribute] = counts.get(attribute, 0) + count


def _columns(attribute: str) -> tuple[tuple[str, str], ...]:
    return next(columns for _, columns, name in TABLES if name == attribute)


def rebuildable_indexes(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    """(name, definition) of the loaded tables' HNSW and GIN indexes, as migrated."""
    rows = conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
        "AND (indexdef LIKE '%% USING hnsw %%' OR indexdef LIKE '%% USING gin %%') "
        "ORDER BY tablename, indexname",
        [[table for table, _, _ in TABLES]],
    ).fetchall()
    return [(str(name), str(definition)) for name, definition in rows]


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
        row = conn.execute(
            "SELECT pg_size_pretty(pg_relation_size(%s::regclass))", [name]
        ).fetchone()
        write(f"  built {name} in {seconds[name]:.1f} s ({row[0] if row else '?'})")
    conn.execute("RESET maintenance_work_mem")
    return seconds


def table_sizes(conn: psycopg.Connection[Any]) -> list[str]:
    """Each loaded table's heap, TOAST and index sizes."""
    lines = []
    for table, _, _ in TABLES:
        row = conn.execute(
            "SELECT pg_size_pretty(pg_relation_size(c.oid)), "
            "pg_size_pretty(coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0)), "
            "pg_size_pretty(pg_indexes_size(c.oid)) FROM pg_class c WHERE c.relname = %s",
            [table],
        ).fetchone()
        heap, toast, indexes = row if row else ("?", "?", "?")
        lines.append(f"{table}: heap {heap}, TOAST {toast}, indexes {indexes}")
    return lines


def load_histories(
    conn: psycopg.Connection[Any],
    owners: Sequence[MessageOwner],
    rng: np.random.Generator,
    write: Write,
) -> LoadTiming:
    """Drop the HNSW and GIN indexes, COPY the owners' histories, build the indexes again,
    vacuum and analyse. `conn` must be in autocommit mode (VACUUM needs it)."""
    indexes = rebuildable_indexes(conn)
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')  # names read from the catalogue
    begin = time.monotonic()
    rows = copy_histories(conn, owners, rng, write)
    copy_seconds = time.monotonic() - begin
    write(
        f"  copied in {copy_seconds:.1f} s: "
        + ", ".join(f"{count:,} {name}" for name, count in rows.items())
    )
    index_seconds = build_indexes(conn, indexes, write)
    begin = time.monotonic()
    tables = ", ".join(table for table, _, _ in TABLES)
    conn.execute(f"VACUUM (ANALYZE) {tables}, auth_user")
    vacuum_seconds = time.monotonic() - begin
    write(f"  vacuumed and analysed in {vacuum_seconds:.1f} s")
    for line in table_sizes(conn):
        write(f"  {line}")
    return LoadTiming(rows, copy_seconds, index_seconds, vacuum_seconds)
